"""Review fixes: odd-but-valid JSON never kills a worker, malformed bench files, bench option checks."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli
from tuner.errors import UserError
from tuner.lab.process import LabProcess
from tuner.measure import files
from tuner.measure.protocols import Reader
from tuner.measure.runner import MAX_WARMUP_BASE, RunResult, Sample, run
from tuner.measure.workload import ClientSettings, Workload

MODEL = {
    "name": "qwen2:7b",
    "size_bytes": 1,
    "size_vram": 0,
    "load_seconds": 0.0,
    "prompt_tokens_per_s": 100_000.0,
    "gen_tokens_per_s": 1000.0,
}

# A server on 127.0.0.1 that answers every POST with the same body (argv[1]: a JSON list of lines).
ODD_SERVER = r"""
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BODY = "\n".join(json.loads(sys.argv[1])).encode("utf-8") + b"\n"

class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def odd_server() -> Iterator[Any]:
    procs: list[subprocess.Popen[str]] = []

    def start(lines: list[str]) -> str:
        proc = subprocess.Popen(
            [sys.executable, "-c", ODD_SERVER, json.dumps(lines)], stdout=subprocess.PIPE, text=True
        )
        procs.append(proc)
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        return f"http://127.0.0.1:{port}"

    yield start
    for proc in procs:
        proc.kill()
        proc.wait(timeout=10)


def _j(obj: object) -> str:
    return json.dumps(obj)


ODD_CASES: list[tuple[str, bool, list[str], str | None]] = [
    ("native", False, [_j({"message": "x", "done": True, "eval_count": "7", "done_reason": 3})], None),
    ("native", True, [_j({"message": ["x"]}), _j({"message": {"content": 5}, "done": True})], None),
    ("native", False, [_j({"message": None, "response": {"a": 1}})], "incomplete"),
    ("openai", False, [_j({"choices": ["x"]})], "incomplete"),
    ("openai", False, [_j({"choices": "x"})], "incomplete"),
    (
        "openai",
        False,
        [
            _j(
                {
                    "choices": [None, {"message": "x", "finish_reason": "stop"}],
                    "usage": {"completion_tokens": "5", "prompt_tokens": True},
                }
            )
        ],
        None,
    ),
    (
        "openai",
        True,
        [
            "data: " + _j({"choices": [None, {"delta": "x"}, 3]}),
            "data: "
            + _j({"choices": [{"delta": {"content": ["hi"]}, "finish_reason": "stop"}], "usage": []}),
            "data: [DONE]",
        ],
        None,
    ),
]


@pytest.mark.parametrize(("path", "stream", "lines", "error"), ODD_CASES)
def test_odd_but_valid_json_gives_a_sample_for_every_request(
    odd_server: Any, path: str, stream: bool, lines: list[str], error: str | None
) -> None:
    url = odd_server(lines)
    workload = Workload(path=path, requests=5, concurrency=2, stream=stream)
    result = run(url, workload, ClientSettings(timeout=10.0))
    assert [s.index for s in result.samples] == [0, 1, 2, 3, 4]
    assert {s.error for s in result.samples} == {error}
    for s in result.samples:
        assert s.tokens is None and s.prompt_tokens is None
        assert s.done_reason is None or isinstance(s.done_reason, str)


@pytest.mark.parametrize(("path", "stream", "lines", "error"), ODD_CASES)
def test_reader_never_raises_on_odd_json(
    path: str, stream: bool, lines: list[str], error: str | None
) -> None:
    reader = Reader(path, stream)
    if stream or path == "native":
        for line in lines:
            reader.feed(line)
    else:
        reader.feed("\n".join(lines))
    out = reader.finish()
    assert out.complete is (error is None)
    assert out.tokens is None and out.prompt_tokens is None


class _Flaky(Workload):
    """A workload whose prompt for one request raises: stands for any bug inside a worker."""

    def prompt(self, index: int) -> str:
        if index == 2:
            raise ValueError("no prompt for you")
        return super().prompt(index)


class _InterruptedWarmup(Workload):
    def prompt(self, index: int) -> str:
        if index >= MAX_WARMUP_BASE:
            raise KeyboardInterrupt
        return super().prompt(index)


def test_an_exception_in_a_worker_is_a_client_error_sample(odd_server: Any) -> None:
    url = odd_server([_j({"message": {"content": "hi"}, "done": True, "eval_count": 1})])
    result = run(url, _Flaky(path="native", requests=4, stream=False), ClientSettings(timeout=10.0))
    assert [s.index for s in result.samples] == [0, 1, 2, 3]
    failed = result.samples[2]
    assert not failed.ok and failed.error == "client"
    assert (
        failed.detail is not None and "ValueError" in failed.detail and "no prompt for you" in failed.detail
    )
    assert all(s.ok for i, s in enumerate(result.samples) if i != 2)


def test_ctrl_c_during_warmup_is_an_interrupted_run(odd_server: Any) -> None:
    url = odd_server([_j({"message": {"content": "hi"}, "done": True})])
    workload = _InterruptedWarmup(path="native", requests=4, stream=False, warmup=2)
    result = run(url, workload, ClientSettings(timeout=10.0))
    assert result.interrupted and result.samples == ()


# --- malformed bench files ----------------------------------------------------------------------------


def _sample(index: int) -> Sample:
    return Sample(
        index, 0.0, True, None, 200, index == 0, 1, None, None, 0.01, 0.02, 0.05,
        3, 5, None, None, None, "stop",
    )  # fmt: skip


