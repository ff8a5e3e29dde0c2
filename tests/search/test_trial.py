"""One trial against the lab: an unpatched install pays Chatchat's per-request client, a patched one not."""

from __future__ import annotations

from tuner.lab.process import LabProcess
from tuner.measure.tls import shared_context
from tuner.search.session import lab_time_scale
from tuner.search.space import Config
from tuner.search.trial import Target, evaluate


def test_unpatched_trials_build_chatchats_client_per_request() -> None:
    with LabProcess(profile="tiny") as lab:
        target = Target(lab.url, "qwen2:7b", lab_time_scale(lab.url))
        shipped = evaluate(target, Config("127.0.0.1", "-1", 60.0, 5.0, 100, reuse=False), (1.0,) * 4)
        patched = evaluate(target, Config("127.0.0.1", "-1", 60.0, 3600.0, 100, reuse=True), (1.0,) * 4)
    assert shipped.errors == patched.errors == 0
    assert shipped.client_build > 0.001  # a new SSL context with the certificates, as openai's client builds
    assert patched.client_build == 0.0
    assert shipped.new_connections == 4 and patched.new_connections == 1
    assert min(shipped.totals) >= shipped.client_build * 0.5  # the cost is in the request's time


def test_the_tools_own_clients_share_one_ssl_context() -> None:
    assert shared_context() is shared_context()
