"""Progress on a terminal, none in a pipe, never in --json: bench (even 3 requests) and every stage of
search, the first (measuring the baseline) and the last (re-measuring the winner) included."""

from __future__ import annotations

import fcntl
import os
import pty
import shutil
import struct
import subprocess
import sys
import termios
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.test_columns import ANSI, _env
from tests.conftest import FIXTURES, run_cli
from tuner.lab.process import LabProcess


def stderr_on_tty(args: list[str]) -> tuple[int, str, str]:
    """(exit code, stdout from a pipe, stderr from a real 100-column terminal)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 100, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tuner", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=slave,
        env=_env(100),
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    out, _ = proc.communicate(timeout=300)
    text = ANSI.sub("", b"".join(chunks).decode("utf-8", errors="replace"))
    return proc.returncode, out.decode("utf-8"), text


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with LabProcess(profile="cpu-7b", time_scale=0.01) as lab:
        dest = tmp_path_factory.mktemp("progress") / "chatchat"
        shutil.copytree(FIXTURES / "chatchat-0.3.1", dest)
        run = run_cli(
            "apply", "--root", str(dest), "--set", f"ollama_url[ollama]=http://127.0.0.1:{lab.port}/v1"
        )
        assert run.code == 0, run.err
        yield dest


def test_bench_shows_a_bar_on_a_terminal_even_for_three_requests(root: Path) -> None:
    code, out, err = stderr_on_tty(["bench", "--root", str(root), "-n", "3", "--path", "native", "--json"])
    assert code == 0, err
    assert "native http://127.0.0.1" in err and "/3" in err  # the bar: label and n/3
    assert out.lstrip().startswith("{")  # the JSON is untouched
    piped = run_cli("bench", "--root", str(root), "-n", "3", "--path", "native", "--json")
    assert piped.code == 0 and piped.err == ""  # nothing in a pipe


def test_search_shows_the_first_and_last_stages(root: Path, tmp_path: Path) -> None:
    storage = "sqlite:///" + (tmp_path / "s.db").as_posix()
    args = ["search", "--root", str(root), "--trials", "2", "--requests-per-trial", "3", "--storage", storage]
    code, _, err = stderr_on_tty(args)
    assert code == 0, err
    assert "measuring cold-load and answer times" in err
    assert "re-measuring the best against the current settings" in err
    assert "0:00:0" in err  # the live line's elapsed time / time left
