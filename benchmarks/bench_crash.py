"""Crash and concurrency safety of `apply`: kill -9 at random moments, and many applies at once.

Each kill round starts a real two-file apply (basic_settings.yaml and model_settings.yaml) on a fresh copy
of the 0.3.1 fixture and kills it with SIGKILL after a random delay (or, one round in four each, lets it die
at the writer's two crash points: after the temp files, after the first replace); then every file must be
wholly old or wholly new (never torn; "partial" counts rounds where one file was replaced and the other not
yet), and `rollback` must bring back the original bytes.
Each concurrency round starts N applies at once, each writing its own pair of values; afterwards the two
files must come from the same apply (never one file from one and the other from another).

Figures: corrupt files, unrestorable backups, mixed results (all must be 0), and how the rounds ended.
Usage: python benchmarks/bench_crash.py [--kills 200] [--rounds 3] [--writers 24] [--json PATH]
POSIX only (SIGKILL).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, copy_tree, emit, tool_command

FIXTURE = ROOT / "fixtures" / "chatchat-0.3.1"
FILES = ("basic_settings.yaml", "model_settings.yaml")
# One round in four dies at each of the writer's two crash points; the rest get SIGKILL at a random moment.
SEAMS = ("", "after-temp", "", "after-first-replace")


def _apply_cmd(tool: list[str], root: Path, n: int) -> list[str]:
    return [
        *tool,
        "apply",
        "--root",
        str(root),
        "--set",
        f"api_timeout={100 + n}",
        "--set",
        f"ollama_url[ollama]=http://127.0.0.1:{20000 + n}/v1",
    ]


def _values(root: Path) -> tuple[int | None, int | None]:
    """(timeout's n, url's n) as written by apply number n; None where the original value stands."""
    basic = (root / "basic_settings.yaml").read_text(encoding="utf-8")
    model = (root / "model_settings.yaml").read_text(encoding="utf-8")
    t = re.search(r"^HTTPX_DEFAULT_TIMEOUT: (\d+)(?:\.0)?\s*$", basic, re.M)
    u = re.search(r"api_base_url: http://127\.0\.0\.1:(2\d{4})/v1", model)
    timeout = int(t[1]) if t else 0
    return (timeout - 100 if 100 < timeout < 200 else None), (int(u[1]) - 20000 if u else None)


def kill_rounds(tool: list[str], kills: int, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    original = {name: (FIXTURE / name).read_bytes() for name in FILES}
    out = {
        "kills": 0,
        "finished_before_kill": 0,
        "corrupt": 0,
        "unrestorable": 0,
        "new": 0,
        "old": 0,
        "partial": 0,
    }
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(kills):
            root = copy_tree(FIXTURE, Path(tmp) / f"k{i}")
            env = {**os.environ}
            seam = SEAMS[i % len(SEAMS)]
            if seam:  # the process dies by itself at that point (the writer's test seam), else SIGKILL
                env["CHATCHAT_TUNE_CRASH_AT"] = seam
            proc = subprocess.Popen(
                _apply_cmd(tool, root, 1), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
            )
            time.sleep(rng.uniform(0.1, 1.0))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                out["kills"] += 1
            else:
                out["finished_before_kill"] += 1
            proc.wait()
            t, u = _values(root)
            changed = [(root / n).read_bytes() != original[n] for n in FILES]
            if (t is not None) != changed[0] or (u is not None) != changed[1]:
                out["corrupt"] += 1  # a file that is neither the original nor the new one
                continue
            out["new" if all(changed) else "old" if not any(changed) else "partial"] += 1
            if any(changed):
                subprocess.run([*tool, "rollback", "--root", str(root)], capture_output=True, timeout=60)
                if any((root / n).read_bytes() != original[n] for n in FILES):
                    out["unrestorable"] += 1
    return out


def concurrency_rounds(tool: list[str], rounds: int, writers: int) -> dict[str, int]:
    out = {"rounds": rounds, "writers": writers, "mixed": 0, "succeeded": 0, "refused_busy": 0, "other": 0}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            root = copy_tree(FIXTURE, Path(tmp) / f"c{r}")
            procs = [
                subprocess.Popen(_apply_cmd(tool, root, n), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                for n in range(1, writers + 1)
            ]
            for p in procs:
                _, err = p.communicate(timeout=120)
                if p.returncode == 0:
                    out["succeeded"] += 1
                elif b"another chatchat-tune is writing" in err or b"changed since" in err:
                    out["refused_busy"] += 1
                else:
                    out["other"] += 1
            t, u = _values(root)
            if t != u:
                out["mixed"] += 1
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--kills", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--writers", type=int, default=24)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", dest="json_path")
    args = ap.parse_args()
    if sys.platform == "win32":
        raise SystemExit("bench_crash needs SIGKILL (POSIX)")
    tool = tool_command()
    results = {
        "kill": kill_rounds(tool, args.kills, args.seed),
        "concurrent": concurrency_rounds(tool, args.rounds, args.writers),
    }
    for name, figures in results.items():
        print(f"{name}: " + ", ".join(f"{k} {v}" for k, v in figures.items()))
    emit(results, args.json_path)


if __name__ == "__main__":
    main()
