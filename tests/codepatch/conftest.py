"""Fixtures for the code patch's unit tests: the real 0.3.1.3 source, read from the Chatchat venv."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import shutil
from pathlib import Path

import pytest

from tuner.codepatch import ChatchatPackage, locate

REPO = Path(__file__).resolve().parents[2]


def _venv_python() -> Path:
    """The Chatchat venv's python, where scripts/setup-chatchat puts it (the script is the one source)."""
    loader = importlib.machinery.SourceFileLoader(
        "_setup_chatchat_cp", str(REPO / "scripts" / "setup-chatchat")
    )
    spec = importlib.util.spec_from_loader("_setup_chatchat_cp", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return Path(module.venv_python(Path(module.cache_dir()) / "venv"))


@pytest.fixture(scope="session")
def shipped() -> ChatchatPackage:
    """The installed langchain-chatchat 0.3.1.3 (never written to by these tests)."""
    python = _venv_python()
    if not python.exists():
        pytest.skip(f"no Chatchat venv at {python}: run `python3 scripts/setup-chatchat` (CI always has it)")
    return locate(python)


@pytest.fixture
def pkg(shipped: ChatchatPackage, tmp_path: Path) -> ChatchatPackage:
    """A private package folder holding a copy of the shipped server/utils.py."""
    folder = tmp_path / "site-packages" / "chatchat"
    (folder / "server").mkdir(parents=True)
    shutil.copy2(shipped.file("server/utils.py"), folder / "server" / "utils.py")
    return ChatchatPackage(folder=folder, version=shipped.version, python=shipped.python)
