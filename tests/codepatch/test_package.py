"""Finding the installed chatchat package without importing it."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tuner.codepatch import KNOWN_VERSIONS, ChatchatPackage, locate
from tuner.codepatch.package import _TAG, parse_probe
from tuner.errors import UserError


def probe_line(folder: str | None, version: str | None) -> str:
    return "noise\n" + _TAG + json.dumps({"python": "x", "folder": folder, "version": version}) + "\n"


def test_real_venv(shipped: ChatchatPackage) -> None:
    assert shipped.version in KNOWN_VERSIONS
    assert shipped.folder.name == "chatchat"
    assert shipped.file("server/utils.py").is_file()


def test_parse_probe_refuses_absent_and_unknown() -> None:
    py = Path("/x/python")
    assert parse_probe(probe_line("/s/chatchat", "0.3.1.3"), py).folder == Path("/s/chatchat")
    with pytest.raises(UserError, match="no `chatchat` package"):
        parse_probe(probe_line(None, None), py)
    with pytest.raises(UserError, match="cannot tell its version"):
        parse_probe(probe_line("/s/chatchat", None), py)
    with pytest.raises(UserError, match=r"0\.2\.10 is installed; the code patch knows only 0\.3\.1\.3"):
        parse_probe(probe_line("/s/chatchat", "0.2.10"), py)
    with pytest.raises(UserError, match="did not answer"):
        parse_probe("", py)


def test_missing_interpreter(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such interpreter"):
        locate(tmp_path / "nope" / "python")


def test_interpreter_without_chatchat() -> None:
    # The project's own venv has no chatchat.
    with pytest.raises(UserError, match="no `chatchat` package"):
        locate(Path(sys.executable), env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})


def test_locate_does_not_import_chatchat(tmp_path: Path) -> None:
    """A fake package whose import would leave a file behind, and a dist-info that names the version."""
    site = tmp_path / "site"
    sentinel = tmp_path / "imported"
    (site / "chatchat").mkdir(parents=True)
    (site / "chatchat" / "__init__.py").write_text(
        f"open({str(sentinel)!r}, 'w').close()\n", encoding="utf-8"
    )
    dist = site / "langchain_chatchat-0.3.1.3.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: langchain-chatchat\nVersion: 0.3.1.3\n", encoding="utf-8"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    pkg = locate(Path(sys.executable), env=env)
    assert pkg.folder == site / "chatchat"
    assert pkg.version == "0.3.1.3"
    assert not sentinel.exists()
