"""The doctor's findings on what a round saw: its rules (``tuner.doctor.rules``), fed without a chat. Pure.

The doctor's own probe sends chat requests (a cold load, two concurrent requests); the watcher must not
keep the model loaded, so it maps its read-only requests onto the doctor's facts instead: reachability and
a hang from ``/api/version``, the localhost-vs-address connect from the same request by name and by
address, whether the model is pulled from ``/api/tags``, its keep_alive left from ``/api/ps``, Chatchat's
reachability from ``/docs``, and the errors of the round's requests. Findings that need a chat request
(cold load, abort loop, queueing, Chatchat's overhead) are the doctor's to find.
"""

from __future__ import annotations

import math
from typing import Literal

from tuner.doctor.model import (
    InstallFacts,
    ModelProbe,
    NameVsAddress,
    ProbeFacts,
    ProxyVerdict,
    Reach,
    Status,
)
from tuner.doctor.rules import findings
from tuner.watch.model import FindingGauge, Observation, Probe


def _status(p: Probe) -> Status:
    if p.status is not None:
        return "ok"
    if p.error in ("connect", "connect_timeout"):
        return "refused" if p.error == "connect" else "timeout"
    return "timeout" if p.error in ("timeout", "pool_timeout") else "error"


def _reach(p: Probe | None, version: str | None) -> Reach:
    if p is None:
        return Reach("skipped", None, "not asked")
    return Reach(_status(p), p.total, p.detail, version if p.status == 200 else None)


def _model(install: InstallFacts, obs: Observation, listed: bool | None) -> ModelProbe | None:
    if not install.model or obs.resident is None:
        return None
    from tuner.measure.ollama import tagged

    mine = next((r for r in obs.resident if tagged(r.model) == tagged(install.model)), None)
    left = None
    if mine is not None:
        left = -1.0 if math.isinf(mine.expires_at) else mine.expires_at - obs.finished_at
    status: Literal["ok", "missing"] = "missing" if listed is False else "ok"
    return ModelProbe(install.model, status, listed, mine is not None, None, None, left)


def _localhost(install: InstallFacts, pair: tuple[Probe, Probe] | None) -> NameVsAddress | None:
    if pair is None:
        return None
    by_name, by_address = pair
    if not (by_name.ok and by_address.ok):
        return None
    from urllib.parse import urlsplit

    host = urlsplit(install.ollama_url or "").hostname or ""
    return NameVsAddress(
        host, by_address.detail, (by_name.total,), (by_address.total,), by_name.attempts, None
    )


def round_findings(
    install: InstallFacts,
    obs: Observation,
    proxy: ProxyVerdict | None,
    *,
    listed: bool | None = None,
    pair: tuple[Probe, Probe] | None = None,
) -> tuple[FindingGauge, ...]:
    """The doctor's findings for this round, worst first (its own ranking). ``listed`` (the model in
    /api/tags) and ``pair`` (/api/version by name and by address) are asked every few rounds only: the
    caller carries the last answers, so that a finding does not come and go between them."""
    version = obs.probe("version")
    reach = _reach(version, obs.version)
    hang = None
    if version is not None and version.error in ("timeout", "pool_timeout"):
        hang = f"GET {install.ollama_root}/api/version (no answer in {version.total:.1f} s)"
    chatchat = obs.probe("chatchat")
    errors: dict[str, int] = {}
    chat = obs.probe("chat")
    if chat is not None and chat.error:
        errors[chat.error] = 1
    facts = ProbeFacts(
        budget=0.0,
        elapsed=obs.finished_at - obs.started_at,
        reach=reach,
        hang=hang,
        localhost=_localhost(install, pair),
        model=_model(install, obs, listed) if reach.status == "ok" else None,
        chatchat=_reach(chatchat, None) if chatchat is not None else None,
        errors=errors,
        generation_requests=1 if chat is not None else 0,
    )
    return tuple(
        FindingGauge(code=f.code, severity=f.severity, title=f.title) for f in findings(install, facts, proxy)
    )
