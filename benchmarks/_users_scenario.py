"""bench_search.py's multi-user scenario (issue 15): several users on one box, pool size and parallel slots.

Scenario: the lab's `gpu-7b` profile (its slots share the GPU along llama.cpp's batched-decoding curve and
each holds 235 MB of context for qwen2:7b), USERS users at once, each waiting an exponential idle gap (mean
GAP_S) before each of its requests, answers of TOKENS tokens, a --memory-budget of BUDGET_GB. Chatchat
0.3.1.3 with the code patch (`search --patch-code`): the space is keep_alive × HTTP keep-alive expiry ×
api_concurrencies × OLLAMA_NUM_PARALLEL (900 points). The lab compresses time by --time-scale.

1. defaults ÷ tuned p95: Chatchat as shipped with Ollama's defaults, against the tool's search (30 trials).
2. the exhaustive grid over the same space, every point measured once on the lab, then both samplers run
   on it as a lookup table: best-of-30 ÷ grid best (feasible points only: within the memory budget and
   without errors), and TPE's best against random search's, seed by seed.
3. the floor: one request alone on a warm model over a reused connection — no other user, so no queue and
   no shared slots. It is *not* a point of the space (no setting removes the other users).
"""

from __future__ import annotations

import itertools
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import optuna

from tuner.lab.process import LabProcess
from tuner.measure.stats import percentile
from tuner.search.session import SearchInputs, lab_time_scale, search
from tuner.search.space import Config, Space, resident_gb
from tuner.search.study import StudySpec, make_sampler
from tuner.search.trial import Target, evaluate

USERS = 8
GAP_S = 5.0
TOKENS = 128
PER_USER = 3
BUDGET_GB = 5.5
REPEATS = 4


def pooled_p95(target: Target, config: Config, gaps: tuple[float, ...], repeats: int = REPEATS) -> float:
    totals: list[float] = []
    for r in range(repeats):
        totals += evaluate(target, config, gaps, prompt_offset=500_000 + 1000 * r).totals
    return percentile(totals, 0.95)


def grid(space: Space) -> list[dict[str, object]]:
    axes = [[(d.name, c) for c in d.choices] for d in space.dimensions]  # every dimension is categorical
    return [dict(point) for point in itertools.product(*axes)]


def sampler_best(
    sampler: optuna.samplers.BaseSampler,
    choices: dict[str, list[object]],
    table: dict[tuple[Any, ...], tuple[float, bool]],
    trials: int,
) -> float:
    """The best feasible value a sampler finds in ``trials`` lookups (the tool also picks among feasible)."""
    study = optuna.create_study(sampler=sampler)
    found: list[float] = []

    def objective(t: optuna.Trial) -> float:
        key = tuple(sorted((k, t.suggest_categorical(k, c)) for k, c in choices.items()))  # type: ignore[arg-type]
        value, feasible = table[key]
        if feasible:
            found.append(value)
        return value

    study.optimize(objective, n_trials=trials)
    return min(found) if found else float("inf")


