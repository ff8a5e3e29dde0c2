"""The place probes as ``probes.probe`` calls them: where Chatchat runs, this machine's Ollama port, and
where the model runs. I/O edge; each bounded by what is left of the doctor's budget."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from tuner.doctor.model import InstallFacts, ModelProbe
from tuner.doctor.place import PLACE_CAP, PlaceFacts, Target, port_state, probe_place
from tuner.doctor.residency import Residency, find, load_timeout_of, loaded_models, measure_rate
from tuner.ollama_ps import Loaded

PS_CAP = 2.0
RATE_MIN_LEFT = 1.0  # seconds of budget the rate request needs at least


class Timeouts(Protocol):
    def timeout(self, cap: float = math.inf) -> float | None: ...


@dataclass(frozen=True, kw_only=True)
class PlaceRequest:
    """Run the probe where Chatchat runs: ``PREFIX... PYTHON -c SOURCE CONFIG`` (prefix may be empty)."""

    prefix: tuple[str, ...]
    python: str
    how: str  # as the user gave it, for the evidence
    targets: tuple[Target, ...]


def run_place(request: PlaceRequest, left: float) -> PlaceFacts:
    cap = min(PLACE_CAP, max(left * 0.5, 1.0))
    return probe_place(
        request.targets, prefix=list(request.prefix), python=request.python, how=request.how, cap=cap
    )


def ollama_port_state(root: str) -> str:
    parts = urlsplit(root)
    return port_state(parts.hostname or "", parts.port or 80)


def ps_snapshot(root: str, timeout: float | None) -> tuple[Loaded, ...] | None:
    return loaded_models(root, timeout) if timeout is not None else None


def residency(
    install: InstallFacts,
    root: str,
    before: tuple[Loaded, ...] | None,
    model: ModelProbe | None,
    version: str | None,
    budget: Timeouts,
    environ: Mapping[str, str],
) -> Residency | None:
    name = install.model
    if not name:
        return None
    after_all = ps_snapshot(root, budget.timeout(PS_CAP))
    after = find(after_all, name)
    rate = None
    if after is not None and after.cpu_share > 0 and model is not None and model.status == "ok":
        left = budget.timeout()
        timeout = budget.timeout(max(RATE_MIN_LEFT, (left or 0.0) / 3))  # leave room for the other probes
        if timeout is not None and timeout >= RATE_MIN_LEFT:
            rate = measure_rate(root, name, timeout)
    limit, source = load_timeout_of(dict(environ))
    return Residency(
        model=name,
        before=find(before, name),
        after=after,
        others=tuple(m for m in after_all or () if m is not after),
        rate=rate,
        version=version,
        load_timeout=limit,
        load_timeout_source=source,
    )
