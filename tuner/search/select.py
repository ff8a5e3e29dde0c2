"""After the study: re-measure the best few against the baseline and keep a change only beyond noise.

Pure statistics here (bootstrap on pooled real samples); the re-measuring loop is in ``verify``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tuner.measure.stats import percentile
from tuner.search.space import Config

TIE_TOLERANCE = 1.05  # 5% slower at p95 is not worth more resident memory


@dataclass(frozen=True)
class Measured:
    label: str  # "baseline" or "trial 12"
    params: dict[str, object]
    config: Config
    totals: tuple[float, ...]  # real seconds, pooled over repeats
    errors: int
    resident_gb: float

    @property
    def p95(self) -> float:
        return percentile(self.totals, 0.95) if self.totals else float("inf")

    @property
    def p50(self) -> float:
        return percentile(self.totals, 0.5) if self.totals else float("inf")


@dataclass(frozen=True)
class Verdict:
    winner: Measured
    baseline: Measured
    ratio: float  # winner p95 / baseline p95
    ci: tuple[float, float]  # 95% bootstrap interval of that ratio
    significant: bool  # the whole interval is below 1: better beyond noise
    ties: tuple[str, ...]  # candidates within noise of the fastest (memory broke the tie)


def bootstrap_ratio(
    a: Sequence[float], b: Sequence[float], q: float = 0.95, *, rounds: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """95% interval of percentile_q(a) / percentile_q(b) by resampling each side."""
    rng = random.Random(seed)
    ratios = []
    for _ in range(rounds):
        ra = [a[rng.randrange(len(a))] for _ in a]
        rb = [b[rng.randrange(len(b))] for _ in b]
        denom = percentile(rb, q)
        if denom > 0:
            ratios.append(percentile(ra, q) / denom)
    ratios.sort()
    return percentile(ratios, 0.025), percentile(ratios, 0.975)


def thrift_key(config: Config, resident_gb: float) -> tuple[float, float]:
    """Least memory first, then the shorter keep_alive (forever last)."""
    ka = config.keep_alive_seconds
    return (round(resident_gb, 2), math.inf if ka < 0 else ka)


def _thrift(c: Measured) -> tuple[float, float, float]:
    return (*thrift_key(c.config, c.resident_gb), c.p95)


def choose(
    candidates: Sequence[Measured], baseline: Measured, *, memory_free: bool, seed: int = 0
) -> Verdict:
    """Fastest feasible candidate; among those within noise of it, the least resident memory (unless free)."""
    feasible = [c for c in candidates if c.errors == 0 and c.totals] or [baseline]
    fastest = min(feasible, key=lambda c: c.p95)
    # Tied: not slower than the fastest beyond noise and a practical tolerance (the lower end of the
    # interval of p95(c)/p95(fastest) is within TIE_TOLERANCE).
    ties = [
        c
        for c in feasible
        if c is fastest or bootstrap_ratio(c.totals, fastest.totals, seed=seed)[0] <= TIE_TOLERANCE
    ]
    winner = fastest if memory_free else min(ties, key=_thrift)
    if not baseline.totals:
        return Verdict(winner, baseline, 0.0, (0.0, 0.0), bool(winner.totals), tuple(c.label for c in ties))
    lo, hi = bootstrap_ratio(winner.totals, baseline.totals, seed=seed)
    ratio = winner.p95 / baseline.p95 if baseline.p95 > 0 else 1.0
    return Verdict(winner, baseline, ratio, (lo, hi), hi < 1.0, tuple(c.label for c in ties))


def verify(
    candidates: Sequence[tuple[str, dict[str, object], Config, float]],
    measure: Callable[[Config, int], tuple[tuple[float, ...], int]],
    repeats: int,
) -> list[Measured]:
    """Re-measure each (label, params, config, resident_gb) ``repeats`` times, interleaved so drift in the
    server hits every candidate alike. ``measure(config, repeat)`` → (real totals, errors)."""
    pooled: dict[str, list[float]] = {label: [] for label, *_ in candidates}
    errors = dict.fromkeys(pooled, 0)
    for r in range(repeats):
        for label, _, config, _ in candidates:
            totals, errs = measure(config, r)
            pooled[label].extend(totals)
            errors[label] += errs
    return [
        Measured(label, params, config, tuple(pooled[label]), errors[label], mem)
        for label, params, config, mem in candidates
    ]
