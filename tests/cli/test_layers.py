"""The CLI's shape, pinned: the commands it registers, who may import it, and what `--help` loads."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO
from tuner.cli.app import app

PACKAGE = REPO / "tuner"
HEAVY = ("optuna", "libcst", "ruamel", "plotly", "numpy", "llama_cpp")


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_the_commands_registered_in_help_order() -> None:
    names = [c.name for c in app.registered_commands]
    assert names == [
        "inspect",
        "apply",
        "rollback",
        "demo",
        "bench",
        "doctor",
        "search",
        "report",
        "warm",
        "watch",
    ]
    assert [g.name for g in app.registered_groups] == ["lab"]


def test_the_core_never_imports_the_cli_and_no_command_imports_the_app() -> None:
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        imported = _imports(path)
        if not rel.startswith("cli/") and rel != "__main__.py":
            assert not {m for m in imported if m == "tuner.cli" or m.startswith("tuner.cli.")}, rel
        elif rel.startswith("cli/") and rel not in ("cli/__init__.py", "cli/app.py"):
            assert "tuner.cli.app" not in imported, rel


def test_help_imports_no_heavy_module() -> None:
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "tuner", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    lines = [line for line in run.stderr.splitlines() if line.startswith("import time:")]
    loaded = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in lines}
    assert "typer" in loaded, "the -X importtime report was read"
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
