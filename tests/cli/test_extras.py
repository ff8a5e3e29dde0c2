"""A command whose extra is missing says so in one line, with the pip install that fixes it, before it
measures or starts anything. The extra is hidden from a real interpreter by a finder that refuses it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_cli

HIDE = """
import sys

class _Hide:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {hidden!r}:
            raise ModuleNotFoundError(name)
        return None

sys.meta_path.insert(0, _Hide())
"""


def _without(tmp_path: Path, *modules: str) -> dict[str, str]:
    (tmp_path / "sitecustomize.py").write_text(HIDE.format(hidden=set(modules)), encoding="utf-8")
    return {"PYTHONPATH": str(tmp_path)}


@pytest.mark.parametrize(
    ("args", "hidden", "fix"),
    [
        (["report", "--storage", "sqlite:///x.db"], ("plotly",), "chatchat-tune[report]"),
        (["report"], ("optuna",), "chatchat-tune[report]"),
        (["demo"], ("optuna",), "chatchat-tune[search]"),
        (["search", "--trials", "2"], ("optuna",), "chatchat-tune[search]"),
    ],
)
def test_a_missing_extra_is_one_line_with_its_fix(
    tmp_path: Path, args: list[str], hidden: tuple[str, ...], fix: str
) -> None:
    run = run_cli(*args, env=_without(tmp_path, *hidden), cwd=tmp_path)
    assert run.code == 1, run.err
    assert len(run.err.strip().splitlines()) == 1 and f"pip install '{fix}'" in run.err
    assert not (tmp_path / "x.db").exists()  # nothing opened, nothing written


def test_report_refuses_a_storage_without_its_driver_at_once(tmp_path: Path) -> None:
    run = run_cli("report", "--storage", "mysql+nosuchdriver://u@127.0.0.1/db", cwd=tmp_path)
    assert run.code == 1 and len(run.err.strip().splitlines()) == 1 and "Traceback" not in run.err
