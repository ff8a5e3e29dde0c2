"""``watch`` against the lab in its own process: it must not change what it measures (the model unloads on
schedule while it runs) unless --probe-chat, which keeps the model loaded, as documented; drift against
the plan and the applied record; --once for cron; bad options refused in one line."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import assert_refused, run_cli
from tests.watch.conftest import MODEL, SCALE, load, make_install, needs_watch_extra, resident
from tuner.measure.stats import percentile

pytestmark = needs_watch_extra


def test_default_watch_leaves_the_model_to_unload_on_schedule(tmp_path: Path, lab: Any, watch: Any) -> None:
    server = lab()  # Ollama's default keep_alive 5m: 3 s of wall time here
    root = make_install(tmp_path, server.url)
    load(server)
    w = watch(root, "--interval", "60s")  # a round every 0.6 s
    time.sleep(300 * SCALE + 2.5)
    assert resident(server) == []  # unloaded on schedule although watch polled it all along
    assert w.value("chatchat_tune_model_unloads_total", model=MODEL, reason="expired") == 1
    assert w.value("chatchat_tune_model_unloads_total", model=MODEL, reason="evicted") == 0
    assert w.value("chatchat_tune_model_resident", model=MODEL) == 0
    assert w.value("chatchat_tune_chat_probe_keeps_model_loaded") == 0
    requests = server.stats()["requests"]
    posts = {k: n for k, n in requests.items() if k.startswith("POST")}
    assert posts == {"POST /api/generate": 1}, requests  # the test's own load; watch only reads
    assert w.stop() == 130


def test_probe_chat_keeps_the_model_loaded_as_documented(tmp_path: Path, lab: Any, watch: Any) -> None:
    server = lab()
    root = make_install(tmp_path, server.url)
    load(server)
    w = watch(root, "--interval", "60s", "--probe-chat", "60s")
    time.sleep(300 * SCALE + 2.5)
    assert resident(server) == [MODEL]  # every chat reset the idle timer
    assert w.value("chatchat_tune_chat_probe_keeps_model_loaded") == 1
    assert (w.value("chatchat_tune_probe_duration_seconds_count", probe="chat", phase="first_token") or 0) > 3
    assert w.value("chatchat_tune_model_unloads_total", model=MODEL, reason="expired") == 0
    assert w.stop(signal.SIGTERM) == 0  # as systemd stops it
    assert "Traceback" not in w.stderr()


def test_a_lost_service_keep_alive_and_an_edited_file_are_drift(tmp_path: Path, lab: Any, watch: Any) -> None:
    server = lab()
    root = make_install(tmp_path, server.url)
    plan = tmp_path / "plan.json"  # the plan set OLLAMA_KEEP_ALIVE=30m; the restarted Ollama has 5m
    made = run_cli("apply", "--root", str(root), "--set", "keep_alive=30m", "--dry-run", "--out", str(plan))
    assert made.code == 0, made.err
    w = watch(root, "--interval", "60s", "--plan", str(plan))
    time.sleep(1.5)
    load(server)  # a request ends: /api/ps shows the 5m default from now on
    time.sleep(2.0)
    assert w.value("chatchat_tune_planned_keep_alive_seconds") == 1800
    assert w.value("chatchat_tune_keep_alive_drift") == 1
    upper = w.value("chatchat_tune_keep_alive_seconds", bound="upper")
    assert upper is not None and 250 < upper < 600  # 5 m, within about one interval
    assert w.value("chatchat_tune_settings_drift") == 0
    before = {k for k, v in w.metrics().items() if k[0] == "chatchat_tune_settings_info" and v == 1}
    model = root / "model_settings.yaml"  # the file the apply wrote, edited by hand since
    model.write_text(model.read_text(encoding="utf-8") + "# 手工修改\n", encoding="utf-8")
    time.sleep(1.5)
    assert w.value("chatchat_tune_settings_drift") == 1
    after = {k for k, v in w.metrics().items() if k[0] == "chatchat_tune_settings_info" and v == 1}
    assert before and after and before != after
    assert w.stop() == 130


def test_once_for_cron(tmp_path: Path, lab: Any) -> None:
    server = lab()
    root = make_install(tmp_path, server.url)
    run = run_cli("watch", "--root", str(root), "--once", "--json")
    report = json.loads(run.out)
    assert report["schema_version"] == 1 and report["up"]["ollama"] is True
    assert report["alerts"] == ["ChatchatTuneBackendDown"] and run.code == 3  # Chatchat's API is not running
    assert report["round"]["requests"] <= 6 and report["round"]["chat_probe"] is False
    server.stop()
    down = run_cli("watch", "--root", str(root), "--once")
    assert down.code == 3 and "DOWN" in down.out and "Traceback" not in down.err


def test_bad_options_are_refused_in_one_line(tmp_path: Path, install: Any) -> None:
    root = install("chatchat-0.3.1")
    assert_refused(run_cli("watch", "--root", str(root), "--listen", "0.0.0.0:9464"), "--allow-remote")
    assert_refused(run_cli("watch", "--root", str(root), "--listen", "nonsense"), "HOST:PORT")
    assert_refused(run_cli("watch", "--root", str(root), "--interval", "1s", "--once"), "at least 5 s")
    assert_refused(run_cli("watch", "--root", str(root), "--interval", "soon", "--once"), "--interval")


def _study_with_winner(root: Path, totals: list[float]) -> None:
    """A study as the search leaves it: its verify record (real optuna storage in the state folder)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    (root / ".chatchat-tune").mkdir(exist_ok=True)
    storage = "sqlite:///" + (root / ".chatchat-tune" / "search.db").as_posix()
    study = optuna.create_study(study_name="chatchat-tune", storage=storage)
    slow = [t * 3 for t in totals]
    study.set_user_attr(
        "verify",
        [
            {
                "label": "baseline",
                "params": {},
                "totals_ms": [t * 1000 for t in slow],
                "errors": 0,
                "resident_gb": 0,
            },
            {
                "label": "trial 3",
                "params": {},
                "totals_ms": [t * 1000 for t in totals],
                "errors": 0,
                "resident_gb": 0,
            },
        ],
    )
    study.set_user_attr("winner", "trial 3")


