"""What the Chatchat code patch buys, through real Chatchat 0.3.1.3 in one run (lab as its Ollama).

    .venv/bin/python benchmarks/bench_codepatch.py [--requests 40] [--connect-delay 0.2] [--json PATH]

Chatchat runs from its own venv (scripts/setup-chatchat) with a private copy of its ``chatchat`` package
first on PYTHONPATH, so the shared venv is never patched. Its one platform points at the lab as
``http://localhost:PORT/v1``. The lab uses the ``zero`` profile (no model cost: what is left is HTTP and
Chatchat) at time_scale 1.

1. Windows-``localhost`` scenario: the lab's ``connect_delay`` (default 0.2 s) is paid on every new
   connection whose Host is ``localhost``. p50/p95 of ``/chat/chat/completions`` before and after the patch,
   and their ratio (target: after ≤ 1/3 of before at p50).
2. No fault: Chatchat's overhead over a direct ``/v1/chat/completions`` call to the lab (reused client),
   before and after (target: ≤ 8 ms p50 added after the patch).

Requests are non-streaming, ``max_tokens`` 16, sequential, with varied prompts; the bench client reuses one
connection to Chatchat (``tuner.measure.runner.run``), so what differs is Chatchat's side only.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from _common import ROOT, emit

sys.path.insert(0, str(ROOT / "tests" / "real"))

import chatchat_real as cr
from test_codepatch import copy_package

from tuner.codepatch import patch_state, plan_patch
from tuner.lab.process import LabProcess
from tuner.measure.runner import run
from tuner.measure.stats import summarize
from tuner.measure.workload import ClientSettings, PathKind, Workload

MODEL = "qwen2:7b"


def measure(base: str, path: PathKind, requests: int) -> dict[str, Any]:
    workload = Workload(
        path=path, model=MODEL, requests=requests, stream=False, max_tokens=16, warmup=3, seed=11
    )
    result = run(base, workload, ClientSettings(timeout=60.0, reuse_client=True))
    summary = summarize(result)
    total = summary.phase("total")
    if total is None or summary.ok != requests:
        raise SystemExit(f"{path} run at {base}: {summary.ok}/{requests} ok, errors {summary.errors}")
    return {"p50_ms": total.p50 * 1000, "p95_ms": total.p95 * 1000, "n": total.n}


def chatchat_side(
    root: Path, venv: Path, env: dict[str, str], lab: LabProcess, requests: int, connect_delay: float
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with cr.chatchat_api(root, venv, env=env) as base:
        lab.set_faults(connect_delay=connect_delay)
        lab.reset()
        out["localhost"] = measure(base, "chatchat", requests)
        out["localhost"]["lab_connections"] = lab.stats()["connections_opened"]
        lab.set_faults()
        out["no_fault"] = measure(base, "chatchat", requests)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--connect-delay", type=float, default=0.2)
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args()

    venv = cr.ensure_venv()
    with tempfile.TemporaryDirectory(prefix="bench-codepatch-") as tmp_name:
        tmp = Path(tmp_name)
        root = cr.init_root(venv, tmp / "root")
        copy = copy_package(venv, tmp / "pkg")
        pkg, env = copy.pkg, copy.env
        with LabProcess(profile="zero", time_scale=1.0, seed=5) as lab:
            cr.loopback_platforms(
                root,
                f"{lab.url_for('localhost')}/v1",
                llm_models=(MODEL,),
                embed_models=("quentinz/bge-large-zh-v1.5:latest",),
                api_port=cr.free_port(),
            )
            lab.set_faults()
            direct = measure(lab.url, "openai", args.requests)
            before = chatchat_side(root, venv, env, lab, args.requests, args.connect_delay)
            for path, _old, new in plan_patch(pkg):
                path.write_bytes(new)
            if patch_state(pkg).state != "applied":
                raise SystemExit("the patch did not apply to the copy")
            after = chatchat_side(root, venv, env, lab, args.requests, args.connect_delay)
            lab.set_faults()
            direct_again = measure(lab.url, "openai", args.requests)

    direct_p50 = min(direct["p50_ms"], direct_again["p50_ms"])
    results: dict[str, Any] = {
        "setup": {
            "chatchat": pkg.version,
            "lab_profile": "zero",
            "time_scale": 1.0,
            "connect_delay_s": args.connect_delay,
            "connect_delay_hosts": ["localhost"],
            "platform_url": "http://localhost:PORT/v1",
            "requests": args.requests,
            "stream": False,
            "max_tokens": 16,
        },
        "direct": {"first": direct, "last": direct_again},
        "before": before,
        "after": after,
        "localhost_p50_ratio": after["localhost"]["p50_ms"] / before["localhost"]["p50_ms"],
        "overhead_p50_ms": {
            "before": before["no_fault"]["p50_ms"] - direct_p50,
            "after": after["no_fault"]["p50_ms"] - direct_p50,
        },
    }
    print(
        f"Chatchat {pkg.version}, lab 'zero' profile, {args.requests} sequential non-streaming requests each"
    )
    print(f"localhost scenario (connect_delay {args.connect_delay} s on each new connection to 'localhost'):")
    for label in ("before", "after"):
        r = results[label]["localhost"]
        print(
            f"  {label:6s}  p50 {r['p50_ms']:8.1f} ms  p95 {r['p95_ms']:8.1f} ms  "
            f"lab connections {r['lab_connections']}"
        )
    print(f"  ratio after/before at p50: {results['localhost_p50_ratio']:.3f} (target ≤ 0.333)")
    print("no fault: Chatchat vs direct /v1 call to the same backend")
    print(
        f"  direct  p50 {direct['p50_ms']:8.1f} ms  p95 {direct['p95_ms']:8.1f} ms"
        f"  (again at the end: p50 {direct_again['p50_ms']:.1f} ms)"
    )
    for label in ("before", "after"):
        r = results[label]["no_fault"]
        print(
            f"  {label:6s}  p50 {r['p50_ms']:8.1f} ms  p95 {r['p95_ms']:8.1f} ms  "
            f"overhead p50 {results['overhead_p50_ms'][label]:6.1f} ms"
        )
    print("  target after: ≤ 8 ms p50 added")
    emit(results, args.json_path)


if __name__ == "__main__":
    main()
