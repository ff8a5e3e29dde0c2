"""The CLI's shape, pinned: the commands it registers, who may import it, and what `--help` loads."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tuner.cli.app import COMMANDS, command

PACKAGE = REPO / "tuner"
# What `--help` must never load: the network stack, the terminal renderer, the editors, the study and its
# storages, the plots, the inference engine, the metrics client, the schema validator.
HEAVY = (
    "httpx",
    "httpcore",
    "h11",
    "anyio",
    "ssl",
    "rich",
    "pygments",
    "markdown_it",
    "libcst",
    "ruamel",
    "yaml",
    "optuna",
    "sqlalchemy",
    "alembic",
    "psycopg2",
    "plotly",
    "numpy",
    "llama_cpp",
    "gguf",
    "prometheus_client",
    "jsonschema",
    "filelock",
    "pydantic",  # typer's value coercion: loaded to convert a given option, never for help
)
HELP_RUNS = (
    ["--help"],
    ["-h"],
    ["bench", "--help"],
    ["search", "-h"],
    ["inspect", "--help"],
    ["lab", "--help"],
    ["lab", "serve", "--help"],
)


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
    names = [
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
        "lab",
    ]
    assert list(COMMANDS) == names
    group = command()
    assert group.list_commands(None) == names  # type: ignore[arg-type]
    assert not group.commands, "--help's list builds no command"
    for name in names:  # each one builds when it runs
        assert group.get_command(None, name).name == name  # type: ignore[arg-type,union-attr]


def test_the_core_never_imports_the_cli_and_no_command_imports_the_app() -> None:
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        imported = _imports(path)
        if not rel.startswith("cli/") and rel != "__main__.py":
            assert not {m for m in imported if m == "tuner.cli" or m.startswith("tuner.cli.")}, rel
        elif rel.startswith("cli/") and rel not in ("cli/__init__.py", "cli/app.py"):
            assert "tuner.cli.app" not in imported, rel


def loaded_by(args: list[str]) -> set[str]:
    """The top-level modules ``python -m tuner ARGS`` imports (read from ``-X importtime``)."""
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "tuner", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    lines = [line for line in run.stderr.splitlines() if line.startswith("import time:")]
    loaded = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in lines}
    assert "typer" in loaded, "the -X importtime report was read"
    return loaded


@pytest.mark.parametrize("args", HELP_RUNS, ids=" ".join)
def test_help_imports_no_heavy_module(args: list[str]) -> None:
    loaded = loaded_by(args)
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
