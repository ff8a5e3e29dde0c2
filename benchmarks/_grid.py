"""bench_search.py's exhaustive grid: every point of the tool's space measured on the lab, scored on held-out
gaps, then searched as a lookup table by the tool's sampler and by random search.

A point's score is the pooled p95 of its requests over ``repeats`` gap sets drawn from the profile with seeds
the study never uses, so the table holds what a point is worth on days the study did not see, with less of
the luck of one sample. The samplers are told what the tool tells its sampler: the install's current
settings are trial 0 (``enqueue_trial``), and a point's errors and its memory beyond the budget are Optuna
constraints (``Trial.set_constraint``), so a fast point that does not fit does not draw the search towards
it. Only feasible points count as found.
"""

from __future__ import annotations

import itertools
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from tuner.measure.stats import percentile
from tuner.measure.workload import draw_gaps
from tuner.search.space import Config, Space, resident_gb
from tuner.search.study import make_sampler
from tuner.search.trial import Target, evaluate

HELDOUT_SEED = 1_000_003  # the grid's gap sets: seeds the study never draws
WORST_MS = 60_000.0  # a point none of whose requests completed (the tool's own worst value)
CONTENDER_MARGIN = 1.10  # a feasible point this close to the best is scored again on more gap sets

Key = tuple[tuple[str, object], ...]
GapSets = Callable[[int], tuple[float, ...]]  # held-out gap set r


@dataclass(frozen=True)
class Cell:
    p95_ms: float  # pooled over the held-out gap sets
    errors: int
    resident_gb: float


@dataclass(frozen=True)
class Grid:
    table: dict[Key, Cell]
    repeats: int  # gap sets every point is scored on
    wall_s: float  # spent measuring it
    cached: bool  # read back from --grid-cache (in part at least)
    top_repeats: int = 0  # gap sets the contenders are scored on
    refined: int = 0  # how many points are contenders

    def feasible(self, budget_gb: float | None) -> list[float]:
        return [c.p95_ms for c in self.table.values() if _fits(c, budget_gb)]


def heldout(mean_gap: float, n: int) -> GapSets:
    """Gap set r of n gaps drawn from the profile with a seed the study never uses."""
    return lambda r: draw_gaps(mean_gap, n, HELDOUT_SEED + r)


def points(space: Space) -> list[dict[str, object]]:
    """Every point of the space (its dimensions are categorical; the timeout is derived, not searched)."""
    axes = [[(d.name, c) for c in d.choices] for d in space.dimensions]
    return [dict(point) for point in itertools.product(*axes)]


def key(params: dict[str, object]) -> Key:
    return tuple(sorted(params.items()))


def _fits(cell: Cell, budget_gb: float | None) -> bool:
    return cell.errors == 0 and (budget_gb is None or cell.resident_gb <= budget_gb)


def measure(
    target: Target,
    space: Space,
    gap_set: GapSets,
    *,
    repeats: int,
    top_repeats: int,
    budget_gb: float | None,
    cache: Path | None,
    scenario: dict[str, Any],
) -> Grid:
    """Score every point on ``repeats`` held-out gap sets (screening), then every feasible point within
    CONTENDER_MARGIN of the best again on ``top_repeats`` sets, until no unrefined point is that close: the
    points a search could call best are scored on the most requests, so the grid best is not merely the
    luckiest of hundreds of noisy screens (ranking and selection's usual two stages). With ``cache``, the
    cells measured before under the same scenario are read back and only what is missing is measured."""
    cells: dict[Key, dict[str, Any]] = {}
    wall = 0.0
    if cache is not None and cache.exists():
        stored = json.loads(cache.read_text(encoding="utf-8"))
        if stored.get("scenario") == scenario and stored.get("repeats") == repeats:
            cells = {key(c["params"]): {"sets": repeats, **c} for c in stored["cells"]}
            wall = float(stored["wall_s"])
    cached = bool(cells)
    t0 = time.perf_counter()

    def score(i: int, params: dict[str, object], n: int) -> dict[str, Any]:
        cfg = space.config(params)
        sets = [gap_set(r) for r in range(n)]
        totals: list[float] = []
        errors = 0
        for r, gaps in enumerate(sets):
            result = evaluate(target, cfg, gaps, prompt_offset=2_000_000 + 1000 * i + 100 * r)
            totals += result.totals
            errors += result.errors
        p95 = percentile(totals, 0.95) * 1000 if totals else WORST_MS
        memory = resident_gb(cfg, tuple(g for gaps in sets for g in gaps), space.facts.model_bytes)
        return {"params": params, "p95_ms": p95, "errors": errors, "resident_gb": memory, "sets": n}

    everything = points(space)
    for i, params in enumerate(everything):
        if key(params) not in cells:
            cells[key(params)] = score(i, params, repeats)
    index = {key(p): i for i, p in enumerate(everything)}
    while True:
        table = _table(list(cells.values()))
        best = min(c.p95_ms for c in table.values() if _fits(c, budget_gb))
        todo = [
            k
            for k, c in table.items()
            if _fits(c, budget_gb) and c.p95_ms <= CONTENDER_MARGIN * best and cells[k]["sets"] < top_repeats
        ]
        if not todo:
            break
        for k in todo:
            cells[k] = score(index[k], dict(k), top_repeats)
    measured = time.perf_counter() - t0
    if cache is not None and measured > 1.0:
        body = {
            "scenario": scenario,
            "repeats": repeats,
            "wall_s": wall + measured,
            "cells": list(cells.values()),
        }
        cache.write_text(json.dumps(body, indent=1) + "\n", encoding="utf-8")
    refined = sum(c["sets"] >= top_repeats > repeats for c in cells.values())
    return Grid(_table(list(cells.values())), repeats, wall + measured, cached, top_repeats, refined)


