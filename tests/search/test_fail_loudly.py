"""`search` against a backend that dies or refuses, and a storage it cannot open: one line of ours naming
the cause, exit 1, no Optuna traceback or log line, and no trial left RUNNING. Real labs and real storages,
each server in its own process."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from tests.conftest import FIXTURES, Run, assert_refused, run_cli
from tests.search.conftest import SCALE
from tuner.lab.process import LabProcess
from tuner.measure.workload import draw_gaps
from tuner.search.session import lab_time_scale
from tuner.search.space import Facts, build_space
from tuner.search.study import StudySpec, run_study
from tuner.search.trial import Target

SEARCH = ["--idle-gap", "10m", "--requests-per-trial", "5"]


def _install(tmp_path: Path, url: str) -> Path:
    root = tmp_path / "chatchat"
    shutil.copytree(FIXTURES / "chatchat-0.3.1", root)
    assert run_cli("apply", "--root", str(root), "--set", f"ollama_url={url}/v1").code == 0
    return root


def _args(root: Path, storage: str, *more: str) -> list[str]:
    return ["search", "--root", str(root), *SEARCH, "--storage", storage, *more]


def _search(root: Path, storage: str, *more: str) -> list[str]:
    """The same as its own process, for Popen."""
    return [sys.executable, "-m", "tuner", *_args(root, storage, *more)]


def _trials(storage: str, name: str = "chatchat-tune") -> list[optuna.trial.FrozenTrial]:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    return optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)


def _ends_in_one_error_line(run: Run, *needles: str) -> str:
    """Exit 1; stderr has our progress lines, then exactly one `chatchat-tune: error:` line, last; nothing
    from Optuna (no traceback, no "[W …]" / "[I …]" log lines, no Python warnings)."""
    assert run.code == 1, (run.code, run.err[-3000:])
    assert "Traceback" not in run.err and "Traceback" not in run.out, run.err[-3000:]
    lines = [line for line in run.err.splitlines() if line.strip()]
    assert not [line for line in lines if line.startswith(("[W ", "[I ", "[E "))], run.err
    assert not [line for line in lines if "Warning:" in line], run.err
    errors = [line for line in lines if line.startswith("chatchat-tune: error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], run.err
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
    return errors[0]


def _no_running(storage: str) -> list[optuna.trial.FrozenTrial]:
    trials = _trials(storage)
    assert not [t.number for t in trials if t.state == optuna.trial.TrialState.RUNNING], [
        (t.number, t.state.name) for t in trials
    ]
    return trials


@pytest.mark.timeout(120)
def test_lab_killed_mid_study_is_one_line_and_no_trial_is_left_running(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'killed.db'}"
    with LabProcess(profile="cpu-7b", time_scale=SCALE) as lab:
        root = _install(tmp_path, lab.url)
        proc = subprocess.Popen(
            _search(root, storage, "--trials", "40"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        finished = 0
        while time.monotonic() < deadline and proc.poll() is None and finished < 3:
            time.sleep(0.1)
            try:
                finished = sum(t.state.is_finished() for t in _trials(storage))
            except Exception:  # the study may not exist yet
                continue
        assert proc.poll() is None and finished >= 3, "the search should still be running"
        assert lab.proc is not None
        lab.proc.kill()  # the backend dies mid-study, as a crashed Ollama would
        lab.proc.wait(timeout=10)
        t0 = time.monotonic()
        out, err = proc.communicate(timeout=60)
    run = Run(proc.returncode, out, err)
    line = _ends_in_one_error_line(run, "the server stopped answering")
    # refused once the lab is gone, or reset when the kill lands while a request is open
    assert "Connection refused" in line or "Connection reset" in line, line
    assert time.monotonic() - t0 < 30  # it stopped at once, not after a study of failures
    trials = _no_running(storage)
    assert trials[-1].state == optuna.trial.TrialState.FAIL and trials[-1].user_attrs.get("failure")


@pytest.mark.timeout(60)
def test_a_lab_that_always_errs_is_refused_before_the_study(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'errs.db'}"
    with LabProcess(profile="tiny", time_scale=SCALE, faults={"error_rate": 1.0}) as lab:
        root = _install(tmp_path, lab.url)
        run = run_cli(*_args(root, storage, "--trials", "8"))
    _ends_in_one_error_line(run, "none of 3 test requests", "http_500: lab fault: injected server error")
    assert _no_running(storage) == []  # refused on the answer probe: the study never started


@pytest.mark.timeout(60)
def test_nothing_listening_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
    storage = f"sqlite:///{tmp_path / 'nobody.db'}"
    root = _install(tmp_path, url)
    t0 = time.monotonic()
    run = run_cli(*_args(root, storage, "--trials", "8"))
    _ends_in_one_error_line(run, url, "ConnectError")
    assert time.monotonic() - t0 < 15
    _no_running(storage)


@pytest.mark.timeout(60)
def test_postgresql_without_its_driver_is_refused_before_measuring(tmp_path: Path, lab: LabProcess) -> None:
    # This Python, with psycopg2 made unimportable and nothing else changed: a sitecustomize on PYTHONPATH
    # sets sys.modules["psycopg2"] = None, which makes `import psycopg2` raise ModuleNotFoundError.
    block = tmp_path / "no-psycopg2"
    block.mkdir()
    (block / "sitecustomize.py").write_text('import sys\nsys.modules["psycopg2"] = None\n', encoding="utf-8")
    env = {"PYTHONPATH": os.pathsep.join(p for p in (str(block), os.environ.get("PYTHONPATH")) if p)}
    probe = subprocess.run(
        [sys.executable, "-c", "import psycopg2"], env={**os.environ, **env}, capture_output=True, text=True
    )
    assert probe.returncode == 1 and "ModuleNotFoundError" in probe.stderr  # the block works
    installed = subprocess.run([sys.executable, "-c", "import psycopg2"])
    assert installed.returncode == 0  # and it is the only reason the driver is missing
    root = _install(tmp_path, lab.url)
    lab.reset()
    t0 = time.monotonic()
    run = run_cli(
        "search", "--root", str(root), "--trials", "8", *SEARCH,
        "--storage", "postgresql+psycopg2://postgres:secret@127.0.0.1:1/postgres",
        env=env,
    )  # fmt: skip
    took = time.monotonic() - t0
    assert_refused(run, "psycopg2", "pip install psycopg2-binary")
    assert "secret" not in run.err
    assert took < 5, took
    sent = {k: n for k, n in lab.stats()["requests"].items() if "/lab/" not in k}
    assert sent == {}  # nothing was measured: not one request reached the server


@pytest.mark.timeout(120)
@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_killed_workers_trial_is_failed_and_retried_on_resume(
    root: Path, tmp_path: Path, lab: LabProcess, database: str, request: pytest.FixtureRequest
) -> None:
    """SIGKILL leaves the running trial RUNNING in the storage; its heartbeat stops. The next worker, once the
    grace period has passed, fails it and runs it again (RetryHeartbeatStaleTrialCallback). On SQLite and
    on a real PostgreSQL server (the storage of workers on several machines)."""
    if database == "sqlite":
        storage, name = f"sqlite:///{tmp_path / 'heartbeat.db'}", "chatchat-tune"
    else:
        storage, name = request.getfixturevalue("postgres"), f"heartbeat-{os.getpid()}"
    proc = subprocess.Popen(
        _search(root, storage, "--trials", "8", "--study-name", name),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    running: list[optuna.trial.FrozenTrial] = []
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
        try:
            trials = _trials(storage, name)
        except Exception:
            continue
        running = [t for t in trials if t.state == optuna.trial.TrialState.RUNNING]
        if sum(t.state.is_finished() for t in trials) >= 2 and running and running[0].params:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=10)
    (killed,) = [t for t in _trials(storage, name) if t.state == optuna.trial.TrialState.RUNNING]
    complete = sum(t.state == optuna.trial.TrialState.COMPLETE for t in _trials(storage, name))
    # Resume in this process with a 1 s grace period (the CLI's is a minute), after it has passed.
    time.sleep(3)
    space = build_space(Facts("0.3.1", "localhost", False, 0.06, 0.1, 4_400_000_000, 600.0))
    target = Target(lab.url_for("localhost"), "qwen:7b", lab_time_scale(lab.url))
    spec = StudySpec(storage, name, 3, heartbeat_interval=1, grace_period=1)
    gaps = draw_gaps(600.0, 5, 0)
    study = run_study(spec, space, target, gaps, gaps)
    trials = study.get_trials(deepcopy=False)
    assert trials[killed.number].state == optuna.trial.TrialState.FAIL
    retried = [t for t in trials if t.system_attrs.get("failed_trial") == killed.number]
    assert len(retried) == 1 and retried[0].state == optuna.trial.TrialState.COMPLETE
    assert retried[0].params == killed.params
    assert not [t for t in trials if t.state == optuna.trial.TrialState.RUNNING]
    assert sum(t.state == optuna.trial.TrialState.COMPLETE for t in trials) == complete + 3
