"""Send a workload and time every request, phase by phase. Bounded in count and time; Ctrl-C safe."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx

from tuner.measure.protocols import ROUTES, Reader, request_body
from tuner.measure.reasons import BODY_BYTES, one_line, server_reason
from tuner.measure.timing import RequestTrace, begin_trace, timed_client
from tuner.measure.workload import ClientSettings, Workload

ANSWER_BYTES = 16 * 1024 * 1024  # a whole non-streamed answer, or one stream line, read at most this much
HARD_CAP_SECONDS = 900.0  # no request of a bench outlives this, whatever the timeout under test


@dataclass(frozen=True)
class Sample:
    index: int
    start: float  # seconds from the run's start to the send
    ok: bool
    error: (
        str | None
    )  # kind: connect, connect_timeout, timeout, pool_timeout, http_NNN, dropped, incomplete, ...
    status: int | None
    new_connection: bool
    connect_attempts: int
    dns: float | None
    connect: float | None
    ttfb: float | None  # send → response headers (includes dns and connect on a new connection)
    first_token: float | None  # send → first content (streaming only)
    total: float
    tokens: int | None  # from the server (eval_count / usage.completion_tokens)
    prompt_tokens: int | None
    load: float | None  # native only, from the server: load_duration (includes queue wait)
    prompt_eval: float | None
    eval: float | None
    done_reason: str | None
    detail: str | None = None  # error text, shortened


@dataclass(frozen=True)
class RunResult:
    url: str
    workload: Workload
    client: ClientSettings
    samples: tuple[Sample, ...]
    wall: float
    cpu: float  # this process's CPU seconds during the run
    interrupted: bool


def error_kind(exc: Exception) -> str:
    kinds: list[tuple[type[Exception], str]] = [
        (httpx.ConnectTimeout, "connect_timeout"),
        (httpx.PoolTimeout, "pool_timeout"),
        (httpx.TimeoutException, "timeout"),
        (httpx.ConnectError, "connect"),
        (httpx.RemoteProtocolError, "dropped"),
        (httpx.ReadError, "dropped"),
        (httpx.ProxyError, "proxy"),
    ]
    return next((kind for cls, kind in kinds if isinstance(exc, cls)), "transport")


def read_some(resp: httpx.Response, limit: int) -> bytes:
    """Up to ``limit`` bytes of a streamed body (an error page can be endless)."""
    got = bytearray()
    for chunk in resp.iter_bytes():
        got += chunk
        if len(got) >= limit:
            break
    return bytes(got[:limit])


def _lines(resp: httpx.Response) -> Iterator[str | None]:
    """The body's lines as they arrive; ``None`` (then stop) when one grows past ``ANSWER_BYTES``: a
    server that never sends a newline cannot grow the client's memory."""
    pending = bytearray()
    for chunk in resp.iter_bytes():
        if b"\n" not in chunk:  # the common long-line case: no re-scan of what is already held
            pending += chunk
        else:
            first, *middle, last = chunk.split(b"\n")
            pending += first
            for line in (bytes(pending), *middle):
                yield line.rstrip(b"\r").decode("utf-8", "replace")
            pending = bytearray(last)
        if len(pending) > ANSWER_BYTES:
            yield None
            return
    if pending:
        yield pending.decode("utf-8", "replace")


def send_one(
    client: httpx.Client,
    url: str,
    body: dict[str, object],
    workload: Workload,
    index: int,
    run_start: float,
    deadline_s: float,
) -> Sample:
    trace: RequestTrace = begin_trace()
    reader = Reader(workload.path, workload.stream)
    status: int | None = None
    ttfb = first = None
    error: str | None = None
    detail: str | None = None
    t0 = time.perf_counter()
    try:
        with client.stream("POST", url, json=body) as resp:
            ttfb = time.perf_counter() - t0
            status = resp.status_code
            if status != 200:
                error = f"http_{status}"
                detail = server_reason(read_some(resp, BODY_BYTES))
            elif workload.stream:
                for line in _lines(resp):
                    if line is None:
                        error, detail = "too_large", f"a stream line over {ANSWER_BYTES} bytes"
                        break
                    if reader.feed(line) and first is None:
                        first = time.perf_counter() - t0
                    if time.perf_counter() - t0 > deadline_s:
                        error, detail = "deadline", f"over {deadline_s:g} s"
                        break
            else:
                data = read_some(resp, ANSWER_BYTES + 1)
                if len(data) > ANSWER_BYTES:
                    error, detail = "too_large", f"an answer over {ANSWER_BYTES} bytes"
                else:
                    reader.feed(data.decode("utf-8", "replace"))
    except httpx.HTTPError as exc:
        error, detail = error_kind(exc), one_line(str(exc)) or type(exc).__name__
    total = time.perf_counter() - t0
    out = reader.finish()
    if error is None and out.error is not None:
        error, detail = "server_error", one_line(out.error)
    if error is None and not out.complete:
        error = "incomplete"
    return Sample(
        index,
        t0 - run_start,
        error is None,
        error,
        status,
        trace.new_connection,
        len(trace.attempts),
        trace.dns,
        trace.connect,
        ttfb,
        first,
        total,
        out.tokens,
        out.prompt_tokens,
        out.load,
        out.prompt_eval,
        out.eval,
        out.done_reason,
        detail,
    )


