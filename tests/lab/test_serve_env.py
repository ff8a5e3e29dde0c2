"""`lab serve` as an Ollama stand-in: OLLAMA_HOST gives its address, OLLAMA_* its defaults (flags win),
and -v prints one access-log line per request. Also: `bench` with no install measures $OLLAMA_HOST."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import REPO, run_cli


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("OLLAMA_")} | env
    proc = subprocess.Popen(
        [sys.executable, "-m", "tuner", "lab", "serve", "--time-scale", "0.01", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=full,
        cwd=REPO,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert "listening on" in line, line + (
        proc.stderr.read() if proc.poll() is not None and proc.stderr else ""
    )
    return proc


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    return err


def test_ollama_host_and_the_ollama_variables_are_the_defaults(tmp_path: Path) -> None:
    port = _free_port()
    env = {"OLLAMA_HOST": f"0.0.0.0:{port}", "OLLAMA_NUM_PARALLEL": "3", "OLLAMA_KEEP_ALIVE": "45s"}
    proc = _serve(env, "--max-queue", "7", "-v")
    try:
        url = f"http://127.0.0.1:{port}"  # every interface in OLLAMA_HOST: the lab takes loopback
        assert httpx.get(f"{url}/api/tags", timeout=10).status_code == 200
        assert httpx.get(f"{url}/no-such-path", timeout=10).status_code == 404
        # the lab's profile as served: the environment's values, the flag's max_queue
        done = run_cli("bench", "--url", url, "--model", "qwen2:7b", "-n", "2", "--path", "native", "--json")
        assert done.code == 0, done.err
    finally:
        err = _stop(proc)
    lines = [line for line in err.splitlines() if " | " in line]
    assert any("| 200 |" in line and "GET /api/tags" in line for line in lines), err
    assert any("| 404 |" in line and "GET /no-such-path" in line for line in lines), err
    assert sum("POST /api/chat" in line for line in lines) == 2, err


def test_a_non_loopback_ollama_host_is_refused_in_one_line() -> None:
    run = run_cli("lab", "serve", env={"OLLAMA_HOST": "10.1.2.3:11434"})
    assert (
        run.code == 1 and "OLLAMA_HOST=10.1.2.3:11434" in run.err and len(run.err.strip().splitlines()) == 1
    )


def test_bench_without_an_install_measures_ollama_host(tmp_path: Path) -> None:
    port = _free_port()
    proc = _serve({"OLLAMA_HOST": f"127.0.0.1:{port}"})
    try:
        done = run_cli(
            "bench", "-n", "2", "--model", "qwen2:7b", "--json", cwd=tmp_path, env={"OLLAMA_HOST": f":{port}"}
        )
    finally:
        _stop(proc)
    assert done.code == 0, done.err
    assert json.loads(done.out)["url"].startswith(f"http://127.0.0.1:{port}/")
    no_model = run_cli("bench", "-n", "2", cwd=tmp_path, env={"OLLAMA_HOST": f":{port}"})
    assert no_model.code == 1 and "--model" in no_model.err


def test_flags_win_over_the_environment_and_zero_means_the_profiles() -> None:
    from tuner.lab.serve_env import address, env_defaults

    env = {"OLLAMA_HOST": "http://127.0.0.1:9000", "OLLAMA_NUM_PARALLEL": "0", "OLLAMA_MAX_QUEUE": "9"}
    assert address(None, None, env) == ("127.0.0.1", 9000)
    assert address("::1", 0, env) == ("::1", 0)
    assert address(None, None, {}) == ("127.0.0.1", 11434)
    found = env_defaults(env | {"OLLAMA_KEEP_ALIVE": "30m"})
    assert (found.num_parallel, found.max_queue, found.keep_alive) == (None, 9, "30m")
