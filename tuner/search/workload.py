"""The workload a search measures: one user, several users (``--users``) or arrivals (``--rate``,
``--traffic``), as the trial's target, the idle-gap mean and the requests per trial.

- one user: ``--requests-per-trial`` requests, one per idle gap (``trial``);
- ``--users N``: every user sends ``--requests-per-trial`` requests, so a trial has N times as many and
  its p95 is over all of them;
- ``--rate R``: Poisson arrivals, i.e. exponential gaps of mean 1/R played open loop;
- ``--traffic FILE``: the file's first arrivals (at most MAX_TRAFFIC_PER_TRIAL) replayed open loop; the
  idle-gap mean (for memory) is the file's mean gap.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from tuner.errors import UserError
from tuner.i18n import _
from tuner.search.trial import Target

if TYPE_CHECKING:
    from tuner.install.files import LoadedInstall
    from tuner.search.run import SearchRequest
    from tuner.search.session import SearchInputs, SearchOutcome

MAX_TRAFFIC_PER_TRIAL = 200
DEFAULT_TOKENS = 16
DEFAULT_CONCURRENCIES = 5  # Chatchat 0.3.1.x's api_concurrencies


def install_concurrencies(loaded: LoadedInstall | None, entry: str | None) -> int:
    """api_concurrencies of the Ollama entry (Chatchat's default 5 where it is not set)."""
    from tuner.install.environ import as_number
    from tuner.knobs.catalogue import BY_NAME

    if loaded is None:
        return DEFAULT_CONCURRENCIES
    found = [t.found for t in BY_NAME["api_concurrencies"].targets(loaded) if t.entry == entry and t.found]
    value = as_number(found[0].value) if found else None
    return int(value) if value is not None and value >= 1 else DEFAULT_CONCURRENCIES


def search_target(
    request: SearchRequest,
    root: str,
    model: str,
    time_scale: float,
    *,
    loaded: LoadedInstall | None = None,
    entry: str | None = None,
) -> tuple[Target, float, int]:
    """The trial target, the idle-gap mean (real seconds) and the requests per trial."""
    tokens = request.max_tokens or DEFAULT_TOKENS
    if not (request.users and request.users > 1) and request.rate is None and not request.traffic:
        target = Target(root, model, time_scale, max_tokens=tokens)
        return target, request.mean_gap, request.requests_per_trial
    from tuner.search.users import server_settable

    settable = server_settable(root)
    base = Target(
        root,
        model,
        time_scale,
        max_tokens=tokens,
        embed_model=request.embed_model,
        server_settable=settable,
        current_concurrencies=install_concurrencies(loaded, entry),
    )
    if request.users:
        return (
            replace(base, users=request.users),
            request.mean_gap,
            request.requests_per_trial * request.users,
        )
    if request.rate is not None:
        return replace(base, open_loop=True), 1.0 / request.rate, request.requests_per_trial
    times = request.traffic[:MAX_TRAFFIC_PER_TRIAL]
    gaps = [b - a for a, b in itertools.pairwise(times)] or [0.0]
    return replace(base, open_loop=True, arrivals=times), statistics.mean(gaps), len(times)


@dataclass(frozen=True)
class Workloads:
    """The workload options, checked: the traffic file's arrival times and the SLO in seconds."""

    traffic: tuple[float, ...] = ()
    slo: float | None = None


def check_workload(
    *,
    users: int | None,
    rate: float | None,
    traffic: Path | None,
    max_tokens: int | None,
    slo: str | None,
) -> Workloads:
    """Refuse bad workload options in one line each (nothing measured yet)."""
    from tuner.knobs.values import BadValue, duration_seconds
    from tuner.measure.users import arrival_for

    arrival, _workers = arrival_for(
        users=users,
        rate=rate,
        traffic=traffic,
        mean_gap=None,
        distribution="exponential",
        concurrency=1,
        requests=1,
    )
    if max_tokens is not None and not 1 <= max_tokens <= 4096:
        raise UserError(_("--max-tokens must be 1..4096, not {n}").format(n=max_tokens))
    seconds: float | None = None
    if slo is not None:
        try:
            seconds = duration_seconds(slo, "--slo")
        except BadValue as exc:
            raise UserError(str(exc)) from None
        if not seconds > 0:
            raise UserError(_("--slo must be a p95 above 0 seconds, not {value!r}").format(value=slo))
        if users is None and rate is None:
            raise UserError(_("--slo sizes the box in users or in a rate: give --users N or --rate R"))
    return Workloads(traffic=arrival.times, slo=seconds)


@dataclass(frozen=True)
class Step:
    load: float  # users, or requests per second
    p95: float  # real seconds (inf: nothing completed)
    errors: int


@dataclass(frozen=True)
class Sizing:
    """--slo: the most users (or the highest rate) served at p95 <= slo with the winner's settings."""

    kind: Literal["users", "rate"]
    slo: float
    best: float | None  # None: not even the smallest load tried met the SLO
    steps: tuple[Step, ...]

    def line(self) -> str:
        unit = _("users") if self.kind == "users" else _("requests/s")
        if self.best is None:
            low = min(self.steps, key=lambda s: s.load)
            return _("no load tried met p95 <= {slo:g} s (at {load:g} {unit}: p95 {p95:.2f} s)").format(
                slo=self.slo, load=low.load, unit=unit, p95=low.p95
            )
        at = next(s for s in self.steps if s.load == self.best)
        return _("at most {load:g} {unit} at p95 <= {slo:g} s (p95 {p95:.2f} s there, measured)").format(
            load=self.best, unit=unit, slo=self.slo, p95=at.p95
        )


MAX_SIZING_STEPS = 12


def size_box(
    request: SearchRequest,
    inputs: SearchInputs,
    outcome: SearchOutcome,
    *,
    host: str,
    on_stage: Callable[[str], None],
) -> Sizing | None:
    """Re-measure the winner at growing loads (doubling, then bisecting) to find the most users, or the
    highest rate, whose p95 stays within ``request.slo`` without errors. The settings are the study's
    winner at the load searched; they are not re-tuned per load."""
    if request.slo is None:
        return None
    from tuner.measure.workload import MAX_CONCURRENCY, draw_gaps
    from tuner.search.trial import evaluate

    slo = request.slo
    win = outcome.verdict.winner.config
    target = inputs.target
    per = request.requests_per_trial
    kind: Literal["users", "rate"] = "users" if request.users else "rate"
    steps: dict[float, Step] = {}

    def measure(load: float) -> Step:
        if load not in steps:
            on_stage(_("sizing: {load:g} {kind}").format(load=load, kind=kind))
            if kind == "users":
                n = int(load)
                t, cfg = replace(target, users=n), replace(win, users=n)
                gaps = draw_gaps(request.mean_gap, n * per, request.seed + 17, request.gap_distribution)
            else:
                t, cfg = replace(target, open_loop=True), replace(win, open_loop=True)
                gaps = draw_gaps(1.0 / load, per, request.seed + 17, "exponential")
            r = evaluate(t, cfg, gaps, prompt_offset=900_000 + len(steps) * 1000)
            steps[load] = Step(load, r.p95, r.errors)
        return steps[load]

    def ok(load: float) -> bool:
        s = measure(load)
        return s.errors == 0 and s.p95 <= slo

    if kind == "users":
        good, bad = 0, 0
        n = 1
        while n <= MAX_CONCURRENCY and len(steps) < MAX_SIZING_STEPS:
            if not ok(n):
                bad = n
                break
            good, n = n, n * 2
        while bad and bad - good > 1 and len(steps) < MAX_SIZING_STEPS:
            mid = (good + bad) // 2
            good, bad = (mid, bad) if ok(mid) else (good, mid)
        best: float | None = good or None
    else:
        start = float(request.rate or 1.0)
        lo, hi = (start, 0.0) if ok(start) else (0.0, start)
        while len(steps) < MAX_SIZING_STEPS // 2:
            if hi == 0.0:
                lo, hi = (lo * 2, 0.0) if ok(lo * 2) else (lo, lo * 2)
            elif lo == 0.0:
                lo, hi = (hi / 2, hi) if ok(hi / 2) else (0.0, hi / 2)
            else:
                break
        while lo and hi and hi / lo > 1.1 and len(steps) < MAX_SIZING_STEPS:
            mid = round((lo * hi) ** 0.5, 3)
            lo, hi = (mid, hi) if ok(mid) else (lo, mid)
        best = lo or None
    return Sizing(kind=kind, slo=slo, best=best, steps=tuple(sorted(steps.values(), key=lambda s: s.load)))