def _measured_totals(server: Any, n: int) -> list[float]:
    """Chat totals (install time) measured the way the watcher's probe measures them."""
    from tuner.watch.probe import chat, new_client
    from tuner.watch.rounds import Planned

    planned = Planned(
        name="chat", hop="ollama", method="POST", url=server.url + "/v1/chat/completions", cap=10
    )
    with new_client() as client:
        probes = [chat(client, planned, MODEL, 10.0, i) for i in range(n)]
    assert all(p.ok for p in probes)
    return [p.total / SCALE for p in probes]


def test_p95_regression_against_the_verified_winner(tmp_path: Path, lab: Any, watch: Any) -> None:
    server = lab()
    root = make_install(tmp_path, server.url)
    load(server, keep_alive="1h")
    winner = _measured_totals(server, 30)
    _study_with_winner(root, winner)
    server.set_faults(first_byte_delay=8.0)  # the machine got busy: 8 s more per answer (80 ms here)
    w = watch(root, "--interval", "60s", "--probe-chat", "60s")
    deadline = time.monotonic() + 30
    while w.value("chatchat_tune_p95_regression") is None and time.monotonic() < deadline:
        time.sleep(0.5)
    assert w.value("chatchat_tune_p95_regression") == 1, w.stderr()
    assert (w.value("chatchat_tune_p95_ratio", bound="lower") or 0) > 1
    base = w.value("chatchat_tune_baseline_p95_seconds")
    assert base == pytest.approx(percentile(winner, 0.95))  # the winner's, not the slower baseline's
    assert w.stop() == 130


def test_serving_without_the_watch_extra_says_how_to_install_it(tmp_path: Path, install: Any) -> None:
    root = install("chatchat-0.3.1")
    hidden = tmp_path / "hide"
    (hidden / "prometheus_client").mkdir(parents=True)
    (hidden / "prometheus_client" / "__init__.py").write_text(
        "raise ImportError('hidden')\n", encoding="utf-8"
    )
    run = run_cli("watch", "--root", str(root), "--listen", "127.0.0.1:0", env={"PYTHONPATH": str(hidden)})
    assert_refused(run, "pip install '.[watch]'")


def test_once_with_a_chat_tells_a_lost_keep_alive(tmp_path: Path, lab: Any) -> None:
    server = lab()  # restarted Ollama: the 5m default
    root = make_install(tmp_path, server.url)
    plan = tmp_path / "plan.json"
    made = run_cli("apply", "--root", str(root), "--set", "keep_alive=30m", "--dry-run", "--out", str(plan))
    assert made.code == 0, made.err
    run = run_cli(
        "watch", "--root", str(root), "--once", "--json", "--probe-chat", "60s", "--plan", str(plan)
    )
    report = json.loads(run.out)
    assert run.code == 3 and "ChatchatTuneKeepAliveLost" in report["alerts"], run.out
    assert report["planned_keep_alive_s"] == 1800 and report["keep_alive_drift"] is True
    assert 290 < report["keep_alive_s"]["lower"] <= 300 <= report["keep_alive_s"]["upper"] < 330
    assert report["round"]["chat_probe"] is True
    quiet = run_cli("watch", "--root", str(root), "--once", "--json")  # no chat: no claim either way
    assert json.loads(quiet.out)["keep_alive_drift"] is not True
