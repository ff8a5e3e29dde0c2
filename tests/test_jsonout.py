"""JSON output is strict JSON: no NaN or Infinity, which JSON.parse and jq reject."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tuner.jsonout import dumps


def _strict(text: str) -> object:
    def refuse(name: str) -> object:
        raise ValueError(f"not JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def test_non_finite_floats_become_null() -> None:
    assert _strict(dumps({"a": math.inf, "b": [math.nan, 1.5], "p": Path("x")})) == {
        "a": None,
        "b": [None, 1.5],
        "p": "x",
    }


@pytest.mark.parametrize("args", [["lab", "profiles", "--json"], ["inspect", "--json"]])
def test_commands_print_strict_json(install, args: list[str]) -> None:  # type: ignore[no-untyped-def]
    root = install("chatchat-0.3.1")
    run = run_cli(*args, *(["--root", str(root)] if args[0] == "inspect" else []))
    assert run.code == 0, run.err
    _strict(run.out)
