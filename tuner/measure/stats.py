"""Summaries of a run: percentiles per phase, errors by kind, connection reuse. Pure."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from tuner.measure.runner import RunResult, Sample

PHASES = ("dns", "connect", "ttfb", "first_token", "total", "load", "prompt_eval", "eval")
QUANTILES = (0.50, 0.90, 0.95, 0.99)


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass(frozen=True)
class PhaseSummary:
    phase: str
    n: int
    p50: float
    p90: float
    p95: float
    p99: float
    max: float


@dataclass(frozen=True)
class Summary:
    requests: int
    ok: int
    errors: dict[str, int]
    new_connections: int
    phases: tuple[PhaseSummary, ...]
    tokens: int | None
    wall: float
    cpu: float
    throughput: float  # completed requests per second of wall time

    def phase(self, name: str) -> PhaseSummary | None:
        return next((p for p in self.phases if p.phase == name), None)


def phase_values(samples: Sequence[Sample], phase: str, *, ok_only: bool = True) -> list[float]:
    out = []
    for s in samples:
        value = getattr(s, phase)
        if value is not None and (s.ok or not ok_only):
            out.append(float(value))
    return out


def summarize(result: RunResult) -> Summary:
    samples = result.samples
    phases = []
    for phase in PHASES:
        values = phase_values(samples, phase)
        if values:
            q = [percentile(values, x) for x in QUANTILES]
            phases.append(PhaseSummary(phase, len(values), q[0], q[1], q[2], q[3], max(values)))
    errors = Counter(s.error for s in samples if s.error)
    token_counts = [s.tokens for s in samples if s.tokens is not None]
    ok = sum(s.ok for s in samples)
    return Summary(
        len(samples),
        ok,
        dict(errors.most_common()),
        sum(s.new_connection for s in samples),
        tuple(phases),
        sum(token_counts) if token_counts else None,
        result.wall,
        result.cpu,
        ok / result.wall if result.wall > 0 else 0.0,
    )
