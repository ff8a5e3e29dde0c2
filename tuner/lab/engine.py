"""The contract between the lab's HTTP/scheduling layer and an inference engine (``sim`` or ``llama-cpp``).

The server owns protocol, keep_alive, slots, queueing and faults; an engine only loads a model, generates
tokens, embeds text and frees the model. Engines report their own timings; the server turns them into
Ollama's nanosecond fields.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol


@dataclass(frozen=True)
class ModelSpec:
    """One model the lab serves, as `/api/tags` and `/api/show` describe it, plus its latency model."""

    name: str  # Ollama tag, e.g. "qwen2:7b"
    size_bytes: int  # `/api/tags` size and `/api/ps` size
    size_vram: int  # `/api/ps` size_vram (0 on a CPU box)
    load_seconds: float  # sim: cold-load time (before time_scale)
    prompt_tokens_per_s: float  # sim: prompt-eval rate
    gen_tokens_per_s: float  # sim: generation rate
    jitter: float = 0.0  # sim: relative spread of each modelled duration, drawn from a seeded RNG
    embedding_dim: int = 64
    family: str = "llama"
    parameter_size: str = "7B"
    quantization_level: str = "Q4_0"
    path: str | None = None  # llama-cpp: the GGUF file
    chat_format: str | None = None  # llama-cpp: llama_cpp chat format name, when the GGUF has no template
    # sim: generation rate wholly on the CPU; set, the rate falls with the CPU share (tuner.lab.placement)
    cpu_tokens_per_s: float | None = None
    embed_seconds_per_text: float = 0.0  # sim: a fixed cost per embedded text, on top of its words
    kv_bytes_per_token: int = 0  # context memory per token per slot (tuner.lab.slots)
    batch_speedup: tuple[tuple[int, float], ...] = ()  # sim: total rate with n at once (tuner.lab.slots)


@dataclass(frozen=True)
class Message:
    role: str
    content: str


@dataclass(frozen=True)
class GenRequest:
    """A chat (``messages``) or completion (``prompt``) request, already validated by the server."""

    messages: tuple[Message, ...] = ()
    prompt: str | None = None
    max_tokens: int | None = None  # None: the engine's own default (Ollama: until stop / num_ctx)
    temperature: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()
    options: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Chunk:
    text: str


@dataclass(frozen=True)
class Final:
    """Last item of a generation: the engine's own counts and durations (seconds, unscaled wall time)."""

    prompt_eval_count: int
    prompt_eval_seconds: float
    eval_count: int
    eval_seconds: float
    done_reason: Literal["stop", "length"]


class LoadedModel(Protocol):
    spec: ModelSpec
    num_ctx: int

    def generate(self, request: GenRequest) -> AsyncIterator[Chunk | Final]:
        """Yield text chunks then exactly one Final. Cancelling the iterator stops generation."""
        ...

    async def embed(self, texts: Sequence[str]) -> list[list[float]]: ...

    async def close(self) -> None:
        """Free the model (unload). Idempotent."""
        ...


class Engine(Protocol):
    name: str

    async def load(self, spec: ModelSpec, num_ctx: int) -> LoadedModel:
        """Load ``spec`` (the cold-load cost is paid here). Cancellation aborts the load and frees memory."""
        ...
