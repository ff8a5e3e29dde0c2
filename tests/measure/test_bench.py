"""bench against the lab (its own process): phases, connection reuse, errors by kind, files, CLI, Ctrl-C."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli
from tuner.lab.process import LabProcess
from tuner.measure.runner import RunResult, run
from tuner.measure.workload import Arrival, ClientSettings, Workload

CHAT = {
    "size_bytes": 1,
    "size_vram": 0,
    "load_seconds": 1.0,
    "prompt_tokens_per_s": 100_000.0,
    "gen_tokens_per_s": 1000.0,
}
MODELS = [{"name": "qwen2:7b", **CHAT}, {"name": "qwen:7b", **CHAT}]


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def lab() -> Iterator[Any]:
    labs: list[LabProcess] = []

    def start(**kwargs: Any) -> LabProcess:
        kwargs.setdefault("time_scale", 0.01)
        kwargs.setdefault("models", MODELS)
        started = LabProcess("tiny", **kwargs).start()
        labs.append(started)
        return started

    yield start
    for each in labs:
        each.stop()


def _run(url: str, *, client: ClientSettings | None = None, **workload: Any) -> RunResult:
    workload.setdefault("model", "qwen2:7b")
    workload.setdefault("requests", 4)
    return run(url, Workload(**workload), client or ClientSettings(timeout=10.0))


def _kinds(result: RunResult) -> set[str | None]:
    return {s.error for s in result.samples}


@pytest.mark.parametrize("stream", [True, False])
def test_native_phases_are_present_and_ordered(lab: Any, stream: bool) -> None:
    server = lab()
    result = _run(server.url, path="native", stream=stream, max_tokens=8)
    assert [s.ok for s in result.samples] == [True] * 4
    for s in result.samples:
        assert s.ttfb is not None and 0 < s.ttfb <= s.total
        assert s.tokens == 8 and s.prompt_tokens and s.done_reason == "length"  # counts come from the server
        assert s.load is not None and s.eval is not None and s.prompt_eval is not None
        if stream:
            assert s.first_token is not None and s.ttfb <= s.first_token <= s.total
    first, rest = result.samples[0], result.samples[1:]
    assert first.load is not None and first.load >= 0.009  # the cold load (1 s x 0.01)
    assert first.new_connection and first.dns is not None and first.connect is not None
    assert not any(s.new_connection for s in rest) and all(s.connect is None for s in rest)


def test_openai_stream_counts_tokens_from_usage(lab: Any) -> None:
    result = _run(lab().url, path="openai", stream=True, max_tokens=5)
    assert all(s.ok and s.tokens == 5 and s.first_token is not None for s in result.samples)


def test_new_client_per_request_opens_a_connection_each(lab: Any) -> None:
    server = lab()
    result = _run(server.url, requests=5, client=ClientSettings(timeout=10.0, reuse_client=False))
    assert all(s.new_connection and s.connect_attempts == 1 for s in result.samples)
    assert server.stats()["connections_opened"] >= 5
    server.reset()
    reused = _run(server.url, requests=5)
    assert sum(s.new_connection for s in reused.samples) == 1
    assert server.stats()["connections_opened"] == 2  # the run, and this stats call


def test_keepalive_expiry_closes_idle_connections(lab: Any) -> None:
    server = lab()
    gaps = Arrival("gaps", mean_gap=0.3, distribution="fixed")
    expired = _run(
        server.url, requests=3, arrival=gaps, client=ClientSettings(timeout=10.0, keepalive_expiry=0.1)
    )
    assert [s.new_connection for s in expired.samples] == [True, True, True]
    kept = _run(
        server.url, requests=3, arrival=gaps, client=ClientSettings(timeout=10.0, keepalive_expiry=5.0)
    )
    assert [s.new_connection for s in kept.samples] == [True, False, False]


def test_busy_server_is_http_503_per_request(lab: Any) -> None:
    server = lab(max_queue=1, num_parallel=1, models=[{**MODELS[0], "load_seconds": 50.0}])
    result = _run(server.url, requests=6, concurrency=6, path="native")
    assert "http_503" in _kinds(result)
    busy = [s for s in result.samples if s.error == "http_503"]
    assert all(not s.ok and s.status == 503 and s.detail and "busy" in s.detail for s in busy)


@pytest.mark.parametrize("path", ["native", "openai"])
@pytest.mark.parametrize("stream", [True, False])
def test_cut_streams_are_never_ok(lab: Any, path: str, stream: bool) -> None:
    server = lab(faults={"disconnect_every": 1})
    result = _run(server.url, path=path, stream=stream, max_tokens=16)
    assert _kinds(result) <= {"dropped", "incomplete"} and not any(s.ok for s in result.samples)


def test_error_rate_hang_and_refused_by_kind(lab: Any) -> None:
    server = lab(faults={"error_rate": 1.0})
    assert _kinds(_run(server.url)) == {"http_500"}
    server.set_faults(hang=1.0)
    hung = _run(server.url, requests=2, client=ClientSettings(timeout=0.3))
    assert _kinds(hung) == {"timeout"} and all(0.25 < s.total < 2.0 for s in hung.samples)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    refused = _run(f"http://127.0.0.1:{dead}", requests=2)
    assert _kinds(refused) == {"connect"} and all(s.new_connection for s in refused.samples)


def test_prompts_vary(lab: Any) -> None:
    w = Workload(requests=40)
    prompts = [w.prompt(i) for i in range(40)]
    assert len(set(prompts)) == 40
    assert len({p.split("] ", 1)[1] for p in prompts[:16]}) == 16  # a walk through the whole built-in set


def test_cli_files_compare_and_exit_codes(lab: Any, tmp_path: Path) -> None:
    server = lab()
    a, b, c = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "a.csv"
    args = ["bench", "--url", server.url, "--model", "qwen2:7b", "-n", "4", "--path", "native"]
    first = run_cli(*args, "--json-out", str(a), "--csv", str(c))
    assert first.code == 0, first.err
    assert "ttfb" in first.out and "ok 4/4" in first.out and "new connections: 1" in first.out
    data = json.loads(a.read_text(encoding="utf-8"))
    assert data["format"] == "chatchat-tune-bench" and len(data["samples"]) == 4
    assert data["summary"]["ok"] == 4 and {p["phase"] for p in data["summary"]["phases"]} >= {
        "ttfb",
        "total",
        "load",
    }
    rows = list(csv.DictReader(io.StringIO(c.read_text(encoding="utf-8"))))
    assert len(rows) == 4 and rows[0]["ok"] == "True" and float(rows[0]["total"]) > 0
    second = run_cli(*args, "--new-client-per-request", "--json-out", str(b))
    assert second.code == 0 and json.loads(b.read_text(encoding="utf-8"))["summary"]["new_connections"] == 4
    compared = run_cli("bench", "--compare", str(a), "--compare", str(b))
    assert compared.code == 0 and "a.json" in compared.out and "b.json" in compared.out
    assert run_cli("bench", "--compare", str(tmp_path / "missing.json")).code == 1
    assert run_cli("bench", "--url", server.url, "--model", "x", "--path", "grpc").code == 64  # usage
    as_json = run_cli(*args, "--json")
    assert as_json.code == 0 and json.loads(as_json.out)["summary"]["requests"] == 4
    down = run_cli("bench", "--url", "http://127.0.0.1:9", "--model", "m", "-n", "2", "--json")
    # Nothing succeeded: exit 1 and one line on stderr; the JSON still says what was measured, and why.
    assert down.code == 1 and json.loads(down.out)["summary"]["errors"] == {"connect": 2}
    assert "Traceback" not in down.err and len(down.err.splitlines()) == 1


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX-only")
def test_ctrl_c_prints_what_was_measured_and_exits_130(lab: Any) -> None:
    server = lab(time_scale=1.0, models=[{**MODELS[0], "load_seconds": 0.0, "gen_tokens_per_s": 100.0}])
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tuner",
            "bench",
            "--url",
            server.url,
            "--model",
            "qwen2:7b",
            "-n",
            "500",
            "--max-tokens",
            "10",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    time.sleep(2.0)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "interrupted" in out and "total" in out