def _table(cells: list[dict[str, Any]]) -> dict[Key, Cell]:
    return {key(c["params"]): Cell(c["p95_ms"], c["errors"], c["resident_gb"]) for c in cells}


def pooled_p95(target: Target, config: Config, gap_set: GapSets, repeats: int) -> float:
    """A configuration's p95 (real seconds) pooled over ``repeats`` gap sets (the headline figures)."""
    totals: list[float] = []
    for r in range(repeats):
        totals += evaluate(target, config, gap_set(r), prompt_offset=500_000 + 1000 * r).totals
    return percentile(totals, 0.95)


def sampler_best(
    sampler: optuna.samplers.BaseSampler,
    space: Space,
    grid: Grid,
    trials: int,
    budget_gb: float | None,
) -> float:
    """The best feasible score a sampler finds in ``trials`` lookups, run the way the tool runs its study."""
    choices = {d.name: list(d.choices) for d in space.dimensions}
    study = optuna.create_study(sampler=sampler)
    study.enqueue_trial(space.baseline())
    found: list[float] = []

    def objective(t: optuna.Trial) -> float:
        cell = grid.table[key({k: t.suggest_categorical(k, c) for k, c in choices.items()})]
        t.set_constraint("errors", float(cell.errors))
        if budget_gb is not None:
            t.set_constraint("memory_gb", cell.resident_gb - budget_gb)
        if _fits(cell, budget_gb):
            found.append(cell.p95_ms)
        return cell.p95_ms

    study.optimize(objective, n_trials=trials)
    return min(found) if found else float("inf")


def compare(space: Space, grid: Grid, trials: int, seeds: int, budget_gb: float | None) -> dict[str, Any]:
    """Best-of-``trials`` ÷ grid best for the tool's sampler and for random search, seed by seed."""
    feasible = grid.feasible(budget_gb)
    best = min(feasible)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    tpe: list[float] = []
    rnd: list[float] = []
    for seed in range(seeds):
        for found, sampler in ((tpe, make_sampler(seed)), (rnd, optuna.samplers.RandomSampler(seed))):
            found.append(sampler_best(sampler, space, grid, trials, budget_gb) / best)
    wins = sum(a < b for a, b in zip(tpe, rnd, strict=True))
    ties = sum(a == b for a, b in zip(tpe, rnd, strict=True))
    return {
        "grid_points": len(grid.table),
        "grid_feasible_points": len(feasible),
        "grid_repeats": grid.repeats,
        "grid_top_repeats": grid.top_repeats,
        "grid_refined_points": grid.refined,
        "grid_wall_s": grid.wall_s,
        "grid_from_cache": grid.cached,
        "grid_best_ms": best,
        "grid_within_3pct": sum(v <= 1.03 * best for v in feasible),
        "best_over_grid": {
            "tpe (the tool's)": {"median": statistics.median(tpe), "max": max(tpe), "all": tpe},
            "random": {"median": statistics.median(rnd), "max": max(rnd), "all": rnd},
        },
        "tpe_beats_random": {"wins": wins, "ties": ties, "losses": seeds - wins - ties},
    }


def show(results: dict[str, Any], trials: int, seeds: int) -> None:
    cached = ", read from the cache" if results["grid_from_cache"] else ""
    print(
        f"grid: {results['grid_points']} points (> {trials} trials), "
        f"{results['grid_feasible_points']} feasible, each scored by the pooled p95 of "
        f"{results['grid_repeats']} held-out gap sets, the {results['grid_refined_points']} within "
        f"{CONTENDER_MARGIN - 1:.0%} of the best on {results['grid_top_repeats']} "
        f"({results['grid_wall_s']:.0f} s{cached}); best p95 "
        f"{results['grid_best_ms'] / 1000:.2f} s, {results['grid_within_3pct']} points within 3 % of it"
    )
    for name, r in results["best_over_grid"].items():
        print(
            f"{name:<18} best-of-{trials} / grid best: median {r['median']:.3f}, worst {r['max']:.3f} "
            f"over {seeds} seeds   target <= 1.03"
        )
    t = results["tpe_beats_random"]
    print(
        f"TPE better than random (best of {trials}): {t['wins']} of {seeds} seeds "
        f"({t['ties']} ties, {t['losses']} losses)   target >= 8"
    )
