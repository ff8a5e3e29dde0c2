"""The single-user bar of issue 15, on days the study did not see, and the tool's own cost per trial.

1. The study on the lab's localhost + cold-load scenario (gpu-7b: 2.5 s cold load; 2 s before the first
   response on each new connection named `localhost`; idle gaps ~10 min, exponential; keep_alive 5m;
   Chatchat 0.3.1.3 as shipped: a new client per request, its construction paid for real). The verdict's
   figures are the held-out ones (gaps drawn with another seed).         target: defaults ÷ tuned >= 5
   Then the winner and the defaults re-measured side by side on three more fresh gap sets of the same
   profile (seeds the study never used), as the issue measured them.
2. The tool's own CPU per trial and storage commits per trial, before and after one shared SSL context for
   its own plain-http clients and one write for a trial's results: "before" puts the old behaviour back for
   the run (a new SSL context per client, one write per figure) in this process.

    python benchmarks/bench_heldout.py [--trials 30] [--requests-per-trial 40] [--time-scale 0.05]
                                       [--json PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import math
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from _common import emit
from sqlalchemy import event
from sqlalchemy.engine import Engine

import tuner.measure.ollama
import tuner.search.study
import tuner.search.trial
from tuner.lab.process import LabProcess
from tuner.measure.stats import percentile
from tuner.measure.workload import draw_gaps
from tuner.search.session import HELDOUT_SEED, SearchInputs, lab_time_scale, search
from tuner.search.space import Config, Facts, build_space
from tuner.search.study import StudySpec, run_study
from tuner.search.trial import Target, evaluate

FRESH_SEEDS = (7_000_001, 7_000_002, 7_000_003)


def pooled_p95(target: Target, config: Config, mean_gap: float, n: int, seed: int, repeats: int = 3) -> float:
    totals: list[float] = []
    for r in range(repeats):
        gaps = draw_gaps(mean_gap, n, seed + r)
        totals += evaluate(target, config, gaps, prompt_offset=900_000 + 1000 * r).totals
    return percentile(totals, 0.95)


_COMMITS = [0]  # every commit Optuna's RDB storage makes (its reads commit too)
_ATTR_WRITES = [0]  # INSERT/UPDATE statements on the trial attribute tables: the trial's results


@event.listens_for(Engine, "commit")
def _count(_conn: Any) -> None:
    _COMMITS[0] += 1


@event.listens_for(Engine, "before_cursor_execute")
def _count_writes(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
    if statement.startswith(("INSERT", "UPDATE")) and "trial_" in statement and "attributes" in statement:
        _ATTR_WRITES[0] += 1


def _old_record(trial: Any, result: Any, memory: float) -> None:
    """The trial's figures as before: one user attribute, one storage write, per figure."""
    trial.set_user_attr("p50_ms", result.p50 * 1000 if math.isfinite(result.p50) else None)
    trial.set_user_attr("p95_ms", result.p95 * 1000 if math.isfinite(result.p95) else None)
    trial.set_user_attr("errors", result.errors)
    trial.set_user_attr("error_kinds", list(result.error_kinds))
    trial.set_user_attr("error_reason", result.reason)
    trial.set_user_attr("cold_loads", result.cold_loads)
    trial.set_user_attr("new_connections", result.new_connections)
    trial.set_user_attr("resident_gb", memory)
    trial.set_user_attr("totals_ms", [round(t * 1000, 3) for t in result.totals])


@contextlib.contextmanager
def before_fixes() -> Iterator[None]:
    """A new SSL context (certificates loaded) for each of the tool's own clients, one write per figure."""
    saved = (
        tuner.measure.ollama.shared_context,
        tuner.search.trial.shared_context,
        tuner.search.study.record,
    )
    tuner.measure.ollama.shared_context = lambda: True  # type: ignore[assignment,return-value]
    tuner.search.trial.shared_context = lambda: True  # type: ignore[assignment,return-value]
    tuner.search.study.record = _old_record
    try:
        yield
    finally:
        (
            tuner.measure.ollama.shared_context,
            tuner.search.trial.shared_context,
            tuner.search.study.record,
        ) = saved


