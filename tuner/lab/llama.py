"""The lab's ``llama-cpp`` engine: real inference with llama-cpp-python behind the lab's engine contract.

One ``llama_cpp.Llama`` per loaded model (plus, on first use, a second one opened for embeddings or
generation when the model was loaded for the other). Every blocking call runs in a worker thread; a lock
per instance serialises them, since a Llama is not thread-safe.

Timings in ``Final`` are wall-clock seconds measured here, not llama.cpp's internal compute counters:
``prompt_eval_seconds`` is the time to the first sampled token (templating, tokenizing, prompt decode and
the first sample) and ``eval_seconds`` the rest of the generation. ``prompt_eval_count`` is the full
prompt's token count (cached prefix included) and ``eval_count`` the number of tokens sampled, not
counting an end-of-sequence token.

``time_scale`` does not make real inference faster: it is kept for the server, which scales only its
modelled waits with it. ``llama_cpp`` is imported only when an engine is built.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tuner.errors import UserError
from tuner.lab.engine import Chunk, Final, GenRequest, ModelSpec

INSTALL_HINT = "pip install 'chatchat-tune[llama]'"
EMBEDDING_FAMILIES = frozenset({"bert", "nomic-bert", "jina-bert-v2", "xlm-roberta"})

# Ollama's sampling defaults, used when a request leaves them out (llama-cpp-python's differ).
_DEFAULT_SAMPLING: dict[str, float] = {
    "temperature": 0.8,
    "top_k": 40,
    "top_p": 0.9,
    "min_p": 0.0,
    "repeat_penalty": 1.1,
}
_OPTION_KEYS = ("top_k", "top_p", "min_p", "repeat_penalty", "presence_penalty", "frequency_penalty")

Kind = Literal["generate", "embed"]


def import_llama_cpp() -> Any:
    """The ``llama_cpp`` module, or a UserError saying how to install it."""
    try:
        import llama_cpp
    except ImportError as err:
        raise UserError(
            f"the llama-cpp lab engine needs llama-cpp-python ({err}); install it with: {INSTALL_HINT}"
        ) from None
    return llama_cpp


SMALL_MODEL_BYTES = 64 * 1024 * 1024


def default_threads(model_bytes: int) -> int:
    """llama.cpp threads: one for a small model (the tiny one runs 2-10x slower on 2 threads, all sync
    cost), else every core up to 4."""
    if model_bytes < SMALL_MODEL_BYTES:
        return 1
    return max(1, min(4, os.cpu_count() or 1))


def is_embedding_spec(spec: ModelSpec) -> bool:
    return spec.family.lower() in EMBEDDING_FAMILIES


class LlamaCppEngine:
    """``Engine`` for the lab: loads GGUF files with llama-cpp-python.

    A spec's ``path`` wins; else ``model_path`` given here; else the tiny generated model (written to the
    user cache once). ``seed`` seeds every Llama (and so every request that names no seed).
    """

    name = "llama-cpp"

    def __init__(
        self,
        time_scale: float = 1.0,
        seed: int = 0,
        model_path: Path | str | None = None,
        n_threads: int | None = None,
    ) -> None:
        import_llama_cpp()
        self.time_scale = time_scale  # not applied to inference; see the module docstring
        self.seed = seed
        self.model_path = Path(model_path) if model_path is not None else None
        self.n_threads = n_threads  # None: default_threads() of each model file

    def resolve_path(self, spec: ModelSpec) -> Path:
        """The GGUF file ``spec`` loads from (may write the tiny model; blocking)."""
        if spec.path:
            return Path(spec.path)
        if self.model_path is not None:
            return self.model_path
        from tuner.lab.tinymodel import ensure_tiny_model

        return ensure_tiny_model()

    async def load(self, spec: ModelSpec, num_ctx: int) -> LlamaCppModel:
        """Open the model in a worker thread. If cancelled, the model is freed when the thread returns."""
        kind: Kind = "embed" if is_embedding_spec(spec) else "generate"
        opener = _Opener(self, spec, num_ctx)
        future = asyncio.ensure_future(asyncio.to_thread(opener.open, kind))
        try:
            llm = await asyncio.shield(future)
        except asyncio.CancelledError:
            future.add_done_callback(_free_when_done)
            raise
        model = LlamaCppModel(spec, num_ctx, opener)
        model.adopt(kind, llm)
        return model


def _free_when_done(future: asyncio.Future[Any]) -> None:
    if not future.cancelled() and future.exception() is None:
        future.result().close()


@dataclass(frozen=True)
class _Opener:
    """Opens Llama instances of one model (blocking): for generation, or mean-pooled for embeddings."""

    engine: LlamaCppEngine
    spec: ModelSpec
    num_ctx: int

    def open(self, kind: Kind) -> Any:
        path = self.engine.resolve_path(self.spec)
        if not path.is_file():
            raise UserError("no such model file", path)
        extra: dict[str, Any] = {"embedding": True} if kind == "embed" else {}
        threads = self.engine.n_threads or default_threads(path.stat().st_size)
        try:
            return _metered_llama_class()(
                model_path=str(path),
                n_ctx=self.num_ctx,
                n_batch=min(512, self.num_ctx),
                n_threads=threads,
                n_threads_batch=threads,
                n_gpu_layers=0,
                seed=self.engine.seed,
                chat_format=self.spec.chat_format,
                verbose=False,
                **extra,
            )
        except (ValueError, RuntimeError) as err:
            raise UserError(f"llama.cpp cannot load this model: {err}", path) from None


class _Meter:
    """Per-request probe fed by the Llama's token generator: prompt size, token count, first-token time."""

    def __init__(self, cancel: threading.Event, eos: int) -> None:
        self.cancel = cancel
        self.eos = eos
        self.prompt_tokens = 0
        self.sampled = 0
        self.first_token_at: float | None = None

    def on_prompt(self, n_tokens: int) -> None:
        self.prompt_tokens = n_tokens

    def on_token(self, token: int) -> None:
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()
        if token != self.eos:
            self.sampled += 1


