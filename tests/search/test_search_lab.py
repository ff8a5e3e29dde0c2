"""`search`, `report`, `warm` and `demo` against the lab in its own process, with real Optuna storages."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import optuna
import pytest

from tests.conftest import REPO, run_cli
from tests.search.conftest import SCALE
from tuner.lab.process import LabProcess
from tuner.search.session import lab_time_scale
from tuner.search.space import Facts, build_space
from tuner.search.study import StudySpec, run_study
from tuner.search.trial import Target

SEARCH = ["--idle-gap", "10m", "--requests-per-trial", "5"]


def _search_cmd(root: Path, storage: str, name: str) -> list[str]:
    """`chatchat-tune search` of 8 trials as its own process."""
    return [
        sys.executable,
        "-m",
        "tuner",
        "search",
        "--root",
        str(root),
        "--trials",
        "8",
        *SEARCH,
        "--storage",
        storage,
        "--study-name",
        name,
    ]


def _study(storage: str, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=storage)


def test_search_finds_the_causes_and_writes_a_plan(root: Path, tmp_path: Path, lab: LabProcess) -> None:
    storage = f"sqlite:///{tmp_path / 's.db'}"
    plan = tmp_path / "plan.json"
    run = run_cli(
        "search", "--root", str(root), "--trials", "10", *SEARCH, "--storage", storage, "--out", str(plan)
    )
    assert run.code == 0, run.err
    assert "verdict: trial" in run.out and "better beyond noise" in run.out
    study = _study(storage, "chatchat-tune")
    first = study.trials[0]
    assert first.user_attrs.get("baseline") is True
    assert first.params == {"host": "localhost", "keep_alive": "5m"}
    assert all("errors" in t.constraints for t in study.trials)
    data = json.loads(plan.read_text(encoding="utf-8"))
    knobs = {(s["knob"], s["value"]) for s in data["settings"]}
    assert ("ollama_url", f"http://127.0.0.1:{lab.port}/v1") in knobs
    assert any(k == "keep_alive" for k, _ in knobs)
    dry = run_cli("apply", "--plan", str(plan), "--root", str(root), "--dry-run")
    assert dry.code == 2 and "127.0.0.1" in dry.out and "OLLAMA_KEEP_ALIVE" in dry.out


def test_killed_search_resumes_with_the_same_study_name(root: Path, tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'resume.db'}"
    cmd = _search_cmd(root, storage, "resume")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    done: list[optuna.trial.FrozenTrial] = []
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
        try:
            done = [t for t in _study(storage, "resume").trials if t.state.is_finished()]
        except (KeyError, Exception):  # the study may not exist yet
            continue
        if len(done) >= 3:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    kept = {t.number: t.params for t in done}
    assert len(kept) >= 3
    trials = _study(storage, "resume").trials  # the finished ones and the one the kill left RUNNING
    held = len(trials)
    complete = sum(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    again = run_cli(
        "search",
        "--root",
        str(root),
        "--trials",
        "4",
        *SEARCH,
        "--storage",
        storage,
        "--study-name",
        "resume",
    )
    assert again.code == 0, again.err
    study = _study(storage, "resume")
    assert f"4 new trials; it now holds {held + 4}" in again.out
    finished = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(finished) == complete + 4
    assert all(study.trials[n].params == params for n, params in kept.items()), "no finished trial was lost"
    assert sum(bool(t.user_attrs.get("baseline")) for t in study.trials) == 1
    # The verified winner is recorded for `watch` (its p95 baseline).
    assert study.user_attrs["winner"] in {m["label"] for m in study.user_attrs["verify"]}


def test_errors_are_constraints_not_penalties() -> None:
    with LabProcess(profile="tiny", faults={"error_rate": 0.1}, seed=5) as flaky:
        root = flaky.url
        space = build_space(Facts("0.3.1", "127.0.0.1", False, 0.1, 0.1, 1, 600.0))
        spec = StudySpec("sqlite:///:memory:", "constraints", 10, seed=3)
        study = run_study(spec, space, Target(root, "qwen2:7b", lab_time_scale(root)), (60.0,) * 5, (60.0,))
    infeasible = [t for t in study.trials if t.constraints["errors"] > 0]
    feasible = [t for t in study.trials if t.constraints["errors"] == 0]
    assert infeasible and feasible
    assert all(t.user_attrs["result"]["errors"] == t.constraints["errors"] for t in study.trials)
    assert study.best_trial.constraints["errors"] == 0


def test_shared_postgresql_study_with_two_workers(root: Path, postgres: str, lab: LabProcess) -> None:
    """Two workers, as on two machines: each measures its own backend, both share one study, each adds its
    own --trials."""
    name = f"shared-{os.getpid()}"
    cmd = _search_cmd(root, postgres, name)
    with LabProcess(profile="cpu-7b", time_scale=SCALE, faults={"connect_delay": 2.0}) as second:
        workers = [
            subprocess.Popen(
                [*cmd, "--seed", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            ),
            subprocess.Popen(
                [*cmd, "--seed", "1", "--url", second.url_for("localhost")],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ),
        ]
        outs = [w.communicate(timeout=300) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outs
    study = _study(postgres, name)
    numbers = [t.number for t in study.trials]
    assert len(numbers) == len(set(numbers))
    finished = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(finished) == 16  # each worker ran its 8 new trials


def test_report_writes_the_plots(root: Path, tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'r.db'}"
    assert run_cli("search", "--root", str(root), "--trials", "6", *SEARCH, "--storage", storage).code == 0
    page = tmp_path / "report.html"
    run = run_cli("report", "--root", str(root), "--storage", storage, "-o", str(page))
    assert run.code == 0, run.err
    html = page.read_text(encoding="utf-8")
    for title in ("Optimisation history", "Parallel coordinates", "Before / after"):
        assert title in html
    missing = run_cli(
        "report", "--root", str(root), "--storage", storage, "--study-name", "nope", "-o", str(page)
    )
    assert missing.code == 1 and "no study named 'nope'" in missing.err


def test_warm_sets_the_loaded_models_keep_alive() -> None:
    with LabProcess(profile="tiny") as lab:
        run = run_cli("warm", "--url", lab.url, "--model", "qwen2:7b", "--keep-alive", "45m")
        assert run.code == 0, run.err
        (model,) = httpx.get(lab.url + "/api/ps", timeout=5).json()["models"]
        assert model["expires_at"] > time.strftime("%Y-%m-%dT%H:%M", time.gmtime(time.time() + 44 * 60))
        bad = run_cli("warm", "--url", lab.url, "--model", "qwen2:7b", "--keep-alive", "5 minutes")
        assert bad.code == 1 and "--keep-alive" in bad.err


def _session_members(sid: int) -> list[int]:
    """Processes still in session ``sid`` (Linux /proc)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid:  # fields after "(comm)": state ppid pgrp session ...
            members.append(int(stat.parent.name))
    return members


@pytest.mark.skipif(sys.platform != "linux", reason="finds leftover processes through /proc")
def test_demo_runs_end_to_end_and_leaves_nothing_running() -> None:
    env = {k: v for k, v in os.environ.items() if k != "CHATCHAT_ROOT"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tuner", "demo", "--trials", "8"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]
    for step in (
        "chatchat-tune inspect",
        "chatchat-tune doctor",
        "chatchat-tune search",
        "chatchat-tune apply",
    ):
        assert step in out
    assert "verdict:" in out and "+++ b/model_settings.yaml" in out
    assert _session_members(proc.pid) == [], "the demo left a process running"
