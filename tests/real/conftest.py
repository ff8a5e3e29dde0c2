"""Fixtures for tests against a real Langchain-Chatchat 0.3.1.3 (its own venv, made on first use)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import chatchat_real as cr  # tests/real is on sys.path: pytest puts a conftest's folder there
import pytest


@pytest.fixture(scope="session")
def chatchat_venv() -> Path:
    """The Chatchat venv; the first run on a machine installs it (minutes)."""
    return cr.ensure_venv()


@pytest.fixture(scope="session")
def pristine_root(chatchat_venv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real `chatchat init` per session; tests get copies of it."""
    return cr.init_root(chatchat_venv, tmp_path_factory.mktemp("chatchat-pristine") / "root")


@pytest.fixture
def chatchat_root(pristine_root: Path, tmp_path: Path) -> Path:
    """A fresh init'd CHATCHAT_ROOT in tmp_path (a copy of the session's pristine init)."""
    return cr.copy_root(pristine_root, tmp_path / "chatchat-root")


@pytest.fixture
def stub_backend(tmp_path: Path) -> Iterator[cr.Backend]:
    """tests/real/stub_openai.py in its own process on a free loopback port."""
    with cr.stub_backend(tmp_path / "stub.log") as backend:
        yield backend