def cost_per_trial(target: Target, trials: int, n: int) -> dict[str, float]:
    """CPU seconds of this process and storage commits, per trial (a patched install: no Chatchat client
    is built per request, so the figure is the tool's own)."""
    facts = Facts("0.3.1", "localhost", True, 2.5, 0.5, 4_400_000_000, 600.0)
    space = build_space(facts)
    gaps = draw_gaps(600.0, n, 0)
    with tempfile.TemporaryDirectory() as tmp:
        spec = StudySpec(f"sqlite:///{Path(tmp) / 'cost.db'}", "cost", trials, seed=0)
        run_study(StudySpec(spec.storage, "warm-up", 1), space, target, gaps, gaps)
        commits, writes, cpu = _COMMITS[0], _ATTR_WRITES[0], time.process_time()
        run_study(spec, space, target, gaps, gaps)
        return {
            "cpu_ms_per_trial": (time.process_time() - cpu) / trials * 1000,
            "commits_per_trial": (_COMMITS[0] - commits) / trials,
            "result_writes_per_trial": (_ATTR_WRITES[0] - writes) / trials,
        }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=30)
    ap.add_argument("--requests-per-trial", type=int, default=40)
    ap.add_argument("--time-scale", type=float, default=0.05)
    ap.add_argument("--cost-trials", type=int, default=10)
    ap.add_argument("--json", dest="json_path")
    args = ap.parse_args()
    results: dict[str, Any] = {"schema_version": 1}
    t0 = time.perf_counter()
    n = args.requests_per_trial
    with LabProcess(profile="gpu-7b", time_scale=args.time_scale, faults={"connect_delay": 2.0}) as lab:
        root = lab.url_for("localhost")
        target = Target(root, "qwen2:7b", lab_time_scale(root))
        inputs = SearchInputs(
            target, "0.3.1", False, 600.0, "5m", 600.0, "exponential", n,
            memory_free=False, entry="ollama", configured_url=root + "/v1",
        )  # fmt: skip
        with tempfile.TemporaryDirectory() as tmp:
            spec = StudySpec(f"sqlite:///{Path(tmp) / 's.db'}", "bench", args.trials, seed=0)
            outcome = search(inputs, spec, host="localhost")
        v = outcome.verdict
        base_cfg, win_cfg = v.baseline.config, v.winner.config
        fresh = []
        for seed in FRESH_SEEDS:
            d = pooled_p95(target, base_cfg, 600.0, n, seed)
            w = pooled_p95(target, win_cfg, 600.0, n, seed)
            fresh.append({"seed": seed, "defaults_p95_s": d, "tuned_p95_s": w, "defaults_over_tuned": d / w})
        results["scenario"] = {
            "profile": "gpu-7b", "time_scale": args.time_scale, "connect_delay_s": 2.0,
            "idle_gap_mean_s": 600, "trials": args.trials, "requests_per_trial": n,
        }  # fmt: skip
        results["tuned"] = {"host": win_cfg.host, "keep_alive": win_cfg.keep_alive, "label": v.winner.label}
        results["heldout"] = {
            "seed": spec.seed + HELDOUT_SEED,
            "requests": outcome.heldout_requests,
            "defaults_p95_s": v.baseline.p95,
            "tuned_p95_s": v.winner.p95,
            "defaults_over_tuned": 1 / v.ratio if v.ratio > 0 else None,
            "ci_ratio": list(v.ci),
        }
        if outcome.tuned_p95 is not None:
            results["study_gaps"] = {
                "defaults_p95_s": outcome.tuned_p95[0],
                "tuned_p95_s": outcome.tuned_p95[1],
                "defaults_over_tuned": outcome.tuned_p95[0] / outcome.tuned_p95[1],
            }
        results["fresh"] = fresh
        results["reasons"] = list(outcome.recommendation.reasons)
        after = cost_per_trial(target, args.cost_trials, n)
        with before_fixes():
            before = cost_per_trial(target, args.cost_trials, n)
        results["cost_per_trial"] = {"before": before, "after": after}
    results["wall_s"] = time.perf_counter() - t0
    h = results["heldout"]
    print(
        "scenario: gpu-7b + localhost 2 s per new connection, idle gaps ~10 min, time scale", args.time_scale
    )
    print(f"{args.trials} trials × {n} requests; tuned: host={win_cfg.host} keep_alive={win_cfg.keep_alive}")
    if "study_gaps" in results:
        s = results["study_gaps"]
        print(
            f"study's own gaps: defaults p95 {s['defaults_p95_s']:.2f} s, tuned {s['tuned_p95_s']:.2f} s, "
            f"÷ {s['defaults_over_tuned']:.1f}"
        )
    print(
        f"held-out (seed {h['seed']}, {h['requests']} requests each): "
        f"defaults p95 {h['defaults_p95_s']:.2f} s, "
        f"tuned {h['tuned_p95_s']:.2f} s, defaults ÷ tuned {h['defaults_over_tuned']:.1f}   target >= 5"
    )
    for f in fresh:
        print(
            f"fresh gaps seed {f['seed']}: defaults {f['defaults_p95_s']:.2f} s, "
            f"tuned {f['tuned_p95_s']:.2f} s, ÷ {f['defaults_over_tuned']:.1f}"
        )
    for reason in results["reasons"]:
        print(f"  - {reason}")
    c = results["cost_per_trial"]
    print(
        f"tool's own cost per trial ({n} requests): CPU {c['before']['cpu_ms_per_trial']:.0f} ms → "
        f"{c['after']['cpu_ms_per_trial']:.0f} ms; attribute writes (committed one by one) "
        f"{c['before']['result_writes_per_trial']:.0f} → {c['after']['result_writes_per_trial']:.0f} (the "
        f"results, and the errors constraint Optuna's sampler reads); all storage commits, reads included, "
        f"{c['before']['commits_per_trial']:.1f} → {c['after']['commits_per_trial']:.1f}"
    )
    print(f"wall {results['wall_s']:.0f} s")
    emit(results, args.json_path)


if __name__ == "__main__":
    main()
