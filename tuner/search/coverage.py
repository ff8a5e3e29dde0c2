"""keep_alive against the idle-gap *profile*, not against the few gaps a trial sampled. Pure.

A request is cold when the idle gap before it outlasted the model's keep_alive; the share of gaps a
keep_alive covers is the share of requests that find the model loaded. For a p95 to stay warm on days the
study never saw, the keep_alive must cover well over 95 % of the profile: a keep_alive that ends just beyond
the sampled gaps' 95th percentile wins the study and loses on the next day's gaps. So the recommendation
lifts a winner's keep_alive to the shortest choice that covers COVER_TARGET of the profile (and of the
user's own traffic, when given), within the memory budget.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tuner.knobs.values import keep_alive_seconds
from tuner.measure.stats import percentile

COVER_TARGET = 0.99  # share of the profile's gaps the keep_alive must cover (a p95 with margin)


def coverage(keep_alive_s: float, gaps: Sequence[float]) -> float:
    """Share of ``gaps`` after which a model with this keep_alive (seconds; < 0 forever) is still loaded."""
    if not gaps:
        return 1.0
    if keep_alive_s < 0:
        return 1.0
    return sum(1 for g in gaps if keep_alive_s > 0 and g <= keep_alive_s) / len(gaps)


@dataclass(frozen=True, kw_only=True)
class Profile:
    """The idle-gap distribution the verdict is judged on: the profile (many draws) and, optionally, the
    user's own traffic (gaps between its arrival times)."""

    gaps: tuple[float, ...]
    traffic: tuple[float, ...] = ()

    def quantile(self, q: float) -> float:
        return percentile(self.gaps, q)

    def covers(self, keep_alive: str, target: float = COVER_TARGET) -> bool:
        ka = keep_alive_seconds(keep_alive)
        return coverage(ka, self.gaps) >= target and (
            not self.traffic or coverage(ka, self.traffic) >= target
        )


def lift_keep_alive(
    keep_alive: str,
    choices: Sequence[str],
    profile: Profile,
    *,
    fits: Callable[[str], bool] | None = None,
) -> str:
    """The shortest of ``choices`` at least as long as ``keep_alive`` that covers COVER_TARGET of the
    profile; ``keep_alive`` itself when it already does, when it is 0 (the search found loads cheap) or
    when no choice does. ``fits(keep_alive) -> bool`` (the memory budget) bounds the lift: then the longest
    choice that fits."""
    ka = keep_alive_seconds(keep_alive)
    if ka == 0 or profile.covers(keep_alive):
        return keep_alive
    ok = fits or (lambda _k: True)
    longer = sorted(
        (c for c in choices if _longer_or_equal(c, ka)),
        key=lambda c: _order(keep_alive_seconds(c)),
    )
    fitting = [c for c in longer if ok(c)]
    for c in fitting:
        if profile.covers(c):
            return c
    return fitting[-1] if fitting else keep_alive


def _order(seconds: float) -> float:
    return float("inf") if seconds < 0 else seconds


def _longer_or_equal(choice: str, ka: float) -> bool:
    return _order(keep_alive_seconds(choice)) >= _order(ka)
