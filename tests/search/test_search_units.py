"""The search's pure parts: space, gaps, memory, noise-aware choice, recommendation."""

from __future__ import annotations

import random

from tuner.measure.workload import draw_gaps
from tuner.search.coverage import Profile
from tuner.search.recommend import recommend
from tuner.search.select import Measured, bootstrap_ratio, choose
from tuner.search.space import Config, Facts, build_space, resident_gb

FACTS = Facts(
    "0.3.1", "localhost", False, cold_load=6.0, answer=40.0, model_bytes=4_400_000_000, current_timeout=600.0
)


def test_space_follows_the_install_and_measurement() -> None:
    space = build_space(FACTS)
    assert [d.name for d in space.dimensions] == ["host", "keep_alive"]  # 0.3.1.3 as shipped reuses nothing
    assert space.timeout_floor == 92.0 and space.timeout == 120.0  # 2 x (cold load + longest answer), rounded
    assert space.baseline() == {"host": "localhost", "keep_alive": "5m"}
    base = space.config(space.baseline(), baseline=True)
    assert (base.timeout, base.reuse) == (600.0, False)
    patched = build_space(Facts("0.3.1", "127.0.0.1", True, 6.0, 40.0, 1, 300.0, users=4))
    assert [d.name for d in patched.dimensions] == ["keep_alive", "keepalive_expiry", "api_concurrencies"]
    assert patched.config(patched.baseline(), baseline=True).reuse is False  # --patch-code: unpatched today
    assert patched.config(patched.baseline()).reuse is True
    slow = build_space(Facts("0.3.1", "127.0.0.1", False, 60.0, 400.0, 1, 300.0))
    assert slow.timeout == 960.0  # above the last round value: whole minutes


def test_with_several_users_the_timeout_allows_every_users_answer_ahead() -> None:
    """Eight users may all be queued at a one-slot Ollama, which sends nothing meanwhile: a timeout sized for
    one answer would abort the requests at the back of the queue."""
    one = build_space(Facts("0.3.1", "127.0.0.1", True, 2.7, 2.1, 1, 600.0))
    eight = build_space(Facts("0.3.1", "127.0.0.1", True, 2.7, 2.1, 1, 600.0, users=8))
    arrivals = build_space(Facts("0.3.1", "127.0.0.1", True, 2.7, 2.1, 1, 600.0, users=1, open_loop=True))
    assert one.timeout == arrivals.timeout == 10.0  # 2 x (2.7 + 2.1) = 9.6
    assert round(eight.timeout_floor, 6) == 39.0 and eight.timeout == 45.0  # 2 x (2.7 + 8 x 2.1)


def test_gaps_are_seeded_and_memory_follows_keep_alive() -> None:
    assert draw_gaps(600, 5, 1) == draw_gaps(600, 5, 1) != draw_gaps(600, 5, 2)
    gaps = (100.0, 1000.0)
    cfg = lambda ka: Config("127.0.0.1", ka, 60.0, 5.0, 100, False)  # noqa: E731
    assert resident_gb(cfg("-1"), gaps, 2_000_000_000) == 2.0
    assert resident_gb(cfg("0"), gaps, 2_000_000_000) == 0.0
    assert round(resident_gb(cfg("5m"), gaps, 2_000_000_000), 3) == round(2.0 * 400 / 1100, 3)


def _measured(label: str, center: float, ka: str, mem: float, seed: int) -> Measured:
    rng = random.Random(seed)
    totals = tuple(center + rng.uniform(-0.05, 0.05) for _ in range(30))
    return Measured(label, {"keep_alive": ka}, Config("127.0.0.1", ka, 60.0, 5.0, 100, False), totals, 0, mem)


def test_ties_go_to_less_memory_and_forever_last_unless_memory_is_free() -> None:
    base = _measured("baseline", 10.0, "5m", 1.8, 1)
    forever = _measured("trial 1", 2.00, "-1", 4.5, 2)
    long_ = _measured("trial 2", 2.01, "2h", 4.5, 3)
    short = _measured("trial 3", 2.02, "30m", 4.2, 4)
    verdict = choose([forever, long_, short], base, memory_free=False)
    assert verdict.winner.label == "trial 3" and verdict.significant
    assert verdict.ci[1] < 1.0 and 0.15 < verdict.ratio < 0.25
    assert choose([forever, long_], base, memory_free=False).winner.label == "trial 2"
    assert choose([forever, long_, short], base, memory_free=True).winner.label == "trial 1"


def test_no_change_within_noise() -> None:
    base = _measured("baseline", 2.0, "5m", 1.8, 1)
    same = _measured("trial 4", 2.0, "30m", 4.2, 5)
    verdict = choose([same], base, memory_free=False)
    assert not verdict.significant
    lo, hi = bootstrap_ratio(same.totals, base.totals)
    assert lo < 1.0 < hi
    rec = recommend(
        verdict,
        FACTS,
        Profile(gaps=(600.0,)),
        entry="ollama",
        configured_url="http://localhost:11434/v1",
        memory_free=False,
    )
    assert rec.settings == () and "nothing to change" in rec.reasons[0]


def test_recommendation_in_real_units() -> None:
    base = _measured("baseline", 10.0, "5m", 1.8, 1)
    win = _measured("trial 3", 2.0, "30m", 4.2, 4)
    win = Measured(
        win.label,
        {"host": "127.0.0.1", "keep_alive": "30m"},
        Config("127.0.0.1", "30m", 120.0, 5.0, 100, False),
        win.totals,
        0,
        4.2,
    )
    base = Measured(
        base.label, base.params, Config("localhost", "5m", 600.0, 5.0, 100, False), base.totals, 0, 1.8
    )
    rec = recommend(
        choose([win], base, memory_free=False),
        FACTS,
        Profile(gaps=draw_gaps(600, 1000, 0)),
        entry="ollama",
        configured_url="http://localhost:11434/v1",
        memory_free=False,
    )
    assert [(s.knob, s.entry, s.value) for s in rec.settings] == [
        ("ollama_url", "ollama", "http://127.0.0.1:11434/v1"),
        ("keep_alive", None, "30m"),
        ("api_timeout", None, 120.0),
    ]
    assert any("cold load costs 6.0 s" in r for r in rec.reasons)
    assert rec.reasons[0].startswith("held-out gaps: p95")
    assert any("p99" in r and "of its gaps" in r for r in rec.reasons)
