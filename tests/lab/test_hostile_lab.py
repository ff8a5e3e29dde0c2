"""The lab stays responsive and bounded against hostile or careless clients.

Everything runs against the lab in its own process on 127.0.0.1 over real sockets (``LabProcess``).
Raw sockets are used where a client library would hide what is tested (pipelining, abrupt disconnects,
huge bodies). Measured figures are printed (``pytest -s`` shows them).
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tuner.lab.http import MAX_BODY
from tuner.lab.process import LabProcess
from tuner.lab.protocol import MAX_PREDICT

pytestmark = pytest.mark.timeout(120)

MODEL = "qwen2:7b"
MB = 1024 * 1024


# -- raw HTTP/1.1 helpers -----------------------------------------------------------------------------------
def http_request(method: str, path: str, body: bytes = b"", extra: str = "") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}"
    if method == "POST":
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


def post_json(path: str, data: dict[str, Any]) -> bytes:
    return http_request("POST", path, json.dumps(data).encode())


class Reader:
    """Reads HTTP/1.1 responses (Content-Length bodies) off one socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed by the lab")
        self.buf += data

    def response(self) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(self.buf) < length:
            self._fill()
        body, self.buf = self.buf[:length], self.buf[length:]
        return status, headers, body


def connect(lab: LabProcess, timeout: float = 10.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", lab.port), timeout=timeout)
    sock.settimeout(timeout)
    return sock


def version_seconds(lab: LabProcess) -> float:
    """Time for a fresh client to get ``GET /api/version`` answered (connect to last byte)."""
    start = time.perf_counter()
    with connect(lab, timeout=5.0) as sock:
        sock.sendall(http_request("GET", "/api/version"))
        status, _, body = Reader(sock).response()
    elapsed = time.perf_counter() - start
    assert status == 200 and b"version" in body
    return elapsed


def model_counters(lab: LabProcess) -> dict[str, Any]:
    """The chat model's counters from ``/lab/stats``, over a raw socket (quick enough to poll)."""
    with connect(lab, timeout=5.0) as sock:
        sock.sendall(http_request("GET", "/lab/stats"))
        status, _, body = Reader(sock).response()
    assert status == 200
    counters: dict[str, Any] = json.loads(body)["models"].get(MODEL, {})
    return counters


def abort(sock: socket.socket) -> None:
    """Give up the way an impatient client does: close at once, unread data and all (RST)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def vm_rss(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def huge_generation(path: str, stream: bool) -> bytes:
    if path == "/api/generate":
        body: dict[str, Any] = {"model": MODEL, "prompt": "hi", "options": {"num_predict": 10**9}}
    else:
        body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10**9}
    return post_json(path, {**body, "stream": stream})


CASES = [(path, stream) for path in ("/api/generate", "/v1/chat/completions") for stream in (False, True)]


@pytest.fixture(scope="module")
def zero_lab() -> Iterator[LabProcess]:
    """No modelled cost at all: the worst case for a generation loop that never waits."""
    with LabProcess("zero") as lab:
        yield lab


# -- 1. generation length and disconnects -------------------------------------------------------------------
@pytest.mark.parametrize(("path", "stream"), CASES)
def test_huge_num_predict_then_disconnect_does_not_stall_other_clients(
    zero_lab: LabProcess, path: str, stream: bool
) -> None:
    version_seconds(zero_lab)  # warm
    hog = connect(zero_lab)
    hog.sendall(huge_generation(path, stream))
    time.sleep(0.02)  # the generation is under way
    during = [version_seconds(zero_lab) for _ in range(5)]
    assert hog.recv(65536)  # the hog's answer has started (or, capped, finished)
    abort(hog)
    after = [version_seconds(zero_lab) for _ in range(20)]
    print(
        f"\n{path} stream={stream}: /api/version during max {max(during) * 1e3:.2f} ms, "
        f"after disconnect max {max(after) * 1e3:.2f} ms, median {sorted(after)[10] * 1e3:.2f} ms"
    )
    assert max(during) < 0.5 and max(after) < 0.5


@pytest.mark.parametrize(("path", "stream"), CASES)
def test_a_client_that_gives_up_stops_its_generation(make_lab: Any, path: str, stream: bool) -> None:
    lab = make_lab()  # 10 ms per token: the capped answer would take minutes
    hog = connect(lab)
    hog.sendall(huge_generation(path, stream))
    deadline = time.monotonic() + 5.0
    while model_counters(lab).get("active", 0) == 0:  # loaded and generating
        assert time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(0.1)
    abort(hog)
    gone = time.perf_counter()
    version = version_seconds(lab)
    while True:
        counters = model_counters(lab)
        if counters["active"] == 0 and counters["in_flight"] == 0:
            break
        assert time.perf_counter() - gone < 1.0, counters
        time.sleep(0.005)
    stopped = time.perf_counter() - gone
    print(
        f"\n{path} stream={stream}: generation stopped {stopped * 1e3:.1f} ms after the client left; "
        f"/api/version {version * 1e3:.2f} ms"
    )
    assert stopped < 0.5 and version < 0.5


def test_generation_length_is_capped_with_done_reason_length(zero_lab: LabProcess) -> None:
    with httpx.Client(base_url=zero_lab.url, trust_env=False, timeout=30.0) as client:
        body = {"model": MODEL, "prompt": "hi", "stream": False, "options": {"num_predict": 10**9}}
        native = client.post("/api/generate", json=body).json()
        assert native["done_reason"] == "length" and native["eval_count"] == MAX_PREDICT
        assert len(native["response"].split()) == MAX_PREDICT
        chat = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
        answer = client.post("/v1/chat/completions", json={**chat, "max_tokens": 10**9}).json()
        assert answer["choices"][0]["finish_reason"] == "length"
        assert answer["usage"]["completion_tokens"] == MAX_PREDICT
        with client.stream("POST", "/api/chat", json={**chat, "options": {"num_predict": 10**9}}) as r:
            lines = [json.loads(line) for line in r.iter_lines() if line]
        assert lines[-1]["done"] and lines[-1]["done_reason"] == "length"
        assert lines[-1]["eval_count"] == MAX_PREDICT == len(lines) - 1
        # a num_predict of 1e999 (inf once parsed) is a bad request, not an engine failure
        raw = b'{"model": "qwen2:7b", "prompt": "x", "options": {"num_predict": 1e999}}'
        inf = client.post("/api/generate", content=raw)
        assert inf.status_code == 400 and "num_predict" in inf.json()["error"]


# -- 2. request bodies: capped as they arrive, with back-pressure -------------------------------------------
def test_pipelined_huge_body_behind_a_request_in_flight_is_not_buffered(make_lab: Any) -> None:
    lab = make_lab()  # 10 ms per token
    assert lab.proc is not None
    pid = lab.proc.pid
    warm = {"model": MODEL, "prompt": "warm", "stream": False, "options": {"num_predict": 1}}
    assert httpx.post(lab.url + "/api/generate", json=warm, trust_env=False, timeout=10).status_code == 200
    rss: list[int] = [vm_rss(pid)]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            rss.append(vm_rss(pid))
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    sock = connect(lab)
    slow = {"model": MODEL, "prompt": "slow", "stream": False, "options": {"num_predict": 150}}  # ~1.5 s
    sock.sendall(post_json("/api/generate", slow))
    size = 256 * MB
    sent = [0]

    def blast() -> None:
        head = f"POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {size}\r\n\r\n".encode()
        chunk = b" " * MB
        with contextlib.suppress(OSError):
            sock.sendall(head)
            while sent[0] < size:
                sock.sendall(chunk)
                sent[0] += len(chunk)

    sender = threading.Thread(target=blast, daemon=True)
    start = time.perf_counter()
    sender.start()
    reader = Reader(sock)
    status, _, body = reader.response()
    in_flight = time.perf_counter() - start
    pushed = sent[0]
    assert status == 200 and json.loads(body)["eval_count"] == 150
    second: int | str
    try:
        second = reader.response()[0]
    except (OSError, EOFError) as err:  # the 413 can be lost to the RST of a close with unread input
        second = type(err).__name__
    sender.join(timeout=30)
    assert not sender.is_alive()
    time.sleep(0.1)
    stop.set()
    sampler.join(timeout=5)
    sock.close()
    growth = max(rss) - rss[0]
    print(
        f"\npipelined {size // MB} MiB body: the client pushed {pushed / MB:.1f} MiB during the "
        f"{in_flight:.2f} s request in flight; lab RSS {rss[0] / MB:.1f} -> peak {max(rss) / MB:.1f} MiB "
        f"(+{growth / MB:.1f} MiB, {len(rss)} samples); second answer: {second}"
    )
    assert second in (413, "ConnectionResetError", "EOFError", "BrokenPipeError")
    assert pushed < 32 * MB  # back-pressure: the rest waited in the client
    assert growth < 40 * MB
    assert version_seconds(lab) < 0.5


def test_oversized_content_length_is_refused_before_the_body(zero_lab: LabProcess) -> None:
    with connect(zero_lab) as sock:
        start = time.perf_counter()
        head = f"POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {MAX_BODY + 1}\r\n\r\n"
        sock.sendall(head.encode() + b"{" + b" " * (256 * 1024))
        reader = Reader(sock)
        status, headers, body = reader.response()
        elapsed = time.perf_counter() - start
        assert status == 413 and headers.get("connection") == "close"
        assert "too large" in json.loads(body)["error"]
        with pytest.raises(EOFError):
            reader.response()  # and the connection is closed
    print(f"\n413 for Content-Length {MAX_BODY + 1} after {elapsed * 1e3:.2f} ms")
    assert elapsed < 1.0
    assert version_seconds(zero_lab) < 0.5


def test_oversized_chunked_body_is_refused_once_the_cap_is_passed(zero_lab: LabProcess) -> None:
    sock = connect(zero_lab)
    sent = [0]

    def blast() -> None:
        chunk = b"%x\r\n" % MB + b" " * MB + b"\r\n"
        with contextlib.suppress(OSError):
            sock.sendall(b"POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n")
            for _ in range(4 * MAX_BODY // MB):
                sock.sendall(chunk)
                sent[0] += MB

    sender = threading.Thread(target=blast, daemon=True)
    sender.start()
    try:
        status, headers, _ = Reader(sock).response()
        at_answer = sent[0]
    finally:
        sender.join(timeout=30)
        sock.close()
    print(f"\nchunked body: 413 after the client sent {at_answer / MB:.0f} MiB (cap {MAX_BODY / MB:.0f} MiB)")
    assert status == 413 and headers.get("connection") == "close"
    assert MAX_BODY - 16 * MB <= at_answer <= MAX_BODY + 16 * MB
    assert version_seconds(zero_lab) < 0.5


# -- 3. /lab/faults values are validated --------------------------------------------------------------------
GOOD = {"disconnect_every": 7, "connect_delay_hosts": ["example.invalid"]}

BAD: list[tuple[dict[str, Any], str]] = [
    ({"error_rate": 1.5}, "error_rate"),
    ({"error_rate": -0.1}, "error_rate"),
    ({"error_rate": float("nan")}, "error_rate"),
    ({"error_rate": True}, "error_rate"),
    ({"disconnect_mid_stream": "0.5"}, "disconnect_mid_stream"),
    ({"hang": "false"}, "hang"),
    ({"hang": 2}, "hang"),
    ({"connect_delay": -1}, "connect_delay"),
    ({"first_byte_delay": float("inf")}, "first_byte_delay"),
    ({"connect_delay": None}, "connect_delay"),
    ({"error_every": 2.5}, "error_every"),
    ({"error_every": True}, "error_every"),
    ({"disconnect_every": -1}, "disconnect_every"),
    ({"connect_delay_hosts": [1, 2]}, "connect_delay_hosts"),
    ({"error_rate": 0.5, "no_such_fault": 1}, "no_such_fault"),
]


@pytest.mark.parametrize(("bad", "field"), BAD, ids=[f"{field}={bad[field]!r}" for bad, field in BAD])
def test_bad_fault_values_are_refused_and_change_nothing(
    zero_lab: LabProcess, bad: dict[str, Any], field: str
) -> None:
    in_force = zero_lab.set_faults(**GOOD)
    try:
        body = json.dumps(bad).encode()  # NaN and Infinity as Python's json writes them
        r = httpx.post(zero_lab.url + "/lab/faults", content=body, trust_env=False, timeout=10)
        assert r.status_code == 400
        error = r.json()
        assert error["field"] == field and field in error["error"]
        assert httpx.get(zero_lab.url + "/lab/faults", trust_env=False).json() == in_force
        assert in_force["disconnect_every"] == 7
    finally:
        zero_lab.set_faults()


def test_good_fault_values_are_accepted(zero_lab: LabProcess) -> None:
    try:
        faults = zero_lab.set_faults(hang=True, error_rate=1, connect_delay=2, connect_delay_hosts="x")
        assert faults["hang"] == 1.0 and faults["error_rate"] == 1.0 and faults["connect_delay"] == 2.0
        assert faults["connect_delay_hosts"] == ["x"]
        assert zero_lab.set_faults(hang=False)["hang"] == 0.0
    finally:
        zero_lab.set_faults()
    assert httpx.post(zero_lab.url + "/lab/faults", content=b"[1]", trust_env=False).status_code == 400


# -- 4. /lab/stats stays bounded ----------------------------------------------------------------------------
def test_unknown_paths_share_one_stats_bucket(zero_lab: LabProcess) -> None:
    zero_lab.set_faults()
    zero_lab.reset()
    n, batch = 6000, 500
    with connect(zero_lab) as sock:
        reader = Reader(sock)
        for first in range(0, n, batch):
            sent = b"".join(
                http_request(("GET", "POST", "FROB")[i % 3], f"/no/such/path/{i}?q={i}")
                if i % 4
                else http_request("GET", f"/v1/models/nothing-{i}")
                for i in range(first, first + batch)
            )
            sock.sendall(sent)  # pipelined
            statuses = {reader.response()[0] for _ in range(batch)}
            assert statuses == {404}
    stats = zero_lab.stats()
    size = len(json.dumps(stats))
    print(f"\n{n} distinct unknown paths: {len(stats['requests'])} request keys, /lab/stats {size} bytes")
    expected = {"other": n - n // 4, "GET /v1/models/{model}": n // 4, "GET /lab/stats": 1}
    assert stats["requests"] == expected
    assert stats["statuses"] == {"404": n, "200": 1}  # and the reset
    assert size < 4096
