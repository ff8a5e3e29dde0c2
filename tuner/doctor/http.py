"""One bounded HTTP request with its timing trace, never raising: what the probes are built from."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

from tuner.measure.runner import error_kind
from tuner.measure.timing import RequestTrace, begin_trace, timed_client


@dataclass(frozen=True)
class Got:
    status: int | None  # None: no HTTP answer
    kind: str | None  # error kind (connect, timeout, dropped, ...) when there was no answer
    seconds: float
    body: bytes
    trace: RequestTrace
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == 200

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def text(self, limit: int = 200) -> str:
        return self.body[:limit].decode("utf-8", "replace").strip()


def new_client(timeout: float) -> httpx.Client:
    """A direct (no proxy from the environment) timed client, as the probes measure the server itself."""
    return timed_client(
        timeout=timeout, max_connections=4, max_keepalive=4, keepalive_expiry=30.0, trust_env=False
    )


def request(
    method: str,
    url: str,
    *,
    timeout: float,
    body: dict[str, Any] | None = None,
    client: httpx.Client | None = None,
) -> Got:
    """Send one request (a new connection unless ``client`` is given); every failure becomes a kind."""
    trace = begin_trace()
    own = client is None
    c = client if client is not None else new_client(timeout)
    t0 = time.perf_counter()
    try:
        r = c.request(method, url, json=body, timeout=timeout)
        return Got(r.status_code, None, time.perf_counter() - t0, r.content, trace)
    except httpx.HTTPError as exc:
        return Got(
            None, error_kind(exc), time.perf_counter() - t0, b"", trace, str(exc)[:200] or type(exc).__name__
        )
    except OSError as exc:  # pragma: no cover - httpx maps socket errors; this is a last guard
        return Got(None, "transport", time.perf_counter() - t0, b"", trace, str(exc)[:200])
    finally:
        if own:
            c.close()
