"""Per-request timing hooks into httpx: name resolution and each TCP connect attempt, new vs reused.

httpx resolves and connects inside httpcore's network backend. ``TimedBackend`` wraps the standard one:
it resolves the name itself (timed), then connects to each address in the resolver's order as the OS would
(each attempt timed, so ``localhost`` → ``::1`` first shows up), and records it all on the calling thread's
current ``RequestTrace``. A request whose trace has no connect ran on a reused connection.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpcore
import httpx

_local = threading.local()


@dataclass
class ConnectAttempt:
    address: str
    seconds: float
    ok: bool


@dataclass
class RequestTrace:
    dns: float | None = None
    connect: float | None = None  # all attempts, failed ones included
    attempts: list[ConnectAttempt] = field(default_factory=list)

    @property
    def new_connection(self) -> bool:
        return self.connect is not None


def begin_trace() -> RequestTrace:
    trace = RequestTrace()
    _local.trace = trace
    return trace


def _current() -> RequestTrace | None:
    return getattr(_local, "trace", None)


class TimedBackend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        trace = _current()
        t0 = time.perf_counter()
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise httpcore.ConnectError(f"name resolution failed for {host}: {exc}") from exc
        t1 = time.perf_counter()
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        last: Exception | None = None
        attempts = []
        for address in addresses:
            a0 = time.perf_counter()
            try:
                stream = self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                attempts.append(ConnectAttempt(address, time.perf_counter() - a0, False))
                last = exc
                continue
            attempts.append(ConnectAttempt(address, time.perf_counter() - a0, True))
            if trace is not None:
                trace.dns, trace.connect, trace.attempts = t1 - t0, time.perf_counter() - t1, attempts
            return stream
        if trace is not None:
            trace.dns, trace.connect, trace.attempts = t1 - t0, time.perf_counter() - t1, attempts
        assert last is not None
        raise last

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:  # pragma: no cover - not used for HTTP over TCP
        return self._inner.connect_unix_socket(path, timeout, socket_options)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def timed_client(
    *,
    timeout: float | None,
    max_connections: int,
    max_keepalive: int,
    keepalive_expiry: float,
    trust_env: bool,
    verify: ssl.SSLContext | bool = True,
) -> httpx.Client:
    """An httpx client whose direct connections go through TimedBackend (proxied ones are not timed).
    ``verify``: an SSL context to share (:func:`tuner.measure.tls.shared_context`); ``True`` builds a new
    one and loads the certificates, as a client built by default does."""
    limits = httpx.Limits(
        max_connections=max_connections,
        max_keepalive_connections=max_keepalive,
        keepalive_expiry=keepalive_expiry,
    )
    transport = httpx.HTTPTransport(limits=limits, verify=verify)
    # httpx builds its connection pool without a way to pass a network backend; swap in an equal pool
    # that has ours (httpx is pinned below 0.29; tests check that connects are recorded).
    transport._pool = httpcore.ConnectionPool(
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=TimedBackend(),
    )
    return httpx.Client(transport=transport, timeout=httpx.Timeout(timeout), trust_env=trust_env)
