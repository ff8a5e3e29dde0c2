"""Measuring fails loudly and cleanly: the server's reason is shown, a run where nothing succeeded exits 1
with one line, and what a user's network does (refused, timeouts, cut answers, HTML error pages) never
ends in a traceback from bench, doctor or warm. Real servers on 127.0.0.1, each in its own process."""

from __future__ import annotations

import itertools
import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, Run, assert_refused, run_cli
from tuner.lab.process import LabProcess
from tuner.measure.reasons import REASON_CHARS, failure_reasons, server_reason

MODEL = {
    "name": "qwen2:7b",
    "size_bytes": 1,
    "size_vram": 0,
    "load_seconds": 0.0,
    "prompt_tokens_per_s": 100_000.0,
    "gen_tokens_per_s": 1000.0,
}

# A server on 127.0.0.1 that misbehaves in one way (argv[1]) on every request:
#   html500  a 500 with a long HTML page (and a terminal escape in it), as a proxy or a crashed app answers
#   close    reads the request and closes the connection without a word
#   cut      starts a 200 answer and closes the connection half-way
#   hang     reads the request and never answers
#   flood    a 200 answer that never ends a line (40 MiB)
BAD_SERVER = r"""
import socket, sys, threading

MODE = sys.argv[1]
HTML = (
    b"<!DOCTYPE html><html><head><title>500 Internal Server Error</title><style>h1{color:red}</style></head>"
    b"<body><h1>500 Internal Server Error</h1><p>\x1b[31mupstream crashed\x1b[0m</p><pre>"
    + b"stack frame line\n" * 400
    + b"</pre></body></html>"
)


def handle(conn):
    with conn:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                return
            body += chunk
        if MODE == "html500":
            conn.sendall(
                b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/html\r\nConnection: close\r\n"
                + b"Content-Length: %d\r\n\r\n" % len(HTML)
                + HTML
            )
        elif MODE == "cut":
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nContent-Length: 100000\r\n\r\n"
                b'{"message": {"content": "hi"}, "done": false}\n'
            )
        elif MODE == "flood":  # a 200 that never ends a line (up to 40 MiB, then it gives up)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n\r\n")
            try:
                for _ in range(640):
                    conn.sendall(b"x" * 65536)
            except OSError:
                pass
        elif MODE == "hang":
            threading.Event().wait(120)


server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", 0))
server.listen(64)
print(server.getsockname()[1], flush=True)
while True:
    conn, _ = server.accept()
    threading.Thread(target=handle, args=(conn,), daemon=True).start()
"""

