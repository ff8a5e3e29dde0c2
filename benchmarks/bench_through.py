"""The multi-user winner through real Chatchat 0.3.1.3 (code patch applied), beside the direct figure.

    .venv/bin/python benchmarks/bench_through.py [--users 4] [--time-scale 1] [--trials 6] [--json PATH]

Issue 15's bar: "the tuned p95 through real Chatchat (code patch applied) is reported beside the direct
figure for the same workload". ``search --users N`` runs its study against the lab (``gpu-7b`` profile,
Chatchat's one platform pointed at it), then plays the winner twice with the same users, gaps and prompts:
directly against the lab, and through Chatchat's ``/chat/chat/completions``. Chatchat runs from its own venv
(scripts/setup-chatchat) with a private, patched copy of its ``chatchat`` package first on PYTHONPATH, so the
shared venv is never changed; its settings: ``api_concurrencies`` = the users, ``api_keepalive_expiry`` 30 s.

The lab runs at ``--time-scale`` (default 1: real time). At a smaller scale the model's work is compressed
but Chatchat's own processing is wall time, so it counts 1/scale times over in the figures — the reason
this benchmark runs in real time and keeps the answers short (32 tokens).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import ROOT, emit

sys.path.insert(0, str(ROOT / "tests" / "real"))

import chatchat_real as cr
from test_codepatch import configure, copy_package

from tuner.codepatch import patch_state, plan_patch
from tuner.lab.process import LabProcess
from tuner.search.run import SearchRequest, run_search
from tuner.search.trial import TrialResult


def figures(result: TrialResult) -> dict[str, Any]:
    return {"p50_s": result.p50, "p95_s": result.p95, "requests": len(result.totals), "errors": result.errors}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=4)
    ap.add_argument("--time-scale", type=float, default=1.0)
    ap.add_argument("--trials", type=int, default=6)
    ap.add_argument("--idle-gap", type=float, default=2.0, help="mean idle gap per user, real seconds")
    ap.add_argument("--per-user", type=int, default=3, help="requests per user per trial")
    ap.add_argument("--json", dest="json_path")
    args = ap.parse_args()

    t0 = time.perf_counter()
    venv = cr.ensure_venv()
    with tempfile.TemporaryDirectory(prefix="bench-through-") as tmp_name:
        tmp = Path(tmp_name)
        root = cr.init_root(venv, tmp / "root")
        copy = copy_package(venv, tmp / "pkg")
        for path, _before, after in plan_patch(copy.pkg):
            path.write_bytes(after)
        if patch_state(copy.pkg).state != "applied":
            raise SystemExit("the code patch did not apply to the package copy")
        with LabProcess(profile="gpu-7b", time_scale=args.time_scale, seed=5) as lab:
            configure(root, lab.url, {"api_concurrencies": args.users, "api_keepalive_expiry": 30.0})
            # The tool reads the code-patch state by asking Chatchat's interpreter where its package is: the
            # copy, first on PYTHONPATH, as Chatchat's own processes see it.
            os.environ["PYTHONPATH"] = copy.env["PYTHONPATH"]
            with cr.chatchat_api(root, venv, env=copy.env):
                lab.reset()
                searched = run_search(
                    SearchRequest(
                        root=root,
                        python=cr.venv_python(venv),
                        mean_gap=args.idle_gap,
                        requests_per_trial=args.per_user * args.users,
                        trials=args.trials,
                        storage=f"sqlite:///{tmp / 's.db'}",
                        users=args.users,
                        max_tokens=32,
                    )
                )
    through = searched.through
    if through is None:
        raise SystemExit("the winner was not re-measured through Chatchat (its API did not answer)")
    if not through.patched:
        print("warning: the tool did not see the code patch in Chatchat's package", file=sys.stderr)
    winner = searched.outcome.verdict.winner.config
    direct = figures(through.direct)
    chatchat = figures(through.chatchat)
    results: dict[str, Any] = {
        "setup": {
            "chatchat": copy.pkg.version,
            "code_patch": "applied" if through.patched else "not seen by the tool",
            "lab_profile": "gpu-7b",
            "time_scale": args.time_scale,
            "users": args.users,
            "idle_gap_mean_s": args.idle_gap,
            "requests_per_user": args.per_user,
            "max_tokens": 32,
            "trials": args.trials,
        },
        "winner": {
            "keep_alive": winner.keep_alive,
            "keepalive_expiry_s": winner.keepalive_expiry,
            "api_concurrencies": winner.max_connections,
            "num_parallel": winner.num_parallel,
        },
        "direct": direct,
        "through_chatchat": chatchat,
        "chatchat_adds_p95_s": chatchat["p95_s"] - direct["p95_s"],
        "chatchat_over_direct_p95": chatchat["p95_s"] / direct["p95_s"],
        "lines": list(through.lines()),
        "wall_s": time.perf_counter() - t0,
    }
    print(
        f"Chatchat {copy.pkg.version} with the code patch, lab gpu-7b at time scale {args.time_scale:g}, "
        f"{args.users} users, idle gaps ~{args.idle_gap:g} s, 32-token answers, {args.trials} trials"
    )
    print("winner: " + ", ".join(f"{k}={v}" for k, v in results["winner"].items()))
    for line in through.lines():
        print(line)
    print(
        f"p95 direct {direct['p95_s']:.2f} s, through Chatchat {chatchat['p95_s']:.2f} s "
        f"(×{results['chatchat_over_direct_p95']:.2f}); "
        f"p50 {direct['p50_s']:.2f} s vs {chatchat['p50_s']:.2f} s"
    )
    print(f"wall {results['wall_s']:.0f} s")
    emit(results, args.json_path)


if __name__ == "__main__":
    main()
