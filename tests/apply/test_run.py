"""`run_apply` and `run_rollback` called in-process on fixture copies: the flows and their outcome objects."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tests.conftest import snapshot, tree_digest
from tuner.apply.rollback import RollbackRequest, run_rollback
from tuner.apply.run import PENDING, ApplyOutcome, ApplyRequest, run_apply
from tuner.errors import UserError
from tuner.plan.settings import parse_setting

SETS = ("api_timeout=42", "auto_detect_model[xinference]=false")


@pytest.fixture(autouse=True)
def _no_ambient_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """As the CLI tests run it: no CHATCHAT_ROOT or override from this shell, a neutral working folder."""
    for var in ("CHATCHAT_ROOT", "HTTPX_DEFAULT_TIMEOUT"):
        monkeypatch.delenv(var, raising=False)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)


def _request(root: Path | None, *sets: str, **options: object) -> ApplyRequest:
    return ApplyRequest(root=root, settings=tuple(parse_setting(s) for s in sets), **options)  # type: ignore[arg-type]


def test_dry_run_plans_and_writes_nothing(install) -> None:  # type: ignore[no-untyped-def]
    root = install("chatchat-0.3.1")
    before = snapshot(root)
    outcome = run_apply(_request(root, *SETS, dry_run=True))
    assert outcome.exit_code == PENDING
    assert [f.file.path.name for f in outcome.plan.changed_files] == [
        "basic_settings.yaml",
        "model_settings.yaml",
    ]
    assert (outcome.backup, outcome.written, outcome.service_written) == (None, (), ())
    assert snapshot(root) == before
    assert not (root / ".chatchat-tune").exists(), "a dry run leaves no state behind"


def test_write_then_idempotent_then_rollback(install) -> None:  # type: ignore[no-untyped-def]
    root = install("chatchat-0.3.1")
    before = snapshot(root)
    done = run_apply(_request(root, *SETS))
    assert done.exit_code == 0 and done.backup is not None
    assert done.written == tuple(f.file.path for f in done.plan.changed_files) and len(done.written) == 2
    manifest = json.loads((done.backup / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["status"] == "applied"
    assert manifest["label"] == "api_timeout=42.0 auto_detect_model[xinference]=False"
    after = snapshot(root)
    assert after != before and b"HTTPX_DEFAULT_TIMEOUT: 42.0" in after["basic_settings.yaml"]

    again = run_apply(_request(root, *SETS))
    assert (again.plan.changed_files, again.backup, again.written) == ((), None, ())
    assert run_apply(_request(root, *SETS, dry_run=True)).exit_code == 0
    assert snapshot(root) == after

    preview = run_rollback(RollbackRequest(root=root, dry_run=True))
    assert preview.dry_run and len(preview.restored) == 2 and snapshot(root) == after
    restored = run_rollback(RollbackRequest(root=root))
    assert restored.backup.folder == done.backup and not restored.dry_run
    assert snapshot(root) == before
    with pytest.raises(UserError, match="no backup set"):
        run_rollback(RollbackRequest(root=root))


def test_show_sees_the_outcome_before_the_install_is_written(install) -> None:  # type: ignore[no-untyped-def]
    root = install("chatchat-0.3.1")
    seen: list[ApplyOutcome] = []
    basic = root / "basic_settings.yaml"
    original = basic.read_bytes()
    os.chmod(basic, 0o444)
    try:
        with pytest.raises(UserError, match="read-only"):
            run_apply(_request(root, "api_timeout=5"), show=seen.append)
    finally:
        os.chmod(basic, 0o644)
    assert len(seen) == 1 and seen[0].backup is None and seen[0].plan.changed_files
    assert basic.read_bytes() == original


def test_service_settings_become_artifacts_never_on_a_dry_run(install, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = install("chatchat-0.3.1")
    before = snapshot(root)
    folder = tmp_path / "svc"
    dry = run_apply(_request(root, "keep_alive=30m", dry_run=True, service_out=folder))
    assert dry.plan.service == (("OLLAMA_KEEP_ALIVE", "30m"),) and dry.service_written == ()
    assert not folder.exists() and dry.exit_code == 0, "service settings alone change no file"
    done = run_apply(_request(root, "keep_alive=30m", service_out=folder))
    assert [p.name for p in done.service_written] == [
        "override.conf",
        "ollama-env-linux.sh",
        "ollama-env-macos.sh",
        "ollama-env-windows.ps1",
    ]
    assert (folder / "override.conf").read_text(encoding="utf-8") == (
        '[Service]\nEnvironment="OLLAMA_KEEP_ALIVE=30m"\n'
    )
    assert done.backup is None and snapshot(root) == before


def test_a_plan_file_writes_only_to_the_root_the_user_confirms(install, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = install("chatchat-0.3.1")
    plan = tmp_path / "downloaded-plan.json"
    made = run_apply(_request(root, "api_timeout=77", dry_run=True, out=plan))
    assert made.plan_saved == plan and made.exit_code == PENDING
    saved = json.loads(plan.read_text(encoding="utf-8"))
    assert saved["root"] == str(root.resolve()) and saved["settings"][0]["value"] == 77.0

    before = tree_digest(tmp_path)
    with pytest.raises(UserError, match=f"confirm it with --root {root}"):
        run_apply(ApplyRequest(plan_file=plan))  # the working folder is not the plan's root
    with pytest.raises(UserError, match="this plan was made for"):
        run_apply(ApplyRequest(plan_file=plan, root=tmp_path))
    assert tree_digest(tmp_path) == before

    done = run_apply(ApplyRequest(plan_file=plan, root=root))
    assert done.backup is not None and b"77.0" in (root / "basic_settings.yaml").read_bytes()
    twice = run_apply(ApplyRequest(plan_file=plan, root=root))
    assert twice.backup is None and not twice.plan.changed_files, "a plan applied twice changes nothing"


def test_a_stale_plan_is_refused(install, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = install("chatchat-0.3.1")
    plan = tmp_path / "plan.json"
    run_apply(_request(root, "api_timeout=77", dry_run=True, out=plan))
    basic = root / "basic_settings.yaml"
    basic.write_bytes(basic.read_bytes() + b"\n# edited by hand\n")
    before = snapshot(root)
    with pytest.raises(UserError, match="stale plan"):
        run_apply(ApplyRequest(plan_file=plan, root=root))
    assert snapshot(root) == before


def _trap(tmp_path: Path) -> tuple[Path, Path]:
    """An executable that leaves a marker file when it runs (it must never run)."""
    marker = tmp_path / "ran.txt"
    script = tmp_path / "python-trap"
    script.write_text(f'#!/bin/sh\ntouch {marker}\nexec {sys.executable} "$@"\n', encoding="utf-8")
    script.chmod(0o755)
    return script, marker


@pytest.mark.skipif(os.name != "posix", reason="the trap is a shell script")
@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "write"])
def test_a_plan_never_picks_the_interpreter_to_run(install, tmp_path: Path, dry_run: bool) -> None:  # type: ignore[no-untyped-def]
    root = install("chatchat-0.3.1")
    trap, marker = _trap(tmp_path)
    plan = root / ".chatchat-tune" / "plan.json"
    plan.parent.mkdir()
    data = {
        "chatchat-tune-plan": 1,
        "root": str(root.resolve()),
        "generation": "0.3.1",
        "settings": [{"knob": "api_timeout", "entry": None, "value": 77.0}],
        "files": [],
        "code_patch": {"python": str(trap)},
    }
    plan.write_text(json.dumps(data), encoding="utf-8")
    before = tree_digest(tmp_path)
    with pytest.raises(UserError, match=f"confirm it with --python {trap}"):
        run_apply(ApplyRequest(plan_file=plan, dry_run=dry_run))
    with pytest.raises(UserError, match="make a new plan"):
        run_apply(ApplyRequest(plan_file=plan, python=tmp_path / "other-python", dry_run=dry_run))
    assert not marker.exists(), "the plan's interpreter ran"
    assert tree_digest(tmp_path) == before


def test_nothing_to_apply_is_refused_before_the_install_is_read(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="nothing to apply"):
        run_apply(ApplyRequest(root=tmp_path / "missing"))