def client_error_sample(index: int, start: float, total: float, exc: Exception) -> Sample:
    """A request that failed inside the client itself (a bug, a closed client, an odd reply)."""
    detail = one_line(f"{type(exc).__name__}: {exc}")
    return Sample(
        index, start, False, "client", None, False, 0, None, None, None, None, total,
        None, None, None, None, None, None, detail,
    )  # fmt: skip


def run(
    base_url: str,
    workload: Workload,
    client_settings: ClientSettings,
    *,
    on_sample: Callable[[Sample], None] | None = None,
    stop: threading.Event | None = None,
) -> RunResult:
    """Run the workload against ``base_url`` (the server root, e.g. ``http://127.0.0.1:11434``)."""
    url = base_url.rstrip("/") + ROUTES[workload.path]
    cs = client_settings
    timeout = min(cs.timeout, HARD_CAP_SECONDS) if cs.timeout is not None else HARD_CAP_SECONDS

    def new_client() -> httpx.Client:
        return timed_client(
            timeout=timeout,
            max_connections=cs.max_connections,
            max_keepalive=cs.max_keepalive,
            keepalive_expiry=cs.keepalive_expiry,
            trust_env=cs.trust_env,
        )

    shared = new_client() if cs.reuse_client else None
    stop = stop or threading.Event()
    schedule = workload.arrival.schedule(workload.requests, workload.seed)
    lock = threading.Lock()
    next_index = [0]
    samples: list[Sample] = []

    def one(index: int, counted: bool, start: float) -> None:
        t0 = time.perf_counter()
        try:
            body = request_body(
                workload.path,
                workload.model,
                workload.prompt(index),
                stream=workload.stream,
                max_tokens=workload.max_tokens,
                keep_alive=cs.keep_alive,
            )
            client = shared or new_client()
            try:
                sample = send_one(client, url, body, workload, index, start, timeout)
            finally:
                if shared is None:
                    client.close()
        except Exception as exc:  # a worker must never die silently: every request gets its sample
            sample = client_error_sample(index, t0 - start, time.perf_counter() - t0, exc)
        if counted:
            with lock:
                samples.append(sample)
            if on_sample is not None:
                on_sample(sample)

    def worker(start: float, user: int) -> None:
        gaps = (
            workload.arrival.user_gaps(user, workload.requests, workload.seed)
            if workload.arrival.kind == "users"
            else ()
        )
        for k in itertools.count():
            if stop.is_set():
                return
            # a user of its own: its idle gap, then its next request (closed loop)
            if gaps and (k >= len(gaps) or stop.wait(gaps[k])):
                return
            with lock:
                index = next_index[0]
                if index >= workload.requests:
                    return
                next_index[0] += 1
            if schedule is not None:
                delay = start + schedule[index] - time.perf_counter()
                if delay > 0 and stop.wait(delay):
                    return
            one(index, True, start)

    cpu0 = time.process_time()
    start = time.perf_counter()
    threads: list[threading.Thread] = []
    interrupted = False
    try:
        for i in range(workload.warmup):
            if stop.is_set():
                break
            one(MAX_WARMUP_BASE + i, False, time.perf_counter())
        start = time.perf_counter()
        threads = [
            threading.Thread(target=worker, args=(start, user), daemon=True)
            for user in range(workload.concurrency)
        ]
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():
                t.join(0.2)
    except KeyboardInterrupt:
        interrupted = True
        stop.set()
    finally:
        if any(t.is_alive() for t in threads):
            stop.set()
        deadline = time.perf_counter() + JOIN_GRACE_SECONDS
        for t in threads:  # in-flight requests get a moment; the threads are daemons either way
            if t.is_alive():
                t.join(max(0.0, deadline - time.perf_counter()))
        with lock:  # what was measured before the client closes (a straggler's late sample is not)
            ordered = tuple(sorted(samples, key=lambda s: s.index))
        if shared is not None:
            shared.close()
    wall = time.perf_counter() - start
    return RunResult(url, workload, cs, ordered, wall, time.process_time() - cpu0, interrupted)


MAX_WARMUP_BASE = 1_000_000  # warm-up prompts are numbered apart from measured ones
JOIN_GRACE_SECONDS = 2.0  # after Ctrl-C, in-flight requests get this long before the client closes
