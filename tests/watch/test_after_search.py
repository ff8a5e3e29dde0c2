"""The whole chain on the lab: `search` verifies a winner and saves the plan, `apply` writes it, and
`watch --once` compares with what the tuning left — the winner's figures from the study, the plan's
keep_alive — and says the Ollama service variable the plan set is not in force (the lab still runs
Ollama's 5 m default: the user has not set OLLAMA_KEEP_ALIVE yet)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, run_cli
from tuner.lab.process import LabProcess

pytest.importorskip("optuna")


def test_watch_after_search_and_apply(tmp_path: Path) -> None:
    with LabProcess(profile="cpu-7b", time_scale=0.01, faults={"connect_delay": 2.0}) as lab:
        root = tmp_path / "chatchat"
        shutil.copytree(FIXTURES / "chatchat-0.3.1", root)
        point = run_cli("apply", "--root", str(root), "--set", f"ollama_url=http://localhost:{lab.port}/v1")
        assert point.code == 0, point.err
        searched = run_cli(
            "search", "--root", str(root), "--trials", "8", "--idle-gap", "10m", "--requests-per-trial", "5"
        )
        assert searched.code == 0, searched.err
        plan = root / ".chatchat-tune" / "plan.json"
        settings = {s["knob"]: s["value"] for s in json.loads(plan.read_text(encoding="utf-8"))["settings"]}
        assert "keep_alive" in settings and settings["keep_alive"] != "5m", (settings, searched.out[-3000:])
        applied = run_cli("apply", "--root", str(root), "--plan", str(plan))
        assert applied.code == 0, applied.err

        run = run_cli("watch", "--root", str(root), "--once", "--json", "--probe-chat", "60s")
        assert "Traceback" not in run.err, run.err
        report = json.loads(run.out)
        assert report["baseline"]["winner"] and report["baseline"]["samples"] >= 5, report["baseline"]
        assert report["planned_keep_alive_s"] is not None, report
        assert report["settings_drift"] is False, report  # the files hold what apply wrote
        assert report["endpoint"] == f"http://127.0.0.1:{lab.port}", report  # moved off localhost
        assert report["keep_alive_drift"] is True and "ChatchatTuneKeepAliveLost" in report["alerts"], report
        assert run.code == 3, report