MODES = ("html500", "close", "cut", "hang")


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def bad_server() -> Iterator[Callable[[str], str]]:
    procs: list[subprocess.Popen[str]] = []

    def start(mode: str) -> str:
        proc = subprocess.Popen([sys.executable, "-c", BAD_SERVER, mode], stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout is not None
        return f"http://127.0.0.1:{int(proc.stdout.readline())}"

    yield start
    for proc in procs:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture
def lab() -> Iterator[Callable[..., LabProcess]]:
    labs: list[LabProcess] = []

    def start(**faults: object) -> LabProcess:
        server = LabProcess("tiny", time_scale=0.01, models=[MODEL], faults=faults or None).start()
        labs.append(server)
        return server

    yield start
    for each in labs:
        each.stop()


def _closed_port() -> str:
    """A port on 127.0.0.1 with nothing listening (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def _bench(url: str, *args: str) -> Run:
    return run_cli("bench", "--url", url, "-n", "3", *args)


def _no_traceback(run: Run) -> None:
    assert "Traceback" not in run.err and "Traceback" not in run.out, run.err[-3000:]


# --- 1. bench: the server's reason, and exit 1 when nothing succeeded ------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize("path", ["native", "openai"])
def test_unknown_model_exits_1_with_the_servers_reason(lab: Callable[..., LabProcess], path: str) -> None:
    server = lab()
    run = _bench(server.url, "--model", "no-such-model", "--path", path)
    assert_refused(run, "no request succeeded", "http_404", "model 'no-such-model' not found")
    # The text output shows the reason (one line per distinct reason, with its count), not only the kind.
    assert "3 × http_404: model 'no-such-model' not found" in run.out
    as_json = _bench(server.url, "--model", "no-such-model", "--path", path, "--json")
    assert_refused(as_json, "no request succeeded")
    summary = json.loads(as_json.out)["summary"]
    assert summary["errors"] == {"http_404": 3}
    assert summary["reasons"] == [
        {"kind": "http_404", "reason": "model 'no-such-model' not found", "count": 3}
    ]


@pytest.mark.timeout(60)
def test_closed_port_exits_1_in_one_line() -> None:
    t0 = time.monotonic()
    run = _bench(_closed_port(), "--model", "m")
    assert_refused(run, "no request succeeded (3 of 3 failed)", "connect:")
    assert "3 × connect:" in run.out
    assert time.monotonic() - t0 < 10


@pytest.mark.timeout(60)
def test_partial_success_exits_0_and_still_shows_the_reasons(lab: Callable[..., LabProcess]) -> None:
    server = lab(error_every=2)
    run = run_cli("bench", "--url", server.url, "--model", "qwen2:7b", "-n", "4", "--path", "native")
    assert run.code == 0, run.err
    _no_traceback(run)
    assert "ok 2/4" in run.out and "2 × http_500: lab fault: injected" in run.out
    data = json.loads(
        run_cli(
            "bench", "--url", server.url, "--model", "qwen2:7b", "-n", "4", "--path", "native", "--json"
        ).out
    )
    (reason,) = data["summary"]["reasons"]
    assert reason["kind"] == "http_500" and reason["count"] == 2 and "injected" in reason["reason"]


@pytest.mark.timeout(60)
def test_a_long_html_error_page_is_one_short_clean_line(bad_server: Callable[[str], str]) -> None:
    run = _bench(bad_server("html500"), "--model", "m")
    assert_refused(run, "http_500: 500 Internal Server Error")
    lines = run.out.splitlines()  # a long reason wraps at spaces, continued with a hanging indent
    (at,) = [n for n, line in enumerate(lines) if "× http_500:" in line]
    more = itertools.takewhile(lambda line: line.startswith("      "), lines[at + 1 :])
    shown = " ".join([lines[at], *(line.strip() for line in more)])
    reason = shown.split("× http_500: ", 1)[1]
    assert len(reason) <= REASON_CHARS and reason.endswith("…")
    assert "upstream crashed" in reason and "<" not in reason and "\x1b" not in run.out + run.err
    assert "color:red" not in reason  # the page's style sheet is not its text


def test_reasons_are_grouped_and_counted() -> None:
    from tuner.measure.runner import Sample

    def failed(kind: str, detail: str | None) -> Sample:
        return Sample(0, 0.0, False, kind, None, False, 0, None, None, None, None, 0.1,
                      None, None, None, None, None, None, detail)  # fmt: skip

    samples = [failed("http_404", "model 'x' not found")] * 3 + [failed("incomplete", None)]
    reasons = failure_reasons(samples)
    assert [(r.kind, r.count) for r in reasons] == [("http_404", 3), ("incomplete", 1)]
    assert "protocol" in reasons[1].reason  # a kind without a server message says what it means
    assert server_reason(b'{"error": {"message": "model \\"x\\" not found", "type": "not_found_error"}}') == (
        'model "x" not found'
    )
    assert server_reason(b'{"detail": [{"msg": "field required"}]}') == "field required"
    assert server_reason(b"") == "(empty body)"


# --- 3. what a network can do never ends in a traceback --------------------------------------------------


@pytest.mark.timeout(90)
@pytest.mark.parametrize("mode", MODES)
def test_bench_never_tracebacks(bad_server: Callable[[str], str], mode: str) -> None:
    for path in ("native", "openai"):
        run = _bench(bad_server(mode), "--model", "m", "--path", path, "--timeout", "0.5")
        assert_refused(run, "no request succeeded")


@pytest.mark.timeout(90)
@pytest.mark.parametrize("mode", [*MODES, "refused"])
def test_doctor_never_tracebacks(bad_server: Callable[[str], str], tmp_path: Path, mode: str) -> None:
    url = _closed_port() if mode == "refused" else bad_server(mode)
    root = tmp_path / "chatchat"
    shutil.copytree(FIXTURES / "chatchat-0.3.1", root)
    assert run_cli("apply", "--root", str(root), "--set", f"ollama_url={url}/v1").code == 0
    t0 = time.monotonic()
    run = run_cli("doctor", "--root", str(root), "--budget", "2")
    _no_traceback(run)
    assert run.code in (0, 3), run.err  # 3: a finding at warn or error; never 1, doctor itself failing
    assert time.monotonic() - t0 < 30


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode", ["html500", "close", "cut", "refused"])
def test_warm_never_tracebacks(bad_server: Callable[[str], str], mode: str) -> None:
    url = _closed_port() if mode == "refused" else bad_server(mode)
    run = run_cli("warm", "--url", url, "--model", "m")
    needle = {"html500": "HTTP 500: 500 Internal Server Error", "refused": "ConnectError"}.get(mode, url)
    assert_refused(run, url, needle)


@pytest.mark.timeout(90)
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
def test_an_endless_answer_is_cut_off_not_held(bad_server: Callable[[str], str], stream: bool) -> None:
    flag = [] if stream else ["--no-stream"]
    run = _bench(bad_server("flood"), "--model", "m", "--path", "native", "-n", "1", *flag)
    assert_refused(run, "no request succeeded", "too_large")
