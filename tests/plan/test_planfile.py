"""A plan file is data, never a command: it cannot run a program, pick a root, or smuggle a value."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tests.conftest import assert_refused, run_cli, tree_digest


def _plan(install_root: Path, **changes: object) -> dict:  # type: ignore[type-arg]
    data: dict[str, object] = {
        "chatchat-tune-plan": 1,
        "root": str(install_root.resolve()),
        "generation": "0.3.1",
        "settings": [{"knob": "api_timeout", "entry": None, "value": 77.0}],
        "files": [],
        "code_patch": None,
    }
    data.update(changes)
    return data


def _trap(tmp_path: Path) -> tuple[Path, Path]:
    """An executable that leaves a marker file when it runs (it must never run)."""
    marker = tmp_path / "ran.txt"
    trap = tmp_path / "trap.py"
    trap.write_text(f"open({str(marker)!r}, 'w').write('ran')\n", encoding="utf-8")
    if os.name == "posix":
        script = tmp_path / "python-trap"
        script.write_text(f'#!/bin/sh\n{sys.executable} {trap} "$@"\n', encoding="utf-8")
        script.chmod(0o755)
        return script, marker
    return Path(sys.executable), marker  # pragma: no cover - Windows: the interpreter itself


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "write"])
def test_a_plan_cannot_choose_a_program_to_run(install, tmp_path: Path, dry_run: bool) -> None:  # type: ignore[no-untyped-def]
    root = install("chatchat-0.3.1")
    trap, marker = _trap(tmp_path)
    plan = root / ".chatchat-tune" / "plan.json"
    plan.parent.mkdir()
    plan.write_text(json.dumps(_plan(root, code_patch={"python": str(trap)})), encoding="utf-8")
    before = tree_digest(tmp_path)
    flags = ["--dry-run"] if dry_run else []
    assert_refused(run_cli("apply", "--plan", str(plan), *flags), "confirm it with --python", str(trap))
    other = tmp_path / "other-python"
    assert_refused(run_cli("apply", "--plan", str(plan), "--python", str(other), *flags), "make a new plan")
    assert not marker.exists(), "the plan's interpreter ran"
    assert tree_digest(tmp_path) == before


def test_a_plan_for_another_root_needs_that_root_named(install, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = install("chatchat-0.3.1")
    plan = tmp_path / "downloaded-plan.json"
    made = run_cli("apply", "--root", str(root), "--set", "api_timeout=77", "--dry-run", "--out", str(plan))
    assert made.code == 2, made.err
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    before = tree_digest(tmp_path)
    assert_refused(run_cli("apply", "--plan", str(plan), cwd=elsewhere), f"confirm it with --root {root}")
    assert tree_digest(tmp_path) == before
    ok = run_cli("apply", "--plan", str(plan), "--root", str(root), "--dry-run")
    assert ok.code == 2, ok.err


HOSTILE_PLANS: dict[str, object] = {
    "knob is a list": {"settings": [{"knob": ["api_timeout"], "value": 5}]},
    "knob is a number": {"settings": [{"knob": 7, "value": 5}]},
    "knob is empty": {"settings": [{"knob": "", "value": 5}]},
    "knob has a NUL": {"settings": [{"knob": "api_timeout\u0000", "value": 5}]},
    "unknown knob": {"settings": [{"knob": "rm_rf", "value": 5}]},
    "entry is a dict": {"settings": [{"knob": "ollama_url", "entry": {"a": 1}, "value": "http://x/v1"}]},
    "value missing": {"settings": [{"knob": "api_timeout"}]},
    "value is a dict": {"settings": [{"knob": "api_timeout", "value": {"a": 1}}]},
    "value is huge": {"settings": [{"knob": "api_timeout", "value": 1e308}]},
    "timeout negative": {"settings": [{"knob": "api_timeout", "value": -5}]},
    "url with a newline": {
        "settings": [{"knob": "ollama_url", "value": "http://127.0.0.1:11434/v1\napi_key: x"}]
    },
    "url bad ipv6": {"settings": [{"knob": "ollama_url", "value": "http://[::1/v1"}]},
    "settings not a list": {"settings": {"knob": "api_timeout"}},
    "settings missing": {"settings": None},
    "files not a list": {"files": "x"},
    "files entry wrong": {"files": [{"path": 1, "sha256": 2}]},
    "root relative": {"root": "relative/root"},
    "root a list": {"root": ["/"]},
    "generation a list": {"generation": ["0.3.1"]},
    "code_patch a string": {"code_patch": "python"},
    "code_patch python a list": {"code_patch": {"python": ["/bin/sh", "-c", "touch x"]}},
}


@pytest.mark.parametrize("case", sorted(HOSTILE_PLANS))
def test_a_hostile_plan_gets_one_line_and_writes_nothing(install, tmp_path: Path, case: str) -> None:  # type: ignore[no-untyped-def]
    root = install("chatchat-0.3.1")
    plan = root / ".chatchat-tune" / "plan.json"
    plan.parent.mkdir()
    plan.write_text(json.dumps(_plan(root, **HOSTILE_PLANS[case])), encoding="utf-8")  # type: ignore[arg-type]
    before = tree_digest(tmp_path)
    run = run_cli("apply", "--plan", str(plan), "--root", str(root))
    assert_refused(run)
    assert "plan.json" in run.err or "plan" in run.err
    assert tree_digest(tmp_path) == before


@pytest.mark.parametrize(
    "text",
    ["[" * 100_000 + "]" * 100_000, '{"chatchat-tune-plan": 1, "root": "' + "9" * 5000 + '"}', "\x00\x01"],
    ids=["deep", "long", "binary"],
)
def test_an_unreadable_plan_gets_one_line(install, tmp_path: Path, text: str) -> None:  # type: ignore[no-untyped-def]
    root = install("chatchat-0.3.1")
    plan = tmp_path / "plan.json"
    plan.write_text(text, encoding="utf-8")
    before = tree_digest(tmp_path)
    assert_refused(run_cli("apply", "--plan", str(plan), "--root", str(root)), "plan.json")
    assert tree_digest(tmp_path) == before


def test_a_plan_never_holds_a_secret_and_asks_for_it_again(install, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = install("chatchat-0.3.1")
    plan = root / ".chatchat-tune" / "plan.json"
    proxy = "proxy[ollama]=http://bob:hunter2pass@10.0.0.5:3128"
    made = run_cli("apply", "--root", str(root), "--dry-run", "--set", proxy, "--out", str(plan))
    assert made.code == 2, made.err
    assert "hunter2pass" not in plan.read_text(encoding="utf-8") + made.out + made.err
    assert_refused(run_cli("apply", "--plan", str(plan)), "masked secret", "--set proxy[ollama]=VALUE")
    ok = run_cli("apply", "--plan", str(plan), "--set", proxy)
    assert ok.code == 0, ok.err
    assert "hunter2pass" not in ok.out + ok.err
    assert b"http://bob:hunter2pass@10.0.0.5:3128" in (root / "model_settings.yaml").read_bytes()