@functools.cache
def _metered_llama_class() -> type[Any]:
    """A ``Llama`` subclass whose token loop reports to the request's meter and stops once cancelled."""
    base: Any = import_llama_cpp().Llama
    base_generate = base.generate

    def generate(self: Any, tokens: Sequence[int], *args: Any, **kwargs: Any) -> Iterator[int]:
        meter: _Meter | None = self.meter
        inner = base_generate(self, tokens, *args, **kwargs)
        if meter is None:
            yield from inner
            return
        meter.on_prompt(len(tokens))
        try:
            for token in inner:
                meter.on_token(token)
                if meter.cancel.is_set():
                    return
                yield token
        finally:
            inner.close()

    return type("MeteredLlama", (base,), {"generate": generate, "meter": None})


@dataclass(frozen=True)
class _Failure:
    error: BaseException


class LlamaCppModel:
    """``LoadedModel`` backed by llama-cpp-python."""

    def __init__(self, spec: ModelSpec, num_ctx: int, opener: _Opener) -> None:
        self.spec = spec
        self.num_ctx = num_ctx
        self._opener = opener
        self._instances: dict[Kind, Any] = {}
        self._locks: dict[Kind, threading.Lock] = {"generate": threading.Lock(), "embed": threading.Lock()}
        self._turn = asyncio.Lock()  # generations take turns, first come first served
        self._active: set[threading.Event] = set()
        self._closed = False

    def adopt(self, kind: Kind, llm: Any) -> None:
        self._instances[kind] = llm

    @property
    def closed(self) -> bool:
        return self._closed

    def _instance(self, kind: Kind) -> Any:
        """The instance for ``kind``, opened now if the model was loaded for the other kind (lock held)."""
        if self._closed:
            raise UserError(f"model {self.spec.name!r} was unloaded")
        llm = self._instances.get(kind)
        if llm is None:
            llm = self._instances[kind] = self._opener.open(kind)
        return llm

    async def generate(self, request: GenRequest) -> AsyncIterator[Chunk | Final]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Chunk | Final | _Failure] = asyncio.Queue()
        cancel = threading.Event()

        def emit(item: Chunk | Final | _Failure) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is listening any more
                loop.call_soon_threadsafe(queue.put_nowait, item)

        async with self._turn:
            if self._closed:
                raise UserError(f"model {self.spec.name!r} was unloaded")
            self._active.add(cancel)
            worker = asyncio.ensure_future(asyncio.to_thread(self._run, request, cancel, emit))
            try:
                while True:
                    item = await queue.get()
                    if isinstance(item, _Failure):
                        raise item.error
                    yield item
                    if isinstance(item, Final):
                        return
            finally:
                cancel.set()
                self._active.discard(cancel)
                await asyncio.shield(worker)

    def _run(self, request: GenRequest, cancel: threading.Event, emit: Callable[[Any], None]) -> None:
        """Worker thread: stream one generation into ``emit``, then a Final (or a _Failure if cancelled)."""
        try:
            with self._locks["generate"]:
                llm = self._instance("generate")
                meter = _Meter(cancel, llm.token_eos())
                llm.meter = meter
                try:
                    started = time.perf_counter()
                    reason = _stream(llm, request, cancel, emit)
                    ended = time.perf_counter()
                finally:
                    llm.meter = None
            if cancel.is_set():  # by the consumer (no one listens) or by close() (the consumer waits)
                emit(_Failure(UserError(f"model {self.spec.name!r} was unloaded during generation")))
                return
            first = meter.first_token_at if meter.first_token_at is not None else ended
            emit(
                Final(
                    prompt_eval_count=meter.prompt_tokens,
                    prompt_eval_seconds=first - started,
                    eval_count=meter.sampled,
                    eval_seconds=ended - first,
                    done_reason=reason,
                )
            )
        except Exception as err:
            emit(_Failure(err))

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Mean-pooled, L2-normalised embeddings (for the random tiny model: noise of the right shape)."""
        if not texts:
            return []
        return await asyncio.to_thread(self._embed, list(texts))

    def _embed(self, texts: list[str]) -> list[list[float]]:
        with self._locks["embed"]:
            llm = self._instance("embed")
            vectors = llm.embed(texts, normalize=True, truncate=True)
        return [_pooled(vector) for vector in vectors]

    async def close(self) -> None:
        """Stop running generations and free every instance. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for cancel in list(self._active):
            cancel.set()
        await asyncio.to_thread(self._free)

    def _free(self) -> None:
        for kind in ("generate", "embed"):
            with self._locks[kind]:
                llm = self._instances.pop(kind, None)
                if llm is not None:
                    llm.close()