def run(args: Any) -> dict[str, Any]:
    results: dict[str, Any] = {}
    t0 = time.perf_counter()
    with LabProcess(profile="gpu-7b", time_scale=args.time_scale) as lab:
        root = lab.url
        scale = lab_time_scale(root)
        base_target = Target(root, "qwen2:7b", scale, max_tokens=TOKENS, users=USERS, server_settable=True)
        inputs = SearchInputs(
            target=base_target,
            generation="0.3.1",
            reuse=True,
            current_timeout=600.0,
            current_keep_alive="5m",
            mean_gap=GAP_S,
            gap_distribution="exponential",
            requests_per_trial=PER_USER * USERS,
            memory_free=False,
            answer_tokens=TOKENS,
            entry="ollama",
            configured_url=root + "/v1",
        )
        with tempfile.TemporaryDirectory() as tmp:
            spec = StudySpec(
                f"sqlite:///{Path(tmp) / 's.db'}",
                "bench-users",
                args.trials,
                seed=0,
                memory_budget_gb=BUDGET_GB,
            )
            outcome = search(inputs, spec, host="127.0.0.1")
        space, gaps = outcome.space, outcome.gaps
        tuned_cfg = outcome.verdict.winner.config
        base_cfg = space.config(space.baseline(), baseline=True)
        defaults = pooled_p95(base_target, base_cfg, gaps)
        tuned = pooled_p95(base_target, tuned_cfg, gaps)
        floor_cfg = Config("127.0.0.1", "-1", 600.0, 3600.0, 100, reuse=True)  # one user: the plain trial
        floor = pooled_p95(base_target, floor_cfg, (0.0,) * (PER_USER * USERS), repeats=1)
        model_bytes = space.facts.model_bytes
        results["scenario"] = {
            "profile": "gpu-7b",
            "time_scale": args.time_scale,
            "users": USERS,
            "idle_gap_mean_s": GAP_S,
            "tokens": TOKENS,
            "requests_per_user": PER_USER,
            "memory_budget_gb": BUDGET_GB,
            "trials": args.trials,
            "dimensions": {d.name: list(d.choices) for d in space.dimensions},
        }
        results["p95_s"] = {"defaults_as_shipped": defaults, "tuned": tuned, "floor_one_user_alone": floor}
        results["defaults_over_tuned"] = defaults / tuned
        results["tuned_over_floor"] = tuned / floor
        results["tuned_config"] = {k: v for k, v in tuned_cfg.__dict__.items()}
        results["tuned_resident_gb"] = resident_gb(tuned_cfg, gaps, model_bytes)
        points = grid(space)
        results["grid_points"] = len(points)
        table: dict[tuple[Any, ...], tuple[float, bool]] = {}
        g0 = time.perf_counter()
        for i, p in enumerate(points):
            cfg = space.config(p)
            r = evaluate(base_target, cfg, gaps, prompt_offset=2_000_000 + 100 * i)
            p95 = r.p95 * 1000 if r.totals else float("inf")
            feasible = r.errors == 0 and resident_gb(cfg, gaps, model_bytes) <= BUDGET_GB
            table[tuple(sorted(p.items()))] = (p95, feasible)
        results["grid_wall_s"] = time.perf_counter() - g0
        feasible_values = [v for v, ok in table.values() if ok]
        best = min(feasible_values)
        results["grid_feasible_points"] = len(feasible_values)
        results["grid_best_ms"] = best
        choices = {d.name: list(d.choices) for d in space.dimensions}
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        tpe, rnd = [], []
        for seed in range(args.seeds):
            tpe.append(sampler_best(make_sampler(seed), choices, table, args.trials) / best)
            rnd.append(sampler_best(optuna.samplers.RandomSampler(seed), choices, table, args.trials) / best)
        wins = sum(a < b for a, b in zip(tpe, rnd, strict=True))
        ties = sum(a == b for a, b in zip(tpe, rnd, strict=True))
        results["best_over_grid"] = {
            "tpe (the tool's)": {"median": statistics.median(tpe), "max": max(tpe), "all": tpe},
            "random": {"median": statistics.median(rnd), "max": max(rnd), "all": rnd},
        }
        results["tpe_beats_random"] = {"wins": wins, "ties": ties, "losses": args.seeds - wins - ties}
    results["wall_s"] = time.perf_counter() - t0
    return results


def show(results: dict[str, Any], trials: int, seeds: int) -> None:
    s, p = results["scenario"], results["p95_s"]
    dims = s["dimensions"]
    print(
        f"scenario: gpu-7b, {s['users']} users, idle gaps ~{s['idle_gap_mean_s']:g} s, {s['tokens']}-token "
        f"answers, memory budget {s['memory_budget_gb']} GB, code patch in, time scale {s['time_scale']}"
    )
    print(f"space: {len(dims)} dimensions: " + ", ".join(f"{k} {v}" for k, v in dims.items()))
    print(
        f"p95 (real s): defaults as shipped {p['defaults_as_shipped']:.2f}  tuned {p['tuned']:.2f}  "
        f"floor {p['floor_one_user_alone']:.2f} (one user alone, warm: not a point of the space)"
    )
    cfg = results["tuned_config"]
    print(
        f"tuned: keep_alive={cfg['keep_alive']} expiry={cfg['keepalive_expiry']:g} "
        f"api_concurrencies={cfg['max_connections']} num_parallel={cfg['num_parallel']} "
        f"resident {results['tuned_resident_gb']:.2f} GB"
    )
    print(f"defaults / tuned            {results['defaults_over_tuned']:.2f}")
    print(f"tuned / floor               {results['tuned_over_floor']:.2f}   (what the other users cost)")
    print(
        f"grid: {results['grid_points']} points (> {trials} trials), "
        f"{results['grid_feasible_points']} within budget, measured once each in "
        f"{results['grid_wall_s']:.0f} s; best p95 "
        f"{results['grid_best_ms'] / 1000:.2f} s"
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
    print(f"wall {results['wall_s']:.0f} s")
