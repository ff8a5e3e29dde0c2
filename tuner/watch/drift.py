"""One round's observation and the state so far → the decisions and the next state. Pure.

- Cold loads seen: a model resident now that was not last round (whoever's request loaded it).
- Unloads: a model resident last round and gone now. ``expired`` when its ``expires_at`` had passed,
  ``evicted`` when it went before its time (another model needed the memory, Ollama restarted, someone
  unloaded it) — at most ``EXPIRY_SLACK`` of the interval early still counts as expired.
- The keep_alive in force, from ``/api/ps`` alone: when a model's ``expires_at`` moves (a request ended)
  or the model appears, the request ended after the previous read was sent (or after the watcher's own
  chat probe was sent, the last request it knows of), so keep_alive lies in
  ``[expires_at - now, expires_at - then]``.
  Compared with the plan's ``keep_alive`` (tolerance ``KEEP_ALIVE_TOLERANCE``): a service variable lost in
  a restart shows as Ollama's 5 m where the plan set 30 m.
- p95 regression: the last chat-probe totals against the verified winner's totals, with the search's own
  bootstrap interval (:func:`tuner.search.select.bootstrap_ratio`): a regression when the whole 95 %
  interval of p95(recent) / p95(baseline) lies above 1, never a fixed threshold.
- Settings drift: a file the last apply wrote that no longer holds what it wrote.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from tuner.measure.stats import percentile
from tuner.watch.model import Baseline, Decisions, Observation, P95Check, Resident, State, UnloadReason

WINDOW = 20  # chat-probe totals kept for the p95 check
MIN_SAMPLES = 8  # fewer than this says nothing about a p95
KEEP_ALIVE_TOLERANCE = 0.10  # a keep_alive within 10 % of the plan's is the plan's
EXPIRY_SLACK = 1.0  # seconds (real) of clock and polling slack when telling expired from evicted
BOOTSTRAP_ROUNDS = 2000  # as the search's verify step
SAME_STAMP = 0.001  # seconds: an expires_at that moved less than this did not move (float rounding)


def _by_model(resident: Sequence[Resident], model: str | None) -> Resident | None:
    from tuner.measure.ollama import tagged

    if model is None:
        return None
    return next((r for r in resident if tagged(r.model) == tagged(model)), None)


def keep_alive_bounds(
    expires_at: float, now: float, since: float | None, time_scale: float
) -> tuple[float, float] | None:
    """(at least, at most) seconds of keep_alive, install time; (-1, -1) for forever; None: no bound."""
    if math.isinf(expires_at):
        return (-1.0, -1.0)
    if since is None:
        return None
    lo, hi = (expires_at - now) / time_scale, (expires_at - since) / time_scale
    return (max(lo, 0.0), max(hi, 0.0))


def keep_alive_drift(bounds: tuple[float, float] | None, planned: float | None) -> bool | None:
    """Whether the keep_alive in force cannot be the plan's; None when there is nothing to compare."""
    if bounds is None or planned is None:
        return None
    forever_now, forever_planned = bounds[0] < 0, planned < 0
    if forever_now or forever_planned:
        return forever_now != forever_planned
    lo, hi = bounds
    return hi < planned * (1 - KEEP_ALIVE_TOLERANCE) or lo > planned * (1 + KEEP_ALIVE_TOLERANCE)


def p95_check(window: Sequence[float], baseline: Sequence[float], seed: int = 0) -> P95Check | None:
    if len(window) < MIN_SAMPLES or len(baseline) < MIN_SAMPLES:
        return None
    from tuner.search.select import bootstrap_ratio

    base = percentile(baseline, 0.95)
    now = percentile(window, 0.95)
    lo, hi = bootstrap_ratio(window, baseline, rounds=BOOTSTRAP_ROUNDS, seed=seed)
    ratio = now / base if base > 0 else math.inf
    return P95Check(
        samples=len(window), p95=now, baseline_p95=base, ratio=ratio, ci=(lo, hi), regression=lo > 1.0
    )


def _errors(obs: Observation) -> dict[str, int]:
    out: dict[str, int] = {}
    for p in obs.probes:
        if p.error:
            key = f"{p.hop}:{p.error}"
            out[key] = out.get(key, 0) + 1
    return out


@dataclass
class _View:
    """One ``/api/ps`` answer read against the view before it."""

    expiry: dict[str, float]
    cold: list[str]
    unloads: list[tuple[str, UnloadReason]]
    bounds: tuple[float, float] | None  # keep_alive in force for the install's model, when it can tell
    floor: float | None  # at least this much keep_alive (the install's model is resident)


