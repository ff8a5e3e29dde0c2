"""Ollama's native API: ``/``, ``/api/version|tags|ps|show|chat|generate|embed|embeddings``."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from tuner.lab.engine import Chunk, ModelSpec
from tuner.lab.http import Request, Response, Result, StreamResponse
from tuner.lab.jobs import Job, Metrics
from tuner.lab.protocol import (
    NDJSON,
    BadRequest,
    Guarded,
    dumps,
    gen_request,
    json_response,
    json_response_off_loop,
    keep_alive_of,
    native_error,
    now_rfc3339,
    num_ctx_of,
    options_of,
    parse_body,
    rfc3339,
)
from tuner.lab.sim import BIG_BATCH

if TYPE_CHECKING:
    from tuner.lab.server import Handler, LabApp

MODIFIED_AT = "2025-01-01T00:00:00Z"


def digest(spec: ModelSpec) -> str:
    return hashlib.sha256(spec.name.encode()).hexdigest()


def details(spec: ModelSpec) -> dict[str, Any]:
    return {
        "parent_model": "",
        "format": "gguf",
        "family": spec.family,
        "families": [spec.family],
        "parameter_size": spec.parameter_size,
        "quantization_level": spec.quantization_level,
    }


async def root(app: LabApp, request: Request) -> Result:
    return Response(200, b"Ollama is running", "text/plain; charset=utf-8")


async def version(app: LabApp, request: Request) -> Result:
    return json_response(200, {"version": VERSION_STRING})


VERSION_STRING = "0.12.6"


async def tags(app: LabApp, request: Request) -> Result:
    models = [
        {
            "name": s.name,
            "model": s.name,
            "modified_at": MODIFIED_AT,
            "size": s.size_bytes,
            "digest": digest(s),
            "details": details(s),
        }
        for s in app.profile.models
    ]
    return json_response(200, {"models": models})


async def ps(app: LabApp, request: Request) -> Result:
    from tuner.lab.slots import resident_bytes

    models = []
    for r in app.scheduler.resident():
        # the weights plus every slot's context
        size, size_vram = resident_bytes(r.spec, r.num_ctx, app.scheduler.num_parallel)
        models.append(
            {
                "name": r.spec.name,
                "model": r.spec.name,
                "size": size,
                "digest": digest(r.spec),
                "details": details(r.spec),
                "expires_at": rfc3339(app.scheduler.expires_at(r)),
                "size_vram": size_vram,
                "context_length": r.num_ctx,
            }
        )
    return json_response(200, {"models": models})


async def show(app: LabApp, request: Request) -> Result:
    data = parse_body(request.body)
    name = data.get("model") or data.get("name")
    if not name:
        raise BadRequest("model is required")
    spec = app.lookup(name)
    arch = spec.family
    info: dict[str, Any] = {
        "general.architecture": arch,
        "general.parameter_count": 0,
        f"{arch}.context_length": 32768,
        f"{arch}.embedding_length": spec.embedding_dim,
    }
    embed = spec.family == "bert"
    return json_response(
        200,
        {
            "license": "lab model: no weights",
            "modelfile": f"# chatchat-tune lab model\nFROM {spec.name}\n",
            "parameters": f"num_ctx {app.profile.default_num_ctx}",
            "template": "{{ .Prompt }}",
            "details": details(spec),
            "model_info": info,
            "capabilities": ["embedding"] if embed else ["completion"],
            "modified_at": MODIFIED_AT,
        },
    )


def _model_of(data: dict[str, Any]) -> str:
    model = data.get("model")
    if not model or not isinstance(model, str):
        raise BadRequest("model is required")
    return model


def _stream_flag(data: dict[str, Any]) -> bool:
    value = data.get("stream")
    return True if value is None else bool(value)


async def chat(app: LabApp, request: Request) -> Result:
    return await _generate(app, request, chat=True)


async def generate(app: LabApp, request: Request) -> Result:
    return await _generate(app, request, chat=False)


async def _generate(app: LabApp, request: Request, *, chat: bool) -> Result:
    data = parse_body(request.body)
    name = _model_of(data)
    spec = app.lookup(name)
    keep_alive = keep_alive_of(data)
    options = options_of(data)
    if chat:
        messages = data.get("messages") or []
        if not isinstance(messages, list):
            raise BadRequest("json: cannot unmarshal messages: expected an array")
        empty = not messages
        gen = gen_request(messages=messages, prompt=None, options=options)
    else:
        prompt = data.get("prompt") or ""
        if not isinstance(prompt, str):
            raise BadRequest("json: cannot unmarshal prompt: expected a string")
        empty = prompt == ""
        system = data.get("system")
        full = f"{system}\n{prompt}" if isinstance(system, str) and system else prompt
        gen = gen_request(messages=None, prompt=full, options=options)

    def frame(text: str, done: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"model": name, "created_at": now_rfc3339()}
        if chat:
            out["message"] = {"role": "assistant", "content": text}
        else:
            out["response"] = text
        if not done:
            out["done"] = False
        return out

    if empty and keep_alive == 0:
        await app.scheduler.expire(spec)
        return json_response(200, {**frame("", done=True), "done_reason": "unload", "done": True})
    job = await app.start(spec, num_ctx_of(options, app.profile.default_num_ctx), keep_alive)
    if empty:
        job.close()
        return json_response(200, {**frame("", done=True), "done_reason": "load", "done": True})
    if app.inject_error():
        job.close()
        return native_error(500, "lab fault: injected server error")
    cut = app.inject_cut()
    if _stream_flag(data):

        async def lines() -> AsyncIterator[bytes]:
            async for item in job.tokens(gen):
                if isinstance(item, Chunk):
                    yield dumps(frame(item.text)) + b"\n"
                else:
                    yield dumps({**frame("", done=True), **item.native()}) + b"\n"

        return StreamResponse(200, Guarded(lines(), job.close), NDJSON, cut=cut)
    try:
        text, metrics = await collect(job, gen)
    finally:
        job.close()
    return json_response(200, {**frame(text, done=True), **metrics.native()}, cut=cut)


async def collect(job: Job, gen: Any) -> tuple[str, Metrics]:
    parts: list[str] = []
    metrics: Metrics | None = None
    async for item in job.tokens(gen):
        if isinstance(item, Chunk):
            parts.append(item.text)
        else:
            metrics = item
    assert metrics is not None
    return "".join(parts), metrics


async def embed(app: LabApp, request: Request) -> Result:
    data = parse_body(request.body)
    name = _model_of(data)
    spec = app.lookup(name)
    keep_alive = keep_alive_of(data)
    raw = data.get("input")
    if isinstance(raw, str):
        texts = [raw]
    elif isinstance(raw, list) and all(isinstance(t, str) for t in raw):
        texts = list(raw)
    elif raw is None:
        texts = []
    else:
        raise BadRequest("invalid input type")
    job = await app.start(spec, num_ctx_of(options_of(data), app.profile.default_num_ctx), keep_alive)
    try:
        if app.inject_error():
            return native_error(500, "lab fault: injected server error")
        vectors, metrics = await job.embed(texts) if texts else ([], None)
    finally:
        job.close()
    out: dict[str, Any] = {"model": name, "embeddings": vectors}
    if metrics is not None:
        out |= {
            "total_duration": metrics.total_duration,
            "load_duration": metrics.load_duration,
            "prompt_eval_count": metrics.prompt_eval_count,
        }
    if len(texts) > BIG_BATCH:
        return await json_response_off_loop(200, out)
    return json_response(200, out)


async def embeddings(app: LabApp, request: Request) -> Result:
    data = parse_body(request.body)
    name = _model_of(data)
    spec = app.lookup(name)
    keep_alive = keep_alive_of(data)
    prompt = data.get("prompt") or ""
    job = await app.start(spec, num_ctx_of(options_of(data), app.profile.default_num_ctx), keep_alive)
    try:
        if app.inject_error():
            return native_error(500, "lab fault: injected server error")
        vectors = (await job.embed([prompt]))[0] if prompt else [[]]
    finally:
        job.close()
    return json_response(200, {"embedding": vectors[0]})


ROUTES: dict[tuple[str, str], Handler] = {
    ("GET", "/"): root,
    ("HEAD", "/"): root,
    ("GET", "/api/version"): version,
    ("HEAD", "/api/version"): version,
    ("GET", "/api/tags"): tags,
    ("HEAD", "/api/tags"): tags,
    ("GET", "/api/ps"): ps,
    ("POST", "/api/show"): show,
    ("POST", "/api/chat"): chat,
    ("POST", "/api/generate"): generate,
    ("POST", "/api/embed"): embed,
    ("POST", "/api/embeddings"): embeddings,
}
