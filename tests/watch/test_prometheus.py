"""A real Prometheus scrapes a real ``watch`` of an install pointed at the lab, and evaluates the generated
alert rules: quiet while the install is healthy, firing once the model is unloaded before its time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import run_cli
from tests.watch.conftest import MODEL, load, make_install, needs_prometheus, needs_watch_extra, unload
from tuner.watch.alerts import RULES_FILE

pytestmark = needs_watch_extra


@needs_prometheus
def test_prometheus_scrapes_the_series_and_evaluates_the_rules(
    tmp_path: Path, lab: Any, chatchat: Any, watch: Any, prometheus: Any
) -> None:
    server = lab()
    root = make_install(tmp_path, server.url, api_port=chatchat(server.url))
    emitted = run_cli("watch", "--emit", str(tmp_path / "rules"))
    assert emitted.code == 0, emitted.err
    load(server, keep_alive="1h")  # resident for 36 s of wall time: healthy
    w = watch(root, "--interval", "60s")
    prom = prometheus([f"127.0.0.1:{w.port}"], tmp_path / "rules" / RULES_FILE)

    # The series, as Prometheus stored them, with the install and endpoint labels.
    up = prom.wait_for("chatchat_tune_up", lambda: prom.query('chatchat_tune_up{hop="ollama"} == 1'))
    labels = up[0]["metric"]
    assert labels["install"].startswith("知识库-") and labels["endpoint"] == server.url
    assert prom.wait_for("Chatchat up", lambda: prom.query('chatchat_tune_up{hop="chatchat"} == 1'))
    phases = prom.wait_for(
        "latency histograms",
        lambda: prom.query("sum by (phase) (chatchat_tune_probe_duration_seconds_count)"),
    )
    assert {r["metric"]["phase"] for r in phases} >= {"connect", "first_byte", "total"}
    resident = prom.query(f'chatchat_tune_model_resident{{model="{MODEL}"}}')
    assert resident and resident[0]["value"][1] == "1"
    assert prom.query("chatchat_tune_model_expires_in_seconds > 0")
    assert prom.query("chatchat_tune_model_vram_ratio == 0.5")
    assert prom.query("chatchat_tune_model_context_tokens > 0")
    assert prom.query("chatchat_tune_settings_info == 1")
    assert prom.query("chatchat_tune_settings_drift == 0")
    assert prom.query('chatchat_tune_finding{code="hang_unbounded"} == 1')
    assert prom.query("chatchat_tune_chat_probe_keeps_model_loaded == 0")

    # Healthy: several evaluations later, nothing fires.
    prom.wait_for("rule evaluations", lambda: prom.query("count_over_time(chatchat_tune_up[10s]) >= 4"))
    assert prom.firing() == set()

    # The model unloaded long before its hour ran out: Prometheus's own rule evaluation fires.
    unload(server)
    fired = prom.wait_for("ChatchatTuneModelEvicted", lambda: prom.firing())
    assert fired == {"ChatchatTuneModelEvicted"}, fired
    assert prom.query(f'chatchat_tune_model_resident{{model="{MODEL}"}} == 0')
    assert w.stop() == 130
    assert "Traceback" not in w.stderr()
