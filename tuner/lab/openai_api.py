"""Ollama's OpenAI-compatible API: ``/v1/chat/completions``, ``/v1/completions``, ``/v1/embeddings``,
``/v1/models``. These routes ignore ``keep_alive`` and ``max_completion_tokens`` (only ``max_tokens`` is
honoured), use the model's default ``num_ctx``, and do not stream unless asked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from tuner.lab.engine import Chunk
from tuner.lab.http import Request, Result, StreamResponse
from tuner.lab.jobs import Metrics
from tuner.lab.native import collect
from tuner.lab.protocol import (
    SSE,
    BadRequest,
    Guarded,
    dumps,
    gen_request,
    json_response,
    json_response_off_loop,
    openai_error,
    parse_body,
    unix_now,
)
from tuner.lab.sim import BIG_BATCH

if TYPE_CHECKING:
    from tuner.lab.server import Handler, LabApp

CREATED = 1735689600  # 2025-01-01, the models' modified_at


def _owner(name: str) -> str:
    return name.split("/", 1)[0] if "/" in name else "library"


def _model_entry(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": CREATED, "owned_by": _owner(name)}


async def models(app: LabApp, request: Request) -> Result:
    return json_response(200, {"object": "list", "data": [_model_entry(s.name) for s in app.profile.models]})


async def model_one(app: LabApp, request: Request) -> Result:
    name = request.path[len("/v1/models/") :]
    spec = app.lookup(name)
    return json_response(200, _model_entry(spec.name))


def _options(data: dict[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for key in ("temperature", "seed", "top_p", "frequency_penalty", "presence_penalty"):
        if data.get(key) is not None:
            options[key] = data[key]
    stop = data.get("stop")
    if stop is not None:
        options["stop"] = [stop] if isinstance(stop, str) else list(stop)
    if data.get("max_tokens") is not None:
        options["num_predict"] = data["max_tokens"]
    return options


def _sse(obj: Any) -> bytes:
    return b"data: " + dumps(obj) + b"\n\n"


async def chat_completions(app: LabApp, request: Request) -> Result:
    return await _complete(app, request, chat=True)


async def completions(app: LabApp, request: Request) -> Result:
    return await _complete(app, request, chat=False)


async def _complete(app: LabApp, request: Request, *, chat: bool) -> Result:
    data = parse_body(request.body)
    name = data.get("model")
    if chat:
        messages = data.get("messages")
        if not messages or not isinstance(messages, list):
            raise BadRequest("[] is too short - 'messages'")
        gen = gen_request(messages=messages, prompt=None, options=_options(data))
    else:
        prompt = data.get("prompt")
        if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
            prompt = prompt[0]
        if not isinstance(prompt, str):
            raise BadRequest("invalid prompt: expected a string")
        gen = gen_request(messages=None, prompt=prompt, options=_options(data))
    spec = app.lookup(name)
    job = await app.start(spec, app.profile.default_num_ctx, None)
    if app.inject_error():
        job.close()
        return openai_error(500, "lab fault: injected server error")
    cut = app.inject_cut()
    ident = app.new_id("chatcmpl" if chat else "cmpl")
    created = unix_now()
    base: dict[str, Any] = {
        "id": ident,
        "object": "chat.completion.chunk" if chat else "text_completion",
        "created": created,
    }
    base |= {"model": name, "system_fingerprint": "fp_ollama"}
    stream_options = data.get("stream_options")
    include_usage = isinstance(stream_options, dict) and bool(stream_options.get("include_usage"))

    if data.get("stream"):

        async def events() -> AsyncIterator[bytes]:
            first = True
            async for item in job.tokens(gen):
                if isinstance(item, Chunk):
                    if chat:
                        delta: dict[str, Any] = {"role": "assistant", "content": item.text}
                        if not first:
                            del delta["role"]
                        choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": None}
                    else:
                        choice = {"text": item.text, "index": 0, "finish_reason": None}
                    first = False
                    yield _sse({**base, "choices": [choice]})
                else:
                    yield _finish(base, item, chat, first, include_usage)
            yield b"data: [DONE]\n\n"

        return StreamResponse(200, Guarded(events(), job.close), SSE, cut=cut)
    try:
        text, metrics = await collect(job, gen)
    finally:
        job.close()
    if chat:
        choice = {
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "finish_reason": metrics.done_reason,
        }
        body = {**base, "object": "chat.completion", "choices": [choice], "usage": metrics.usage()}
    else:
        choice = {"text": text, "index": 0, "finish_reason": metrics.done_reason}
        body = {**base, "choices": [choice], "usage": metrics.usage()}
    return json_response(200, body, cut=cut)


def _finish(base: dict[str, Any], metrics: Metrics, chat: bool, first: bool, usage: bool) -> bytes:
    out = b""
    if chat:
        if first:  # a wholly empty completion still opens with a role chunk
            delta = {"role": "assistant", "content": ""}
            out += _sse({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
        choice: dict[str, Any] = {"index": 0, "delta": {}, "finish_reason": metrics.done_reason}
    else:
        choice = {"text": "", "index": 0, "finish_reason": metrics.done_reason}
    out += _sse({**base, "choices": [choice]})
    if usage:
        out += _sse({**base, "choices": [], "usage": metrics.usage()})
    return out


async def embeddings(app: LabApp, request: Request) -> Result:
    data = parse_body(request.body)
    raw = data.get("input")
    if isinstance(raw, str):
        texts = [raw]
    elif isinstance(raw, list) and raw and all(isinstance(t, str) for t in raw):
        texts = list(raw)
    else:
        raise BadRequest("invalid input")
    name = data.get("model")
    spec = app.lookup(name)
    job = await app.start(spec, app.profile.default_num_ctx, None)
    try:
        if app.inject_error():
            return openai_error(500, "lab fault: injected server error")
        vectors, metrics = await job.embed(texts)
    finally:
        job.close()
    items = [{"object": "embedding", "embedding": v, "index": i} for i, v in enumerate(vectors)]
    usage = {"prompt_tokens": metrics.prompt_eval_count, "total_tokens": metrics.prompt_eval_count}
    out = {"object": "list", "data": items, "model": name, "usage": usage}
    if len(texts) > BIG_BATCH:
        return await json_response_off_loop(200, out)
    return json_response(200, out)


ROUTES: dict[tuple[str, str], Handler] = {
    ("GET", "/v1/models"): models,
    ("POST", "/v1/chat/completions"): chat_completions,
    ("POST", "/v1/completions"): completions,
    ("POST", "/v1/embeddings"): embeddings,
}
