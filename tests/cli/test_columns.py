"""Every command at 80 columns, in a real pseudo-terminal and in a pipe: no word, path, URL, `file:line` or
knob name is split in the middle, nothing is cut with an ellipsis, and prose lines fit the width.

The check: wrapping can split a token only at a line break, so the last word of each 80-column line joined
to the first word of the next must not be a token the wide runs (COLUMNS=1000, a pipe) print whole, unless
both pieces are tokens of their own. Measured figures may differ between runs; this check does not care.
"""

from __future__ import annotations

import fcntl
import itertools
import os
import pty
import re
import shutil
import struct
import subprocess
import sys
import termios
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, run_cli
from tuner.lab.process import LabProcess

WIDTH = 80
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def _env(columns: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CHATCHAT_ROOT", "HTTPX_DEFAULT_TIMEOUT")}
    env.update({"COLUMNS": str(columns), "LINES": "50", "TERM": "xterm-256color"})
    return env


def in_pipe(args: list[str], columns: int) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "tuner", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=_env(columns),
        timeout=180,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.stdout


def in_tty(args: list[str], columns: int = WIDTH) -> str:
    """stdout on a real pseudo-terminal of ``columns`` columns (stderr on a pipe)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tuner", *args],
        stdin=slave,
        stdout=slave,
        stderr=subprocess.PIPE,
        env=_env(columns),
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    _, err = proc.communicate(timeout=180)
    assert b"Traceback" not in err, err.decode(errors="replace")
    return ANSI.sub("", b"".join(chunks).decode("utf-8", errors="replace")).replace("\r\n", "\n")


def tokens(text: str) -> set[str]:
    """The words of ``text``; bare numbers left out (measured figures differ from run to run)."""
    return {t for t in text.split() if not re.fullmatch(r"[\W\d_]*", t)}


RUNS = itertools.count()


def fresh(args: list[str]) -> list[str]:
    """``args`` with ``{run}`` made unique: a study a run leaves behind must not change the next one."""
    n = next(RUNS)
    return [a.replace("{run}", str(n)) for a in args]


def assert_no_split(args: list[str], *, diff: bool = False) -> None:
    wide = tokens(in_pipe(fresh(args), 1000)) | tokens(in_pipe(fresh(args), 1000))
    for where, narrow in (("pipe", in_pipe(fresh(args), WIDTH)), ("tty", in_tty(fresh(args)))):
        assert "…" not in narrow, f"{where}: cut with an ellipsis\n{narrow}"
        lines = [line.split() for line in narrow.splitlines()]
        # Wrapping can split a token only at a line break: its two pieces end one line and start the next.
        split = [
            a[-1] + b[0]
            for a, b in itertools.pairwise(lines)
            if a and b and a[-1] + b[0] in wide and not (a[-1] in wide and b[0] in wide)
        ]
        assert not split, f"{args} in a {where}: split tokens {split[:10]}\n{narrow}"
        for line in narrow.splitlines():
            too_wide = len(line.rstrip()) > WIDTH and len(line.split()) > 1
            is_diff = diff and line[:1] in "+- @"
            assert not too_wide or is_diff, f"{args} in a {where}: line over {WIDTH} columns:\n{line}"


@pytest.fixture(scope="module")
def lab() -> Iterator[LabProcess]:
    with LabProcess(profile="cpu-7b", time_scale=0.01) as server:
        yield server


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory, lab: LabProcess) -> Path:
    dest = tmp_path_factory.mktemp("columns") / "chatchat install"
    shutil.copytree(FIXTURES / "chatchat-0.3.1", dest)
    run = run_cli("apply", "--root", str(dest), "--set", f"ollama_url[ollama]=http://127.0.0.1:{lab.port}/v1")
    assert run.code == 0, run.err
    return dest


HELP = [
    [],
    ["inspect"],
    ["apply"],
    ["rollback"],
    ["demo"],
    ["bench"],
    ["doctor"],
    ["search"],
    ["report"],
    ["warm"],
    ["lab"],
    ["lab", "serve"],
    ["lab", "profiles"],
]


@pytest.mark.parametrize("command", HELP, ids=lambda c: " ".join(c) or "root")
def test_help(command: list[str]) -> None:
    assert_no_split([*command, "--help"])


def test_inspect_apply_rollback_lab(root: Path) -> None:
    assert_no_split(["inspect", "--root", str(root)])
    assert_no_split(["apply", "--root", str(root), "--set", "api_timeout=77", "--dry-run"], diff=True)
    assert_no_split(["rollback", "--root", str(root), "--dry-run"])
    assert_no_split(["lab", "profiles"])


def test_bench_doctor_warm_search(root: Path, tmp_path: Path) -> None:
    assert_no_split(["bench", "--root", str(root), "-n", "3", "--path", "native"])
    assert_no_split(["doctor", "--root", str(root), "--budget", "4"])
    assert_no_split(["warm", "--root", str(root), "--keep-alive", "1m"])
    storage = "sqlite:///" + (tmp_path / "s.db").as_posix()
    search = [
        "search",
        "--root",
        str(root),
        "--trials",
        "2",
        "--idle-gap",
        "10m",
        "--requests-per-trial",
        "3",
    ]
    assert_no_split(
        [*search, "--storage", storage, "--study-name", "s{run}", "--out", str(tmp_path / "plan.json")]
    )
