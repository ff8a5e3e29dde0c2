"""The watcher's judgement, round by round (tuner.watch.drift): pure, no server."""

from __future__ import annotations

import math
import random

from tuner.watch.drift import WINDOW, keep_alive_bounds, keep_alive_drift, p95_check, step
from tuner.watch.model import Baseline, Observation, Probe, Resident, State

MODEL = "qwen:7b"


def probe(name: str, at: float, *, ok: bool = True, total: float = 0.001, hop: str = "ollama") -> Probe:
    return Probe(
        name=name,
        hop=hop,  # type: ignore[arg-type]
        ok=ok,
        status=200 if ok else None,
        error=None if ok else "connect",
        connect=0.0001,
        first_byte=total / 2 if ok else None,
        first_token=None,
        total=total,
        bytes_in=10,
        done_at=at,
    )


def obs(at: float, resident: list[tuple[str, float]] | None, *, chat: Probe | None = None) -> Observation:
    probes = [probe("version", at), probe("ps", at)]
    if chat is not None:
        probes.append(chat)
    return Observation(
        started_at=at - 0.01,
        finished_at=at,
        probes=tuple(probes),
        resident=None
        if resident is None
        else tuple(
            Resident(model=m, size=10, size_vram=5, expires_at=e, context_length=4096) for m, e in resident
        ),
    )


def run(rounds: list[Observation], baseline: Baseline | None = None) -> tuple[State, list]:  # type: ignore[type-arg]
    state, out = State(), []
    for o in rounds:
        state, d = step(state, o, baseline or Baseline(), model=MODEL)
        out.append(d)
    return state, out


def test_cold_load_and_expiry_are_told_apart_from_an_eviction() -> None:
    _, ds = run(
        [
            obs(1000.0, []),
            obs(1060.0, [(MODEL, 1060.0 + 300)]),  # loaded since: a cold load
            obs(1120.0, [(MODEL, 1060.0 + 300)]),
            obs(1180.0, []),  # gone 3 minutes before its expiry: evicted
            obs(1240.0, [(MODEL, 1240.0 + 30)]),
            obs(1300.0, []),  # its expiry had passed: expired
        ]
    )
    assert ds[1].cold_loads == (MODEL,) and ds[4].cold_loads == (MODEL,)
    assert ds[3].unloads == ((MODEL, "evicted"),)
    assert ds[5].unloads == ((MODEL, "expired"),)
    assert not ds[0].cold_loads  # the first round has nothing to compare with


def test_keep_alive_in_force_is_bounded_from_expires_at_alone() -> None:
    # A request ended between the rounds at 1000 and 1060 with keep_alive 5m: expires_at = end + 300.
    _, ds = run([obs(1000.0, []), obs(1060.0, [(MODEL, 1030.0 + 300)])])
    lo, hi = ds[1].keep_alive  # type: ignore[misc]
    assert lo <= 300 <= hi and hi - lo < 61
    assert keep_alive_drift((lo, hi), 1800.0) is True  # the plan set 30m: the service variable is gone
    assert keep_alive_drift((lo, hi), 300.0) is False
    assert keep_alive_drift((-1.0, -1.0), -1.0) is False and keep_alive_drift((lo, hi), -1.0) is True
    assert keep_alive_drift(None, 1800.0) is None and keep_alive_drift((lo, hi), None) is None


def test_the_watchers_own_chat_narrows_the_bound_and_lab_time_is_scaled() -> None:
    chat = probe("chat", 1000.5, total=0.5)
    state, _ = step(State(), obs(1000.0, [], chat=chat), Baseline(), model=MODEL)
    # The lab at time_scale 0.01: keep_alive 30m is 18 s of wall time.
    _, d = step(
        state,
        obs(1001.0, [(MODEL, 1000.5 + 18)]),
        Baseline(planned_keep_alive=1800.0),
        model=MODEL,
        time_scale=0.01,
    )
    lo, hi = d.keep_alive  # type: ignore[misc]
    assert lo <= 1800 <= hi and hi - lo < 200
    assert d.keep_alive_drift is False
    assert keep_alive_bounds(math.inf, 1.0, None, 1.0) == (-1.0, -1.0)


