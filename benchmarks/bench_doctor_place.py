"""What the place probes cost: ``doctor`` wall time and its own probe time (``probe.elapsed``) against its
default budget (8 s), without and with the probe where Chatchat runs.

Scenarios, each a fresh lab (``tiny`` profile, time_scale 0.1, the doctor tests' models) and a copy of the
0.3.1 fixture pointed at it:

- ``plain``: ``doctor`` as before (the model in VRAM: no placement probe beyond two ``/api/ps`` calls).
- ``offload``: the model half on the CPU (adds the one rate request).
- ``python``: ``--python`` this interpreter (the probe run by another interpreter on this machine).
- ``hung``: ``--exec "sh -c 'sleep 30' sh"``, a prefix that never runs the probe (killed at the cap).
- ``netns``: ``--exec 'ip netns exec NS'`` with the lab on 127.0.0.1 (unreachable from the namespace),
  only as root with ``ip`` (else skipped, said so).

Per scenario: median wall time of the command, the doctor's own ``probe.elapsed``, and the remote probe's
``place.seconds`` (interpreter start included). Figures, never asserted.

Usage: python benchmarks/bench_doctor_place.py [--runs N] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import ROOT, copy_tree, emit, tool_command

sys.path.insert(0, str(ROOT))
from tuner.lab.process import LabProcess

CHAT = {
    "size_bytes": 4_400_000_000,
    "size_vram": 4_400_000_000,
    "load_seconds": 2.0,
    "prompt_tokens_per_s": 100_000.0,
    "gen_tokens_per_s": 400.0,
}
HALF = {**CHAT, "size_vram": 2_200_000_000, "cpu_tokens_per_s": 20.0}
ENV = {**os.environ, "NO_PROXY": "127.0.0.1,localhost,::1", "COLUMNS": "200"}


def _models(chat: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"name": "qwen:7b", **chat}, {"name": "qwen2:7b", **chat}]


def _netns() -> tuple[str, list[list[str]]] | None:
    if shutil.which("ip") is None or not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    name = f"ccbench{os.getpid() % 10000}"
    steps = [["ip", "netns", "add", name], ["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"]]
    for step in steps:
        if subprocess.run(step, capture_output=True, check=False).returncode != 0:
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
            return None
    return name, [["ip", "netns", "del", name]]


def run(scenario: str, runs: int, extra: list[str], chat: dict[str, Any]) -> dict[str, Any]:
    walls, probes, places = [], [], []
    for _ in range(runs):
        lab_process = LabProcess("tiny", time_scale=0.1, models=_models(chat), num_parallel=2)
        with lab_process as lab, tempfile.TemporaryDirectory() as tmp:
            root = copy_tree(ROOT / "fixtures" / "chatchat-0.3.1", Path(tmp) / "r")
            url = f"ollama_url[ollama]=http://127.0.0.1:{lab.port}/v1"
            subprocess.run(
                [*tool_command(), "apply", "--root", str(root), "--set", url],
                check=True,
                capture_output=True,
                env=ENV,
            )
            t0 = time.perf_counter()
            proc = subprocess.run(
                [*tool_command(), "doctor", "--root", str(root), "--json", *extra],
                capture_output=True,
                text=True,
                env=ENV,
                timeout=120,
            )
            walls.append(time.perf_counter() - t0)
            report = json.loads(proc.stdout)
            probes.append(report["probe"]["elapsed"])
            place = report["probe"].get("place")
            if place:
                places.append(place["seconds"])
    out: dict[str, Any] = {
        "wall_median_s": statistics.median(walls),
        "probe_median_s": statistics.median(probes),
        "probe_max_s": max(probes),
        "budget_s": 8.0,
        "runs": runs,
    }
    if places:
        out["place_median_s"] = statistics.median(places)
    line = (
        f"{scenario:8s} wall {out['wall_median_s']:.2f} s  probe {out['probe_median_s']:.2f} s "
        f"(max {out['probe_max_s']:.2f} of 8 s)"
    )
    if places:
        line += f"  remote probe {out['place_median_s']:.2f} s"
    print(line, flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args()
    results: dict[str, Any] = {
        "plain": run("plain", args.runs, [], CHAT),
        "offload": run("offload", args.runs, [], HALF),
        "python": run("python", args.runs, ["--python", sys.executable], CHAT),
    }
    if shutil.which("sh"):  # a prefix that never runs the probe: bounded by the place cap (4 s)
        results["hung_prefix"] = run("hung", args.runs, ["--exec", "sh -c 'sleep 30' sh"], CHAT)
    ns = _netns()
    if ns is None:
        print("netns    skipped: needs root and the ip command")
    else:
        name, cleanup = ns
        try:
            results["netns"] = run("netns", args.runs, ["--exec", f"ip netns exec {name}"], CHAT)
        finally:
            for step in cleanup:
                subprocess.run(step, capture_output=True, check=False)
    emit(results, args.json_path)


if __name__ == "__main__":
    main()
