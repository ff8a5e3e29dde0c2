"""The ``sim`` engine: deterministic, no model file; it sleeps for the modelled durations.

Prompt tokens are counted as whitespace-separated words of the prompt (or of all message contents).
Generated text is words from a fixed vocabulary chosen by an RNG seeded from the engine seed, the model
name, the request seed and the prompt; without ``max_tokens`` the length is 16–64 tokens, derived from the
prompt; a request's ``max_tokens`` has already been clamped to ``protocol.MAX_PREDICT``. Embeddings are
unit vectors derived from a hash of each text; each text costs its words at the prompt rate plus
``embed_seconds_per_text``, so a batch on ``/api/embed`` costs the sum of its texts.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
import time
from array import array
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from tuner.lab.clock import SPIN, precise_sleep
from tuner.lab.engine import Chunk, Final, GenRequest, ModelSpec
from tuner.lab.placement import fit_prompt, gen_rate
from tuner.lab.slots import Busy, slowdown

BIG_BATCH = 64  # embedding inputs beyond which vectors are made in a worker thread
YIELD_EVERY = 32  # generated tokens between two guaranteed yields to the event loop

VOCAB = (
    "the",
    "model",
    "answers",
    "with",
    "a",
    "short",
    "reply",
    "about",
    "local",
    "latency",
    "and",
    "keeps",
    "it",
    "warm",
    "ollama",
    "chatchat",
    "tune",
    "measure",
    "round",
    "trip",
    "cold",
    "load",
    "slot",
    "queue",
    "token",
    "stream",
    "fast",
    "slow",
    "connect",
    "first",
    "byte",
    "cache",
    "prompt",
    "window",
    "context",
    "answer",
    "question",
    "data",
)


def prompt_text(request: GenRequest) -> str:
    if request.prompt is not None:
        return request.prompt
    return "\n".join(m.content for m in request.messages)


def count_tokens(text: str) -> int:
    return len(text.split())


def prompt_tokens(request: GenRequest, num_ctx: int) -> int:
    """Prompt tokens evaluated: the words of the prompt, cut to the context as Ollama cuts it."""
    if request.prompt is not None:
        parts = [("user", count_tokens(request.prompt))]
    else:
        parts = [(m.role, count_tokens(m.content)) for m in request.messages]
    return fit_prompt(parts, num_ctx)[0]


def _jittered(rng: random.Random, seconds: float, jitter: float) -> float:
    if seconds <= 0 or not math.isfinite(seconds):
        return max(seconds, 0.0) if math.isfinite(seconds) else 0.0
    if jitter > 0:
        seconds *= max(0.0, 1.0 + rng.uniform(-jitter, jitter))
    return seconds


async def _sleep_until(deadline: float) -> None:
    delay = deadline - time.perf_counter()
    if delay > 0:
        await precise_sleep(delay)


class SimModel:
    def __init__(self, spec: ModelSpec, num_ctx: int, time_scale: float, seed: int) -> None:
        self.spec = spec
        self.num_ctx = num_ctx
        self._scale = time_scale
        self._seed = seed
        self._rng = random.Random(f"{seed}:{spec.name}:timing")
        self.closed = False
        self.busy = Busy()

    def _rate_seconds(self, count: int, rate: float) -> float:
        if count <= 0 or rate <= 0 or math.isinf(rate):
            return 0.0
        return _jittered(self._rng, count / rate, self.spec.jitter) * self._scale

    async def generate(self, request: GenRequest) -> AsyncIterator[Chunk | Final]:
        text = prompt_text(request)
        n_prompt = prompt_tokens(request, self.num_ctx)
        digest = hashlib.sha256(f"{self._seed}:{self.spec.name}:{request.seed}:{text}".encode()).digest()
        rng = random.Random(digest)
        if request.max_tokens is not None:
            n_gen, reason = max(request.max_tokens, 0), "length"
        else:
            n_gen, reason = 16 + digest[0] % 49, "stop"
        start = time.perf_counter()
        with self.busy:  # slots share the compute: each step is slower while others run (tuner.lab.slots)
            prompt_s = self._rate_seconds(n_prompt, self.spec.prompt_tokens_per_s)
            await _sleep_until(start + prompt_s * slowdown(self.spec, self.busy.active))
            gen_start = time.perf_counter()
            per_token = self._rate_seconds(n_gen, gen_rate(self.spec)) / max(n_gen, 1)
            due = gen_start
            for i in range(n_gen):
                if per_token > 0:
                    due += per_token * slowdown(self.spec, self.busy.active)
                    if i in (0, n_gen - 1) or due - time.perf_counter() > SPIN:
                        await _sleep_until(due)
                    # else: a wait shorter than the clock's spin is not spun (with many slots the spinning
                    # would starve the lab); the token goes at most SPIN early, the deadlines stay absolute,
                    # so the first token and the whole answer land exactly
                if i % YIELD_EVERY == YIELD_EVERY - 1:
                    # With no modelled cost, or behind schedule, the waits above do not suspend: yield anyway,
                    # so a long answer neither starves other clients nor misses its own client's disconnect.
                    await asyncio.sleep(0)
                word = rng.choice(VOCAB)
                yield Chunk(word if i == 0 else " " + word)
        end = time.perf_counter()
        yield Final(
            prompt_eval_count=n_prompt,
            prompt_eval_seconds=gen_start - start,
            eval_count=n_gen,
            eval_seconds=end - gen_start,
            done_reason="length" if reason == "length" and n_gen > 0 else "stop",
        )

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        n = sum(count_tokens(t) for t in texts)
        seconds = self._rate_seconds(n, self.spec.prompt_tokens_per_s)
        seconds += len(texts) * self.spec.embed_seconds_per_text * self._scale
        if seconds > 0:
            await precise_sleep(seconds)
        if len(texts) > BIG_BATCH:  # thousands of inputs: off the event loop, other clients keep going
            return await asyncio.to_thread(embedding_vectors, texts, self.spec.embedding_dim)
        return embedding_vectors(texts, self.spec.embedding_dim)

    async def close(self) -> None:
        self.closed = True


def embedding_vector(text: str, dim: int) -> list[float]:
    """A deterministic unit vector for ``text``: SHAKE-256 of the text read as ``dim`` int32, normalised and
    rounded to 7 decimals (float32 carries no more; shorter JSON)."""
    raw = array("i")
    raw.frombytes(hashlib.shake_256(text.encode()).digest(4 * dim))
    norm = math.sqrt(math.fsum(float(v) * v for v in raw)) or 1.0
    return [round(v / norm, 7) for v in raw]


def embedding_vectors(texts: Sequence[str], dim: int) -> list[list[float]]:
    return [embedding_vector(t, dim) for t in texts]


@dataclass
class SimEngine:
    time_scale: float = 1.0
    seed: int = 0
    name: str = "sim"

    async def load(self, spec: ModelSpec, num_ctx: int) -> SimModel:
        rng = random.Random(f"{self.seed}:{spec.name}:load")
        seconds = _jittered(rng, spec.load_seconds, spec.jitter) * self.time_scale
        if seconds > 0:
            await precise_sleep(seconds)  # cancellation here aborts the load: nothing was allocated
        return SimModel(spec, num_ctx, self.time_scale, self.seed)