def _valid() -> dict[str, Any]:
    result = RunResult(
        "http://127.0.0.1:1/v1/chat/completions",
        Workload(requests=2),
        ClientSettings(),
        (_sample(0), _sample(1)),
        0.1,
        0.01,
        False,
    )
    data: dict[str, Any] = json.loads(files.to_json(result))
    return data


def test_a_saved_bench_file_loads_back(tmp_path: Path) -> None:
    path = tmp_path / "ok.json"
    path.write_text(json.dumps(_valid()), encoding="utf-8")
    _, summary = files.load_summary(path)
    assert summary.requests == 2 and summary.ok == 2 and summary.phase("total") is not None


def _broken(change: str) -> dict[str, Any]:
    data = _valid()
    s = data["summary"]
    if change == "no summary":
        del data["summary"]
    elif change == "summary is a list":
        data["summary"] = []
    elif change == "no phases":
        del s["phases"]
    elif change == "phases is text":
        s["phases"] = "x"
    elif change == "phase is not an object":
        s["phases"] = [1]
    elif change == "phase lacks p50":
        del s["phases"][0]["p50_ms"]
    elif change == "p95 is text":
        s["phases"][0]["p95_ms"] = "fast"
    elif change == "requests is text":
        s["requests"] = "2"
    elif change == "errors is a list":
        s["errors"] = []
    elif change == "tokens is a float":
        s["tokens"] = 1.5
    return data


@pytest.mark.parametrize(
    "change",
    [
        "no summary",
        "summary is a list",
        "no phases",
        "phases is text",
        "phase is not an object",
        "phase lacks p50",
        "p95 is text",
        "requests is text",
        "errors is a list",
        "tokens is a float",
    ],
)
def test_malformed_bench_file_is_a_one_line_user_error(tmp_path: Path, change: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(_broken(change)), encoding="utf-8")
    with pytest.raises(UserError) as caught:
        files.load_summary(path)
    assert caught.value.path == path and "malformed bench file" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_compare_with_a_malformed_file_exits_1_without_traceback(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(_broken("no phases")), encoding="utf-8")
    done = run_cli("bench", "--compare", str(path))
    assert done.code == 1 and "Traceback" not in done.err
    assert "bad.json" in done.err and len(done.err.strip().splitlines()) == 1


# --- bench options ---------------------------------------------------------------------------------------

DOWN = ["bench", "--url", "http://127.0.0.1:9", "--model", "m", "-n", "1"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--max-connections", "0"], "--max-connections"),
        (["--max-keepalive", "-1"], "--max-keepalive"),
        (["--timeout", "0"], "--timeout"),
        (["--timeout", "-5"], "--timeout"),
        (["--rate", "0"], "--rate"),
        (["--rate", "-2"], "--rate"),
        (["--idle-gap", "0"], "--idle-gap"),
        (["--idle-gap", "inf"], "--idle-gap"),
        (["--idle-gap", "soon"], "--idle-gap"),
        (["--keep-alive", "5 minutes"], "--keep-alive"),
        (["--json-out", "no-such-folder/x.json"], "x.json"),
        (["--csv", "no-such-folder/x.csv"], "x.csv"),
    ],
)
def test_bad_bench_options_are_one_line_errors(tmp_path: Path, args: list[str], needle: str) -> None:
    done = run_cli(*DOWN, *args, cwd=tmp_path)
    assert done.code == 1, done.out
    assert "Traceback" not in done.err and needle in done.err
    assert len(done.err.strip().splitlines()) == 1, done.err


def test_unwritable_output_file_is_a_one_line_error(tmp_path: Path) -> None:
    folder = tmp_path / "a-folder.json"
    folder.mkdir()
    done = run_cli(*DOWN, "--json-out", str(folder))
    assert done.code == 1 and "Traceback" not in done.err
    assert "a-folder.json" in done.err and len(done.err.strip().splitlines()) == 1


def test_idle_gap_takes_a_duration_and_files_are_written(tmp_path: Path) -> None:
    out, table = tmp_path / "run.json", tmp_path / "run.csv"
    done = run_cli(*DOWN, "--idle-gap", "10m", "--json-out", str(out), "--csv", str(table))
    assert done.code == 1, done.err  # nothing succeeded (the server is down), yet the files are written
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["workload"]["arrival"] == {
        "kind": "gaps",
        "rate_per_s": 0.0,
        "mean_gap_s": 600.0,
        "distribution": "exponential",
        "arrivals": None,
    }
    assert table.read_text(encoding="utf-8").startswith("index,")


@pytest.fixture
def lab() -> Iterator[LabProcess]:
    server = LabProcess("tiny", time_scale=0.01, models=[MODEL]).start()
    yield server
    server.stop()


@pytest.mark.parametrize("keep_alive", ["300", "-1", "0", "30m"])
def test_keep_alive_reaches_the_native_body_in_the_form_ollama_takes(
    lab: LabProcess, keep_alive: str
) -> None:
    done = run_cli(
        "bench", "--url", lab.url, "--model", "qwen2:7b", "-n", "2", "--path", "native",
        "--keep-alive", keep_alive, "--json",
    )  # fmt: skip
    assert done.code == 0, done.err
    summary = json.loads(done.out)["summary"]
    assert summary["ok"] == 2 and summary["errors"] == {}
