"""The workload fingerprint: what makes two trials comparable, compared field by field."""

from __future__ import annotations

import dataclasses

from tuner.search.fingerprint import Fingerprint, differences

FP = Fingerprint(
    model="qwen2:7b",
    idle_gap_s=600.0,
    gap_distribution="exponential",
    requests_per_trial=40,
    max_tokens=1024,
    install="0.3.1",
    code_patch="none",
)


def test_the_same_workload_resumes() -> None:
    assert differences(FP.as_attr(), FP) == []


def test_each_difference_is_named_with_both_values() -> None:
    other = dataclasses.replace(FP, idle_gap_s=30.0, code_patch="searched")
    assert differences(FP.as_attr(), other) == [
        "idle_gap_s: 600 there, 30 here",
        "code_patch: none there, searched here",
    ]


def test_fields_added_later_default_to_the_single_user_workload() -> None:
    """A study stored before the multi-user fields existed equals a new one at their defaults, and differs
    from one that sets them; a field this version does not know is a difference too."""
    old = {k: v for k, v in FP.as_attr().items() if k not in ("users", "rate_per_s", "traffic_sha256")}
    assert differences(old, FP) == []
    assert differences(old, dataclasses.replace(FP, users=8)) == ["users: 1 there, 8 here"]
    assert differences({**FP.as_attr(), "gpu": "a100"}, FP) == ["gpu: a100 there, unknown here"]
