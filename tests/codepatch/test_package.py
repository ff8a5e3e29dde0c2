"""Finding the installed chatchat package without importing it, whatever its version."""

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
    assert shipped.label == f"langchain-chatchat {shipped.version}"
    assert shipped.folder.name == "chatchat"
    assert shipped.file("server/utils.py").is_file()


def test_parse_probe_locates_any_version() -> None:
    """The version is reported, never a gate: the function shapes decide (tuner.codepatch.shapes)."""
    py = Path("/x/python")
    for version in ("0.3.1.3", "0.3.1", "0.3.0.20240625.1", "0.2.10", "9.9"):
        pkg = parse_probe(probe_line("/s/chatchat", version), py)
        assert (pkg.folder, pkg.version, pkg.python) == (Path("/s/chatchat"), version, py)
    unknown = parse_probe(probe_line("/s/chatchat", None), py)
    assert unknown.version is None and unknown.label == "langchain-chatchat (version unknown)"


def test_parse_probe_refuses_a_missing_package() -> None:
    py = Path("/x/python")
    with pytest.raises(UserError, match="no `chatchat` package"):
        parse_probe(probe_line(None, None), py)
    with pytest.raises(UserError, match="did not answer"):
        parse_probe("", py)


def test_missing_interpreter(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such interpreter"):
        locate(tmp_path / "nope" / "python")


def test_interpreter_without_chatchat() -> None:
    # The project's own venv has no chatchat.
    with pytest.raises(UserError, match="no `chatchat` package"):
        locate(Path(sys.executable), env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})


def fake_site(tmp_path: Path, version: str | None) -> tuple[Path, Path]:
    """A fake package whose import would leave a file behind, and (if version) a dist-info naming it."""
    site = tmp_path / "site"
    sentinel = tmp_path / "imported"
    (site / "chatchat").mkdir(parents=True)
    (site / "chatchat" / "__init__.py").write_text(
        f"open({str(sentinel)!r}, 'w').close()\n", encoding="utf-8"
    )
    if version is not None:
        dist = site / f"langchain_chatchat-{version}.dist-info"
        dist.mkdir()
        (dist / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: langchain-chatchat\nVersion: {version}\n", encoding="utf-8"
        )
    return site, sentinel


@pytest.mark.parametrize("version", ["0.3.1.3", "0.3.0.20240625.1", None])
def test_locate_does_not_import_chatchat(tmp_path: Path, version: str | None) -> None:
    site, sentinel = fake_site(tmp_path, version)
    env = {**os.environ, "PYTHONPATH": str(site)}
    pkg = locate(Path(sys.executable), env=env)
    assert pkg.folder == site / "chatchat"
    assert pkg.version == version
    assert not sentinel.exists()
