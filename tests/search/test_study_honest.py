"""An honest study, through the CLI against the lab in its own process: a resumed study refuses another
workload, --trials adds N new trials, each study its own plan, SQLite for one process only, JournalStorage
for several, --apply without a terminal, and the report's structure."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import optuna

from tests.conftest import Run, run_cli
from tests.search.test_fail_loudly import _ends_in_one_error_line

FAST = ["--requests-per-trial", "5"]


def _search(
    root: Path, storage: str, *more: str, stdin: int | None = None, env: dict[str, str] | None = None
) -> Run:
    """`chatchat-tune search` in its own process; stdin from /dev/null unless told (no terminal)."""
    proc = subprocess.run(
        [sys.executable, "-m", "tuner", "search", "--root", str(root), *FAST, "--storage", storage, *more],
        stdin=subprocess.DEVNULL if stdin is None else stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        env={
            **{k: v for k, v in os.environ.items() if k != "CHATCHAT_ROOT"},
            "COLUMNS": "200",
            **(env or {}),
        },
        timeout=240,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def _study(storage: str, name: str) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    return optuna.load_study(study_name=name, storage=storage)


def test_resuming_with_another_workload_is_refused_in_one_line(root: Path, tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 's.db'}"
    first = _search(root, storage, "--trials", "3", "--idle-gap", "10m")
    assert first.code == 0, first.err
    stored = _study(storage, "chatchat-tune").user_attrs["workload"]
    assert stored["idle_gap_s"] == 600 and stored["model"] and stored["install"] == "0.3.1"
    t0 = time.monotonic()
    other = _search(root, storage, "--trials", "3", "--idle-gap", "30s")
    line = _ends_in_one_error_line(other, "'chatchat-tune'", "idle_gap_s: 600 there, 30 here", "--study-name")
    assert "requests_per_trial" not in line  # only what differs
    assert time.monotonic() - t0 < 15  # refused before measuring
    assert len(_study(storage, "chatchat-tune").trials) == 3  # nothing joined
    fresh = _search(root, storage, "--trials", "2", "--idle-gap", "30s", "--study-name", "short-gaps")
    assert fresh.code == 0, fresh.err
    assert _study(storage, "short-gaps").user_attrs["workload"]["idle_gap_s"] == 30


def test_trials_are_new_trials_and_each_study_has_its_own_plan(root: Path, tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 's.db'}"
    state = root / ".chatchat-tune"
    first = _search(root, storage, "--trials", "3", "--study-name", "alpha")
    assert first.code == 0, first.err
    assert "study alpha: 3 new trials; it now holds 3 (3 complete)" in first.out
    assert "objective: with 5 requests per trial the p95 leans on the slowest request" in first.out
    again = _search(root, storage, "--trials", "2", "--study-name", "alpha")
    assert again.code == 0, again.err
    assert "study alpha: 2 new trials; it now holds 5 (5 complete)" in again.out
    assert len(_study(storage, "alpha").trials) == 5
    other = _search(root, storage, "--trials", "2", "--study-name", "beta")
    assert other.code == 0, other.err
    alpha, beta = state / "plans" / "alpha.json", state / "plans" / "beta.json"
    assert alpha.is_file() and beta.is_file()
    assert str(beta) in other.out
    assert (state / "plan.json").read_bytes() == beta.read_bytes()  # the latest search's plan
    assert json.loads(alpha.read_text(encoding="utf-8"))["settings"]


def test_sqlite_takes_one_process_and_says_what_to_use_instead(root: Path, tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'one.db'}"
    cmd = [sys.executable, "-m", "tuner", "search", "--root", str(root), *FAST, "--storage", storage]
    worker = subprocess.Popen([*cmd, "--trials", "60"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (tmp_path / "one.db.lock").exists():
            time.sleep(0.05)
        second = _search(root, storage, "--trials", "2", "--study-name", "another")
    finally:
        worker.kill()
        worker.wait(timeout=10)
    _ends_in_one_error_line(second, "one.db is in use by another search", "JournalStorage", "PostgreSQL")
    # The OS dropped the killed worker's lock: the next search runs.
    assert _search(root, storage, "--trials", "1", "--study-name", "after").code == 0


def test_several_workers_on_one_machine_share_a_journal(root: Path, tmp_path: Path) -> None:
    storage = f"journal:{tmp_path / 'study.journal'}"
    cmd = [sys.executable, "-m", "tuner", "search", "--root", str(root), *FAST, "--storage", storage]
    workers = [
        subprocess.Popen(
            [*cmd, "--trials", "3", "--seed", str(seed)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in (0, 1)
    ]
    outs = [w.communicate(timeout=240) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outs
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    study = optuna.load_study(
        study_name="chatchat-tune",
        storage=JournalStorage(JournalFileBackend(str(tmp_path / "study.journal"))),
    )
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 6 and len({t.number for t in study.trials}) == len(study.trials)


def test_apply_without_a_terminal_needs_yes(root: Path, tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 's.db'}"
    before = (root / "model_settings.yaml").read_bytes()
    t0 = time.monotonic()
    refused = _search(root, storage, "--trials", "3", "--apply")
    _ends_in_one_error_line(refused, "--apply", "no terminal", "--yes")
    assert time.monotonic() - t0 < 10 and not (tmp_path / "s.db").exists()  # refused before anything ran
    done = _search(root, storage, "--trials", "3", "--apply", "--yes")
    assert done.code == 0, done.err
    assert (root / "model_settings.yaml").read_bytes() != before
    assert "127.0.0.1" in (root / "model_settings.yaml").read_text(encoding="utf-8")


def test_report_opens_with_the_verdict_in_one_offline_file(root: Path, tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 's.db'}"
    assert _search(root, storage, "--trials", "5").code == 0
    page = tmp_path / "report.html"
    run = run_cli(
        "report",
        "--root",
        str(root),
        "--storage",
        storage,
        "-o",
        str(page),
        env={"LANGUAGE": "", "LC_ALL": "", "LC_MESSAGES": "", "LANG": "zh_CN.UTF-8"},
    )
    assert run.code == 0, run.err
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!doctype html><html lang='zh-CN'>")
    assert "Microsoft YaHei" in html and "Noto Sans CJK SC" in html
    body = html[html.index("<body>") :]
    first_heading = re.findall(r"<h2>(.*?)</h2>", body)
    assert first_heading[:2] == ["结论", "推荐设置"], first_heading  # Verdict, Recommended settings
    assert "留出的空闲间隔" in body[: body.index("<div")]  # "held-out gaps", before any plot
    assert "keep_alive" in body[: body.index("<div")]
    # plotly.js once, in the head; each figure only calls it.
    assert html.count("<script>") - html.count("Plotly.newPlot") <= 1
    assert len(re.findall(r"plotly\.js v\d", html)) == 1, "plotly.js inlined more than once"
    assert html.count("Plotly.newPlot") >= 4
    for title in (  # Before / after, Memory trade-off, Optimisation history, Parallel coordinates, Trials
        "调优前 / 后",
        "内存权衡",
        "优化历史",
        "平行坐标",
        "试验",
    ):
        assert f"<h2>{title}</h2>" in html
    # Every trial labelled with its settings, the baseline marked.
    assert "#0（基线）" in html and "keep_alive=5m" in html and "host=localhost" in html
