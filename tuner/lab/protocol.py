"""Shared protocol pieces: JSON bodies, Ollama's error bodies, request options, timestamps, stream guard."""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timezone
from typing import Any

from tuner.lab.engine import GenRequest, Message
from tuner.lab.http import Response
from tuner.lab.keepalive import KeepAliveError, parse_keep_alive

NDJSON = "application/x-ndjson"
SSE = "text/event-stream"
JSON_CT = "application/json; charset=utf-8"

# Longest answer the lab generates for one request. A larger num_predict / max_tokens is clamped to it and
# the answer ends with done_reason / finish_reason "length", as a server whose context fills up would say.
MAX_PREDICT = 32768


class BadRequest(Exception):
    """A 400 with Ollama's message."""


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def json_response(status: int, obj: Any, cut: bool = False) -> Response:
    return Response(status, dumps(obj), JSON_CT, cut=cut)


async def json_response_off_loop(status: int, obj: Any) -> Response:
    """A large answer (thousands of embeddings) serialised in a worker thread: other clients keep going."""
    return Response(status, await asyncio.to_thread(dumps, obj), JSON_CT)


def native_error(status: int, message: str) -> Response:
    return json_response(status, {"error": message})


def openai_error(status: int, message: str) -> Response:
    kind = {400: "invalid_request_error", 404: "not_found_error"}.get(status, "api_error")
    return json_response(status, {"error": {"message": message, "type": kind, "param": None, "code": None}})


def parse_body(body: bytes) -> dict[str, Any]:
    if not body.strip():
        raise BadRequest("missing request body")
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise BadRequest(f"invalid character in JSON body: {err}") from None
    if not isinstance(data, dict):
        raise BadRequest(f"json: cannot unmarshal {type(data).__name__} into Go value of type request")
    return data


def keep_alive_of(data: dict[str, Any]) -> float | None:
    """The request's keep_alive in seconds (``math.inf`` = forever), or None when absent (or null)."""
    value = data.get("keep_alive")
    if value is None:
        return None
    try:
        return parse_keep_alive(value)
    except KeepAliveError as err:
        raise BadRequest(str(err)) from None


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def rfc3339(at: datetime) -> str:
    return at.isoformat()


def ns(seconds: float) -> int:
    return max(int(seconds * 1e9), 0)


def _int_option(value: object, name: str) -> int:
    if not isinstance(value, (int, float)) or not _finite(value):
        raise BadRequest(f"invalid option {name!r}: expected a number")
    return int(value)


def gen_request(
    *,
    messages: list[Any] | None,
    prompt: str | None,
    options: dict[str, Any],
    max_tokens: object = None,
) -> GenRequest:
    """A validated engine request; ``options`` are Ollama's (``num_predict``, ``temperature``...)."""
    msgs: list[Message] = []
    for m in messages or []:
        if not isinstance(m, dict):
            raise BadRequest("json: cannot unmarshal message: expected an object")
        content = m.get("content", "")
        if isinstance(content, list):  # OpenAI content parts
            content = "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
        msgs.append(Message(role=str(m.get("role", "user")), content=str(content or "")))
    limit: int | None = None
    raw_limit = max_tokens if max_tokens is not None else options.get("num_predict")
    if raw_limit is not None:
        limit = _int_option(raw_limit, "num_predict")
        # -1 / -2 (negative): the engine's own default; larger than the cap: the cap
        limit = None if limit < 0 else min(limit, MAX_PREDICT)
    stop = options.get("stop") or ()
    if isinstance(stop, str):
        stop = (stop,)
    temperature = options.get("temperature")
    seed = options.get("seed")
    return GenRequest(
        messages=tuple(msgs),
        prompt=prompt,
        max_tokens=limit,
        temperature=_float_or_none(temperature),
        seed=int(seed) if isinstance(seed, (int, float)) and _finite(seed) else None,
        stop=tuple(str(s) for s in stop),
        options=options,
    )


def _finite(value: object) -> bool:
    """A JSON number other than inf/nan (``1e999`` parses as inf); booleans are not numbers here."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def _float_or_none(value: object) -> float | None:
    if not isinstance(value, (int, float)) or not _finite(value):
        return None
    try:
        return float(value)
    except OverflowError:  # an integer beyond float range
        return None


def options_of(data: dict[str, Any]) -> dict[str, Any]:
    options = data.get("options") or {}
    if not isinstance(options, dict):
        raise BadRequest("json: cannot unmarshal options: expected an object")
    return options


def num_ctx_of(options: dict[str, Any], default: int) -> int:
    value = options.get("num_ctx")
    if value is None:
        return default
    return max(_int_option(value, "num_ctx"), 4)


class Guarded:
    """An async iterator of bytes whose ``aclose`` always runs ``on_close`` once, started or not."""

    def __init__(self, inner: AsyncIterator[bytes], on_close: Callable[[], None]) -> None:
        self._inner = inner
        self._on_close: Callable[[], None] | None = on_close

    def __aiter__(self) -> Guarded:
        return self

    async def __anext__(self) -> bytes:
        return await self._inner.__anext__()

    async def aclose(self) -> None:
        try:
            aclose = getattr(self._inner, "aclose", None)
            if aclose is not None:
                await aclose()
        finally:
            if self._on_close is not None:
                callback, self._on_close = self._on_close, None
                callback()


def unix_now() -> int:
    return int(time.time())