def _pooled(vector: Any) -> list[float]:
    """One text's embedding; a model that pools nothing gives one vector per token: mean them, normalise."""
    if not vector or not isinstance(vector[0], list):
        return [float(x) for x in vector]
    width = len(vector[0])
    mean = [sum(row[i] for row in vector) / len(vector) for i in range(width)]
    norm = sum(x * x for x in mean) ** 0.5 or 1.0
    return [x / norm for x in mean]


def _sampling(request: GenRequest) -> dict[str, Any]:
    params: dict[str, Any] = dict(_DEFAULT_SAMPLING)
    for key in _OPTION_KEYS:
        value = request.options.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            params[key] = int(value) if key == "top_k" else float(value)
    if request.temperature is not None:
        params["temperature"] = request.temperature
    params["max_tokens"] = request.max_tokens if request.max_tokens and request.max_tokens > 0 else None
    params["seed"] = request.seed
    params["stop"] = list(request.stop)
    return params


def _stream(
    llm: Any, request: GenRequest, cancel: threading.Event, emit: Callable[[Any], None]
) -> Literal["stop", "length"]:
    """Run the llama-cpp-python stream (chat or completion), emitting text; return the finish reason."""
    params = _sampling(request)
    reason: Literal["stop", "length"] = "stop"
    if request.messages:
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        stream = llm.create_chat_completion(messages=messages, stream=True, **params)
    else:
        stream = llm.create_completion(prompt=request.prompt or "", stream=True, **params)
    try:
        for chunk in stream:
            if cancel.is_set():
                break
            choice = chunk["choices"][0]
            text = choice["delta"].get("content") if "delta" in choice else choice.get("text")
            if text:
                emit(Chunk(text))
            if choice.get("finish_reason") == "length":
                reason = "length"
    finally:
        stream.close()
    return reason
