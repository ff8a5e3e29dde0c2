"""Shared test helpers: fixture installs copied to tmp, and the CLI run as a real subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tuner.lab.process import LabProcess

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"


# What chooses the language of messages (tuner/i18n.py): never inherited from the machine running the tests.
LANGUAGE_VARIABLES = ("CHATCHAT_TUNE_LANG", "LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE")


PROXY_VARIABLES = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
)


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test's traffic stays on loopback: no proxy inherited from the machine, loopback never proxied
    (a test that is about proxies sets its own)."""
    for var in PROXY_VARIABLES:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost,::1")


@pytest.fixture
def start_lab() -> Iterator[Callable[..., LabProcess]]:
    """Start lab servers (``LabProcess``'s arguments, the profile first, ``tiny`` by default); every one
    started is stopped after the test. The packages' ``lab`` fixtures add their defaults to it."""
    from tuner.lab.process import LabProcess

    labs: list[LabProcess] = []

    def start(profile: str = "tiny", **kwargs: Any) -> LabProcess:
        lab = LabProcess(profile, **kwargs).start()
        labs.append(lab)
        return lab

    yield start
    for lab in labs:
        lab.stop()


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> Run:
    """``python -m tuner ARGS`` in its own process, as a user runs it."""
    full_env = {
        k: v
        for k, v in os.environ.items()
        if k.upper() not in ("CHATCHAT_ROOT", "HTTPX_DEFAULT_TIMEOUT", *LANGUAGE_VARIABLES)
    }
    if not any(var in (env or {}) for var in LANGUAGE_VARIABLES):
        full_env["CHATCHAT_TUNE_LANG"] = "en"  # tests read English unless they choose (a Chinese CI locale)
    full_env.update(env or {})
    full_env.setdefault("COLUMNS", "200")
    proc = subprocess.run(
        [sys.executable, "-m", "tuner", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=full_env,
        cwd=cwd,
        timeout=120,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def install(tmp_path: Path):  # type: ignore[no-untyped-def]
    """``install("chatchat-0.3.1")`` → a private copy of that fixture install."""

    def copy(name: str) -> Path:
        dest = tmp_path / name
        if not dest.exists():
            shutil.copytree(FIXTURES / name, dest)
        return dest

    return copy


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".chatchat-tune" not in p.parts
    }


# --- hostile input: what a refusal must look like -----------------------------------------------------------


def tree_digest(folder: Path) -> dict[str, str]:
    """Every entry under ``folder`` (files by content, links by target, folders, FIFOs): a refusal must
    leave this identical. Symlinks are not followed, so a link that points outside is recorded, not read."""
    import hashlib
    import stat as st

    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        for name in sorted(dirnames + filenames):
            p = Path(dirpath) / name
            rel = p.relative_to(folder).as_posix()
            info = p.lstat()
            if st.S_ISLNK(info.st_mode):
                out[rel] = "link:" + os.readlink(p)
            elif st.S_ISREG(info.st_mode):
                out[rel] = f"file:{st.S_IMODE(info.st_mode):o}:" + hashlib.sha256(p.read_bytes()).hexdigest()
            else:
                out[rel] = f"other:{st.S_IFMT(info.st_mode):o}"
    return out


def assert_refused(run: Run, *needles: str) -> None:
    """Exit 1, one line on stderr naming what was wrong (each needle appears), no traceback anywhere."""
    assert run.code == 1, (run.code, run.out[-2000:], run.err[-2000:])
    assert "Traceback" not in run.err and "Traceback" not in run.out, run.err
    lines = [line for line in run.err.splitlines() if line.strip()]
    assert len(lines) == 1, run.err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
