"""What the tuning left, read from the install's state folder (tuner.watch.baseline): real files, a real
apply, a real Optuna storage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli
from tuner.install.loading import open_install
from tuner.watch.baseline import (
    applied_hashes,
    changed_since_apply,
    install_id,
    load_baseline,
    read_settings,
    settings_hash,
    settings_paths,
    study_totals,
)


def test_install_id_is_stable_short_and_tells_same_named_folders_apart(tmp_path: Path) -> None:
    a, b = tmp_path / "x" / "知识库", tmp_path / "y" / "知识库"
    a.mkdir(parents=True), b.mkdir(parents=True)
    assert install_id(a) == install_id(a) and install_id(a) != install_id(b)
    assert install_id(a).startswith("知识库-") and str(tmp_path) not in install_id(a)


def test_settings_hash_and_the_applied_record(install: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    root = install("chatchat-0.3.1")
    assert applied_hashes(root) is None  # nothing applied yet
    run = run_cli("apply", "--root", str(root), "--set", "api_timeout=120")
    assert run.code == 0, run.err
    loaded = open_install(root)
    contents = read_settings(settings_paths(loaded))
    first = settings_hash(loaded, contents)
    applied = applied_hashes(root)
    assert applied and changed_since_apply(applied, contents) == ()
    basic = root / "basic_settings.yaml"
    basic.write_text(basic.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
    contents = read_settings(settings_paths(loaded))
    assert settings_hash(loaded, contents) != first
    assert changed_since_apply(applied, contents) == (str(basic.resolve()),)
    monkeypatch.setenv("HTTPX_DEFAULT_TIMEOUT", "5")  # an override outside the files changes it too
    with_env = open_install(root)
    assert settings_hash(with_env, contents) != settings_hash(loaded, contents)


def test_the_plan_keep_alive(install: Any, tmp_path: Path) -> None:
    root = install("chatchat-0.3.1")
    assert load_baseline(root).planned_keep_alive is None
    plan = root / ".chatchat-tune" / "plan.json"  # where search saves it
    made = run_cli("apply", "--root", str(root), "--set", "keep_alive=-1", "--dry-run", "--out", str(plan))
    assert made.code == 0, made.err
    baseline = load_baseline(root)
    assert baseline.planned_keep_alive == -1 and baseline.plan_file == str(plan)
    assert "no study" in baseline.note


def test_the_winners_totals_from_the_study(tmp_path: Path) -> None:
    optuna = pytest.importorskip("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = "sqlite:///" + (tmp_path / "search.db").as_posix()
    study = optuna.create_study(study_name="chatchat-tune", storage=storage)
    assert study_totals(storage, "chatchat-tune")[0] == ()  # no verify record yet
    verify = [
        {"label": "baseline", "totals_ms": [300.0, 310.0], "errors": 0},
        {"label": "trial 1", "totals_ms": [100.0, 120.0], "errors": 0},
        {"label": "trial 2", "totals_ms": [150.0, 160.0], "errors": 0},
        {"label": "trial 3", "totals_ms": [50.0], "errors": 2},
    ]
    study.set_user_attr("verify", verify)
    totals, label, _ = study_totals(storage, "chatchat-tune")
    assert label == "trial 1" and totals == (0.1, 0.12)  # no winner recorded: the fastest without errors
    study.set_user_attr("winner", "trial 2")  # what search records since watch
    assert study_totals(storage, "chatchat-tune")[:2] == ((0.15, 0.16), "trial 2")
    assert "no study named" in study_totals(storage, "other")[2]
