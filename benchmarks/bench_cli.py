"""CLI fixed costs: `chatchat-tune --help` start-up and `apply --dry-run` on the full 0.3.1 fixture.

Targets (issue 3): --help <= 0.15 s median; apply --dry-run <= 0.3 s median.
Usage: python benchmarks/bench_cli.py [--runs N] [--json PATH]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import ROOT, copy_tree, emit, summary, time_command, tool_command


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--json", dest="json_path")
    args = ap.parse_args()
    tool = tool_command()
    results: dict[str, object] = {}
    bare = time_command([sys.executable, "-c", "pass"], args.runs)
    results["bare_interpreter"] = summary(bare)
    results["help"] = summary(time_command([*tool, "--help"], args.runs))
    modules = subprocess.run(
        [*tool, "--help"], capture_output=True, env={"PYTHONPROFILEIMPORTTIME": "1"}, text=True
    ).stderr
    heavy = [m for m in ("optuna", "libcst", "plotly", "ruamel", "llama_cpp", "numpy") if f" {m}" in modules]
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
    for key, target in (("bare_interpreter", ""), ("help", "<= 0.150 s"), ("apply_dry_run", "<= 0.300 s")):
        s = results[key]
        assert isinstance(s, dict)
        print(f"{key:<28}{s['median_s']:>10.3f}{s['min_s']:>10.3f}{s['max_s']:>10.3f}   {target}")
    print(f"heavy modules imported by --help: {heavy or 'none'}")
    emit(results, args.json_path)


if __name__ == "__main__":
    main()