def test_p95_regression_uses_the_bootstrap_interval_not_a_threshold() -> None:
    rng = random.Random(1)
    base = [0.10 + rng.random() * 0.02 for _ in range(30)]
    same = [0.10 + rng.random() * 0.02 for _ in range(20)]
    slow = [0.30 + rng.random() * 0.02 for _ in range(20)]
    assert p95_check(same, base).regression is False  # type: ignore[union-attr]
    check = p95_check(slow, base)
    assert check is not None and check.regression and check.ci[0] > 1.0
    assert p95_check(slow[:3], base) is None  # too few samples say nothing


def test_the_state_stays_bounded_whatever_the_rounds() -> None:
    rounds = []
    for i in range(60):
        t = 1000.0 + 60 * i
        rounds.append(obs(t, [(MODEL, t + 300)] if i % 2 else [], chat=probe("chat", t + 0.5, total=0.1)))
    state, _ = run(rounds, Baseline(totals=tuple([0.1] * 30)))
    assert len(state.window) == WINDOW and len(state.expiry) <= 1
    assert state.rounds == 60 and state.cold_loads == 30


def test_settings_drift_and_errors() -> None:
    o = Observation(
        started_at=0.0,
        finished_at=1.0,
        probes=(probe("version", 1.0, ok=False), probe("chatchat", 1.0, hop="chatchat")),
        resident=None,
        changed_since_apply=("/x/basic_settings.yaml",),
    )
    _, d = step(State(), o, Baseline(), model=MODEL)
    assert d.settings_drift is True and d.up == {"ollama": False, "chatchat": True}
    assert d.errors == {"ollama:connect": 1}


def test_a_round_is_planned_within_its_caps() -> None:
    from tuner.watch.model import Target
    from tuner.watch.rounds import MAX_REQUESTS, chat_every, plan_round, round_budget

    target = Target(
        install="i",
        root="/r",
        ollama_root="http://localhost:11434",
        ollama_url="http://localhost:11434/v1",
        model=MODEL,
        chatchat_api="http://127.0.0.1:7861",
        endpoint="http://localhost:11434",
    )
    first = [p.name for p in plan_round(target, 0, budget=10.0, every=None).requests]
    assert first == ["version", "version_by_address", "ps", "tags", "chatchat"]  # no chat by default
    assert [p.name for p in plan_round(target, 1, budget=10.0, every=None).requests] == [
        "version",
        "ps",
        "chatchat",
    ]
    every = chat_every(600.0, 60.0)
    assert every == 10
    with_chat = plan_round(target, 10, budget=10.0, every=every).requests
    assert [p.name for p in with_chat[-2:]] == ["chat", "ps_after"]  # /api/ps read again after the chat
    assert with_chat[-2].url == "http://localhost:11434/v1/chat/completions"
    assert len(with_chat) <= MAX_REQUESTS
    assert all(p.url.startswith(("http://localhost:11434", "http://127.0.0.1:7861")) for p in with_chat)
    assert round_budget(3600.0) == 120.0 and round_budget(60.0) == 48.0 and round_budget(0.05) == 5.0


def test_one_round_with_the_watchers_own_chat_tells_the_keep_alive() -> None:
    """--once --probe-chat: /api/ps read again after the chat bounds keep_alive within the chat's duration,
    so a lost service variable shows in a single round (cron)."""
    chat = probe("chat", 1000.6, total=0.5)
    o = Observation(
        started_at=1000.0,
        finished_at=1000.7,
        probes=(probe("version", 1000.01), probe("ps", 1000.02), chat, probe("ps_after", 1000.65)),
        resident=(),
        resident_after=(
            Resident(model=MODEL, size=10, size_vram=10, expires_at=1000.6 + 300, context_length=None),
        ),
    )
    _, d = step(State(), o, Baseline(planned_keep_alive=1800.0), model=MODEL)
    lo, hi = d.keep_alive  # type: ignore[misc]
    assert lo <= 300 <= hi and hi - lo < 1.0
    assert d.keep_alive_drift is True and d.cold_loads == (MODEL,)  # the chat loaded it
