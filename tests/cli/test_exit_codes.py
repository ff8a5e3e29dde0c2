"""One exit-code table for every command (docs/architecture.md, "Exit codes"), checked as a user runs it:
0 ok, 1 error, 2 changes pending (dry runs), 3 doctor findings, 64 usage error, 130 interrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, run_cli
from tests.doctor.conftest import MODELS, copy_install, dead_port, point, replace_in
from tuner.lab.process import LabProcess

OK, ERROR, PENDING, FINDINGS, USAGE, INTERRUPTED = 0, 1, 2, 3, 64, 130


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost,::1")


@pytest.fixture
def lab() -> Iterator[LabProcess]:
    with LabProcess("tiny", time_scale=0.1, models=MODELS, num_parallel=2) as server:
        yield server


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["apply", "--dry-rnu"], "No such option: --dry-rnu"),
        (["bench", "--requests", "abc"], "Invalid value for '--requests'"),  # a value of the wrong type
        (["apply", "--root"], "requires an argument"),
        (["nosuch"], "No such command 'nosuch'"),
        (["lab", "serve", "--port", "x"], "Invalid value for '--port'"),
        (["apply", "--dry-run=maybe"], "'--dry-run' does not take a value"),
    ],
)
def test_usage_errors_exit_64_not_2(args: list[str], needle: str) -> None:
    run = run_cli(*args)
    assert run.code == USAGE, (run.code, run.err)
    assert needle in run.err and "Traceback" not in run.err
    assert run.out == ""


def test_a_choice_the_command_checks_is_one_line_and_1() -> None:
    """No option is a parser-level choice today: ``--path`` and the like are checked by the command, so a
    bad one is a user error (one line, exit 1), still never 2."""
    run = run_cli("bench", "--url", "http://127.0.0.1:9", "--model", "m", "--path", "grpc")
    assert run.code == ERROR and run.err.strip() == (
        "chatchat-tune: error: --path must be native, openai, chatchat, kb or search, not 'grpc'"
    )


def test_no_command_prints_help_and_is_a_usage_error() -> None:
    run = run_cli()
    assert run.code == USAGE and "Usage: chatchat-tune" in run.err + run.out


def test_apply_dry_run_2_when_pending_0_when_not_and_rollback_dry_run_likewise(install) -> None:  # type: ignore[no-untyped-def]
    root = str(install("chatchat-0.3.1"))
    assert run_cli("apply", "--root", root, "--dry-run", "--set", "api_timeout=42").code == PENDING
    assert run_cli("apply", "--root", root, "--set", "api_timeout=42").code == OK
    assert run_cli("apply", "--root", root, "--dry-run", "--set", "api_timeout=42").code == OK
    pending = run_cli("rollback", "--root", root, "--dry-run")
    assert pending.code == PENDING and "would restore" in pending.out
    assert run_cli("rollback", "--root", root).code == OK
    nothing = run_cli("rollback", "--root", root, "--dry-run")
    assert nothing.code == ERROR and "no backup set" in nothing.err


def test_version_and_short_help() -> None:
    from importlib.metadata import version

    run = run_cli("--version")
    assert run.code == OK and run.out.strip() == f"chatchat-tune {version('chatchat-tune')}"
    for args in (["-h"], ["apply", "-h"], ["lab", "serve", "-h"]):
        helped = run_cli(*args)
        assert helped.code == OK and "Usage: chatchat-tune" in helped.out, (args, helped.err)
    assert "-h" in run_cli("--help").out


def test_doctor_0_healthy_3_findings_1_when_doctor_itself_fails(lab: LabProcess, tmp_path: Path) -> None:
    root = copy_install(tmp_path)
    point(root, f"{lab.url}/v1")
    healthy = run_cli("doctor", "--root", str(root))
    assert healthy.code == OK, (healthy.out, healthy.err)
    replace_in(root / "model_settings.yaml", "      - qwen:7b\n", "      - llama3:70b\n")  # not pulled: error
    missing = run_cli("doctor", "--root", str(root))
    assert missing.code == FINDINGS and "ERROR" in missing.out, (missing.out, missing.err)
    down = copy_install(tmp_path / "down")
    point(down, f"http://127.0.0.1:{dead_port()}/v1")
    assert run_cli("doctor", "--root", str(down), "--json").code == FINDINGS
    assert run_cli("doctor", "--root", str(root), "--budget", "0").code == ERROR
    assert run_cli("doctor", "--root", str(tmp_path / "nowhere")).code == ERROR


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX")
@pytest.mark.timeout(60)
def test_ctrl_c_on_a_hanging_bench_exits_130_and_says_interrupted() -> None:
    with LabProcess("tiny", time_scale=0.01, models=MODELS, faults={"hang": 1.0}) as server:
        bench = ["bench", "--url", server.url, "--model", "qwen:7b", "-n", "2", "--timeout", "60"]
        proc = subprocess.Popen(
            [sys.executable, "-m", "tuner", *bench],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "COLUMNS": "200"},
            cwd=REPO,
        )
        time.sleep(2.5)  # started, and its first request is hanging
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == INTERRUPTED, err
    assert "chatchat-tune: interrupted" in err and "Traceback" not in err