def _view(
    before: dict[str, float],
    resident: Sequence[Resident],
    *,
    now: float,
    since: float | None,
    compare: bool,
    model: str | None,
    time_scale: float,
) -> _View:
    expiry = {r.model: r.expires_at for r in resident}
    cold: list[str] = []
    unloads: list[tuple[str, UnloadReason]] = []
    if compare:
        cold = [m for m in expiry if m not in before]
        for m, was in before.items():
            if m not in expiry:
                unloads.append((m, "expired" if was <= now + EXPIRY_SLACK else "evicted"))
    bounds = floor = None
    mine = _by_model(resident, model)
    if mine is not None:
        last = before.get(mine.model)
        moved = last is None or not (last == mine.expires_at or abs(last - mine.expires_at) < SAME_STAMP)
        bounds = keep_alive_bounds(mine.expires_at, now, since if moved else None, time_scale)
        if not math.isinf(mine.expires_at):
            floor = max((mine.expires_at - now) / time_scale, 0.0)
    return _View(expiry, cold, unloads, bounds, floor)


def step(
    state: State,
    obs: Observation,
    baseline: Baseline,
    *,
    model: str | None,
    time_scale: float = 1.0,
) -> tuple[State, Decisions]:
    """Judge ``obs`` against ``state`` and ``baseline``; the next state is bounded whatever the rounds."""
    up: dict[str, bool] = {}
    for p in obs.probes:
        if p.name in ("version", "chatchat"):
            up[p.hop] = p.status is not None
    unload_counts = dict(state.unloads)
    cold: list[str] = []
    unloads: list[tuple[str, UnloadReason]] = []
    keep_alive = state.keep_alive
    expiry = dict(state.expiry)
    ps, chat, after = obs.probe("ps"), obs.probe("chat"), obs.probe("ps_after")
    # The reference for the next round's upper bound: a time no later than the server's handling of the
    # last /api/ps read (its send), or of the watcher's own chat (the last request it knows of).
    last_at = (ps.done_at - ps.total) if ps is not None else obs.started_at
    if chat is not None:
        last_at = max(last_at, chat.done_at - chat.total)
    views: list[_View] = []
    if obs.resident is not None and ps is not None:
        views.append(
            _view(
                expiry,
                obs.resident,
                now=ps.done_at,
                since=state.last_at,
                compare=state.last_at is not None,  # the first round has nothing to compare with
                model=model,
                time_scale=time_scale,
            )
        )
        expiry = views[-1].expiry
    if obs.resident_after is not None and after is not None and chat is not None:
        # Read again right after the watcher's own chat: its keep_alive to within the chat's duration.
        views.append(
            _view(
                expiry,
                obs.resident_after,
                now=after.done_at,
                since=chat.done_at - chat.total,
                compare=obs.resident is not None or state.last_at is not None,
                model=model,
                time_scale=time_scale,
            )
        )
        expiry = views[-1].expiry
        last_at = after.done_at - after.total
    for v in views:
        cold += v.cold
        unloads += v.unloads
        for _, reason in v.unloads:
            unload_counts[reason] = unload_counts.get(reason, 0) + 1
        if v.bounds is not None:
            keep_alive = v.bounds
        elif keep_alive is None and v.floor is not None:
            keep_alive = (v.floor, math.inf)  # at least this much, whatever the history
    window = state.window
    if chat is not None and chat.ok:
        window = (*window, chat.total / time_scale)[-WINDOW:]
    # The bootstrap runs only when a new sample arrived; otherwise the last verdict stands.
    check = p95_check(window, baseline.totals) if window is not state.window else state.p95
    changed = obs.changed_since_apply
    decisions = Decisions(
        up=up,
        cold_loads=tuple(cold),
        unloads=tuple(unloads),
        keep_alive=keep_alive,
        keep_alive_drift=keep_alive_drift(keep_alive, baseline.planned_keep_alive),
        settings_drift=None if changed is None else bool(changed),
        p95=check,
        errors=_errors(obs),
    )
    new = State(
        rounds=state.rounds + 1,
        last_at=last_at,
        expiry=tuple(sorted(expiry.items())),
        p95=check,
        keep_alive=keep_alive,
        window=window,
        cold_loads=state.cold_loads + len(cold),
        unloads=tuple(sorted(unload_counts.items())),
    )
    return new, decisions
