"""Doctor tests: a lab per test (its own process), a fixture install copied to tmp and pointed at it."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURES, run_cli
from tuner.lab.process import LabProcess

# time_scale 0.1: cold load 0.2 s, 8 tokens in 8 ms (enough for the 2-vs-1 slot probe to see queueing).
CHAT = {
    "size_bytes": 4_400_000_000,
    "size_vram": 0,
    "load_seconds": 2.0,
    "prompt_tokens_per_s": 100_000.0,
    "gen_tokens_per_s": 100.0,
}
MODELS = [{"name": "qwen:7b", **CHAT}, {"name": "qwen2:7b", **CHAT}]
HERE = Path(__file__).resolve().parent


def dead_port() -> int:
    """A loopback port nobody listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def lab(start_lab: Callable[..., LabProcess]) -> Callable[..., LabProcess]:
    def start(**kwargs: Any) -> LabProcess:
        return start_lab(**{"time_scale": 0.1, "models": MODELS, "num_parallel": 2, **kwargs})

    return start


@pytest.fixture
def chatchat_stub() -> Iterator[Any]:
    procs: list[subprocess.Popen[str]] = []

    def start(upstream: str, delay: float) -> str:
        proc = subprocess.Popen(
            [sys.executable, str(HERE / "stub_chatchat.py"), upstream, str(delay)],
            stdout=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
        assert proc.stdout is not None
        return proc.stdout.readline().split()[-1]

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=5)


def copy_install(tmp_path: Path, name: str = "chatchat-0.3.1", *, api_port: int | None = None) -> Path:
    """A private copy whose Chatchat API address is a dead port (or ``api_port``), never a real 7861."""
    import shutil

    root = tmp_path / name
    shutil.copytree(FIXTURES / name, root)
    port = str(api_port or dead_port())
    for f in [*root.glob("basic_settings.yaml"), *root.glob("configs/server_config.py")]:
        f.write_text(f.read_text(encoding="utf-8").replace("7861", port), encoding="utf-8")
    return root


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def point(root: Path, url: str, entry: str = "ollama") -> None:
    run = run_cli("apply", "--root", str(root), "--set", f"ollama_url[{entry}]={url}")
    assert run.code == 0, run.err


def doctor(root: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any], str]:
    run = run_cli("doctor", "--root", str(root), "--json", *args, env=env)
    assert "Traceback" not in run.err, run.err
    assert run.code in (0, 3), run.err  # 0: nothing above info, 3: a finding at warn or error
    return run.code, json.loads(run.out), run.err


def first(report: dict[str, Any]) -> dict[str, Any]:
    assert report["findings"], "no finding"
    found: dict[str, Any] = report["findings"][0]
    return found


def codes(report: dict[str, Any]) -> list[str]:
    return [f["code"] for f in report["findings"]]
