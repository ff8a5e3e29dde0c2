"""Shared bits of the benchmark scripts: timing commands, medians, JSON output."""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def tool_command() -> list[str]:
    """The installed console script next to this interpreter, else ``python -m tuner``."""
    script = Path(sys.executable).parent / (
        "chatchat-tune.exe" if sys.platform == "win32" else "chatchat-tune"
    )
    return [str(script)] if script.exists() else [sys.executable, "-m", "tuner"]


def time_command(cmd: list[str], runs: int, ok: tuple[int, ...] = (0,)) -> list[float]:
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, timeout=120)
        samples.append(time.perf_counter() - t0)
        if proc.returncode not in ok:
            raise SystemExit(f"{cmd} exited {proc.returncode}: {proc.stderr.decode(errors='replace')[-500:]}")
    return samples


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_s": statistics.median(ordered),
        "min_s": ordered[0],
        "max_s": ordered[-1],
        "n": len(ordered),
    }


def copy_tree(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    return dest


def emit(results: dict[str, Any], json_path: str | None) -> None:
    if json_path:
        Path(json_path).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
