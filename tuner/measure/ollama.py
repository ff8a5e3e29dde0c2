"""Ollama's native admin calls the tuner needs: load state, preload with a keep_alive, unload."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from tuner.errors import UserError
from tuner.measure.reasons import one_line, server_reason
from tuner.measure.runner import read_some
from tuner.measure.tls import shared_context
from tuner.ollama_ps import Loaded, parse_ps

MAX_ANSWER_BYTES = 1 << 20  # /api/ps and preload answers are small; more than this is not Ollama


class ServerUnreachable(UserError):
    """No HTTP answer at all: refused, timed out or cut off mid-answer (the server is down or unreachable)."""


def _failed(url: str, exc: httpx.HTTPError) -> UserError:
    what = f"{url}: {type(exc).__name__}: {one_line(str(exc)) or 'no detail'}"
    return ServerUnreachable(what) if isinstance(exc, httpx.TransportError) else UserError(what)


def _answer(url: str, status: int, raw: bytes) -> dict[str, Any]:
    """The JSON object of a 200 answer; anything else is a one-line UserError with the server's reason."""
    if status != 200:
        raise UserError(f"{url}: HTTP {status}: {server_reason(raw)}")
    try:
        data = json.loads(raw)
    except ValueError:
        raise UserError(f"{url}: the answer is not JSON: {server_reason(raw)}") from None
    if not isinstance(data, dict):
        raise UserError(f"{url}: the answer is not a JSON object: {server_reason(raw)}")
    return data


def _request(
    method: str, root: str, path: str, body: dict[str, object] | None, timeout: float
) -> dict[str, Any]:
    url = root.rstrip("/") + path
    try:
        with (
            httpx.Client(timeout=timeout, trust_env=False, verify=shared_context()) as client,
            client.stream(method, url, json=body) as resp,
        ):
            status, raw = resp.status_code, read_some(resp, MAX_ANSWER_BYTES)  # a hostile server may not stop
    except httpx.HTTPError as exc:
        raise _failed(url, exc) from None
    return _answer(url, status, raw)


def _post(root: str, path: str, body: dict[str, object], timeout: float) -> dict[str, object]:
    return _request("POST", root, path, body, timeout)


def ps(root: str, timeout: float = 10.0) -> list[Loaded]:
    return list(parse_ps(_request("GET", root, "/api/ps", None, timeout)) or ())


def preload(root: str, model: str, keep_alive: object = None, timeout: float = 600.0) -> float:
    """Load ``model`` (a request with no prompt) and return the wall time it took, in seconds.

    Ollama's answer to a preload (``done_reason: "load"``) carries no durations, so the clock is ours."""
    body: dict[str, object] = {"model": model}
    if keep_alive is not None:
        body["keep_alive"] = keep_alive
    t0 = time.perf_counter()
    _post(root, "/api/generate", body, timeout)
    return time.perf_counter() - t0


def unload(root: str, model: str, timeout: float = 60.0) -> None:
    _post(root, "/api/generate", {"model": model, "keep_alive": 0}, timeout)


def tagged(name: str) -> str:
    """Ollama's names: ``qwen2`` is ``qwen2:latest``."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def find_loaded(root: str, model: str) -> Loaded | None:
    """The model's entry in ``/api/ps`` (exact name and tag), or None when it is not loaded."""
    wanted = tagged(model)
    return next((m for m in ps(root) if tagged(m.name) == wanted), None)


def is_loaded(root: str, model: str) -> bool:
    return find_loaded(root, model) is not None
