"""CLI fixed costs: `chatchat-tune --help` start-up beside a bare interpreter's, and `apply --dry-run`.

`--help` and `python -c pass` are timed interleaved in one run (one of each per round), so a busy machine
slows both alike; the figure is the ratio of their medians. Target (issue 12): --help <= 4 x a bare
interpreter's start. apply --dry-run on the full 0.3.1 fixture: <= 0.3 s median (issue 3).
Usage: python benchmarks/bench_cli.py [--runs N] [--json PATH]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, copy_tree, emit, summary, time_command, tool_command

HEAVY = ("httpx", "rich", "optuna", "libcst", "ruamel", "plotly", "numpy", "llama_cpp", "sqlalchemy")
HELP_TARGET = 4.0


def side_by_side(commands: dict[str, list[str]], runs: int) -> dict[str, list[float]]:
    """Each command once per round, ``runs`` rounds: the same machine state for all of them."""
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, cmd in commands.items():
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, timeout=120)
            samples[name].append(time.perf_counter() - t0)
            if proc.returncode != 0:
                raise SystemExit(
                    f"{cmd} exited {proc.returncode}: {proc.stderr.decode(errors='replace')[-500:]}"
                )
    return samples


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--json", dest="json_path")
    args = ap.parse_args()
    tool = tool_command()
    timed = side_by_side(
        {
            "bare_interpreter": [sys.executable, "-c", "pass"],
            "help": [*tool, "--help"],
            "bench_help": [*tool, "bench", "--help"],
        },
        args.runs,
    )
    results: dict[str, object] = {name: summary(s) for name, s in timed.items()}
    bare = results["bare_interpreter"]
    assert isinstance(bare, dict)
    ratios = {}
    for name in ("help", "bench_help"):
        s = results[name]
        assert isinstance(s, dict)
        ratios[name] = s["median_s"] / bare["median_s"]
    results["help_over_bare"] = ratios["help"]
    results["bench_help_over_bare"] = ratios["bench_help"]
    modules = subprocess.run(
        [*tool, "--help"], capture_output=True, env={"PYTHONPROFILEIMPORTTIME": "1"}, text=True
    ).stderr
    loaded = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in modules.splitlines() if "|" in line}
    heavy = sorted(loaded & set(HEAVY))
    results["help_heavy_imports"] = heavy
    with tempfile.TemporaryDirectory() as tmp:
        root = copy_tree(ROOT / "fixtures" / "chatchat-0.3.1", Path(tmp) / "root")
        cmd = [
            *tool,
            "apply",
            "--root",
            str(root),
            "--dry-run",
            "--set",
            "api_timeout=42",
            "--set",
            "ollama_url[ollama]=http://127.0.0.1:11434/v1",
            "--set",
            "auto_detect_model[xinference]=false",
        ]
        results["apply_dry_run"] = summary(time_command(cmd, args.runs, ok=(0, 2)))
    print(f"{'what':<28}{'median':>10}{'min':>10}{'max':>10}   target")
    rows = (
        ("bare_interpreter", ""),
        ("help", f"<= {HELP_TARGET:g} x bare"),
        ("bench_help", f"<= {HELP_TARGET:g} x bare"),
        ("apply_dry_run", "<= 0.300 s"),
    )
    for key, target in rows:
        s = results[key]
        assert isinstance(s, dict)
        print(f"{key:<28}{s['median_s']:>10.3f}{s['min_s']:>10.3f}{s['max_s']:>10.3f}   {target}")
    for name, ratio in ratios.items():
        verdict = "ok" if ratio <= HELP_TARGET else "OVER TARGET"
        print(f"{name} / bare interpreter: {ratio:.1f} x  ({verdict})")
    print(f"heavy modules imported by --help: {heavy or 'none'}")
    emit(results, args.json_path)


if __name__ == "__main__":
    main()
