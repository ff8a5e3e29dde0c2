"""bench_search.py's multi-user scenario (issue 15): several users on one box, pool size and parallel slots.

Scenario: the lab's `gpu-7b` profile (its slots share the GPU along llama.cpp's batched-decoding curve and
each holds 235 MB of context for qwen2:7b), USERS users at once, each waiting an exponential idle gap (mean
GAP_S) before each of its requests, answers of TOKENS tokens, a --memory-budget of BUDGET_GB. Chatchat
0.3.1.3 with the code patch (`search --patch-code`): the space is keep_alive × HTTP keep-alive expiry ×
api_concurrencies × OLLAMA_NUM_PARALLEL (900 points). The lab compresses time by --time-scale.

1. defaults ÷ tuned p95: Chatchat as shipped with Ollama's defaults, against the tool's search (30 trials).
2. the exhaustive grid over the same space, every point measured on the lab on GRID_REPEATS held-out gap
   sets (seeds the study never saw) and scored by the pooled p95, then both samplers run on it as a lookup
   table: best-of-30 ÷ grid best (feasible points only: within the memory budget and without errors), and
   TPE's best against random search's, seed by seed. The sampler is told what the tool tells it: each
   trial's errors and memory excess as Optuna constraints (``Trial.set_constraint``), so an infeasible
   point that is fast does not draw it. ``--grid-cache FILE`` keeps the measured grid (JSON) and reuses it
   when the scenario matches, so the sampler comparison can be rerun without measuring again.
3. the floor: one request alone on a warm model over a reused connection — no other user, so no queue and
   no shared slots. It is *not* a point of the space (no setting removes the other users).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import _grid

from tuner.lab.process import LabProcess
from tuner.search.session import SearchInputs, lab_time_scale, search
from tuner.search.space import Config, resident_gb
from tuner.search.study import StudySpec
from tuner.search.trial import Target

USERS = 8
GAP_S = 5.0
TOKENS = 128
PER_USER = 3
BUDGET_GB = 5.5
REPEATS = 4


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
        heldout = _grid.heldout(GAP_S, PER_USER * USERS)
        defaults = _grid.pooled_p95(base_target, base_cfg, heldout, REPEATS)
        tuned = _grid.pooled_p95(base_target, tuned_cfg, heldout, REPEATS)
        floor_cfg = Config("127.0.0.1", "-1", 600.0, 3600.0, 100, reuse=True)  # one user: the plain trial
        floor = _grid.pooled_p95(base_target, floor_cfg, lambda r: (0.0,) * (PER_USER * USERS), 1)
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
            "timeout_s": space.timeout,  # derived, not searched (docs/search.md)
            "dimensions": {d.name: list(d.choices) for d in space.dimensions},
        }
        results["p95_s"] = {"defaults_as_shipped": defaults, "tuned": tuned, "floor_one_user_alone": floor}
        results["defaults_over_tuned"] = defaults / tuned
        results["tuned_over_floor"] = tuned / floor
        results["tuned_config"] = {k: v for k, v in tuned_cfg.__dict__.items()}
        results["tuned_resident_gb"] = resident_gb(tuned_cfg, gaps, model_bytes)
        grid = _grid.measure(
            base_target,
            space,
            heldout,
            repeats=args.grid_repeats,
            top_repeats=args.grid_top_repeats,
            budget_gb=BUDGET_GB,
            cache=Path(args.grid_cache) if args.grid_cache else None,
            scenario={k: v for k, v in results["scenario"].items() if k != "trials"},
        )
        results.update(_grid.compare(space, grid, args.trials, args.seeds, BUDGET_GB))
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
    _grid.show(results, trials, seeds)
    print(f"wall {results['wall_s']:.0f} s")
