"""keep_alive judged on the idle-gap profile: coverage and the lift to the profile's 99th percentile."""

from __future__ import annotations

from tuner.measure.workload import draw_gaps
from tuner.search.coverage import COVER_TARGET, Profile, coverage, lift_keep_alive
from tuner.search.space import KEEP_ALIVE_CHOICES


def test_coverage_counts_gaps_the_model_outlives() -> None:
    assert coverage(-1, (1e9,)) == 1.0
    assert coverage(0, (1.0, 2.0)) == 0.0
    assert coverage(60, (30.0, 60.0, 61.0, 600.0)) == 0.5


def test_a_keep_alive_just_past_the_samples_p95_is_lifted_to_cover_the_profile() -> None:
    """The issue's case: 10 sampled gaps around a 10-minute mean, 30m covering them all, yet the profile's
    99th percentile (~46 min) is beyond it: the lift picks the shortest choice covering 99 %."""
    sample = draw_gaps(600, 10, 0)
    profile = Profile(gaps=draw_gaps(600, 5000, 1))
    assert coverage(1800, sample) >= 0.9
    assert coverage(1800, profile.gaps) < COVER_TARGET
    lifted = lift_keep_alive("30m", KEEP_ALIVE_CHOICES, profile)
    assert lifted == "1h"
    assert profile.covers(lifted)
    assert lift_keep_alive("4h", KEEP_ALIVE_CHOICES, profile) == "4h"  # covers already
    assert lift_keep_alive("0", KEEP_ALIVE_CHOICES, profile) == "0"  # the search found loads cheap


def test_the_memory_budget_bounds_the_lift_and_traffic_counts_too() -> None:
    profile = Profile(gaps=draw_gaps(600, 5000, 1))
    assert lift_keep_alive("30m", KEEP_ALIVE_CHOICES, profile, fits=lambda k: k in ("30m", "5m")) == "30m"
    # The user's own traffic has longer gaps than the profile: its 99 % decides.
    traffic = Profile(gaps=profile.gaps, traffic=tuple([7000.0] * 50 + [60.0] * 50))
    assert lift_keep_alive("30m", KEEP_ALIVE_CHOICES, traffic) == "2h"
