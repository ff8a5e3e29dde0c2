"""What a bench run sends (Workload) and how the client under test behaves (ClientSettings)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from tuner.errors import UserError

PathKind = Literal["native", "openai", "chatchat", "kb", "search"]  # kb, search: tuner.measure.kb
ArrivalKind = Literal["closed", "rate", "gaps", "users", "trace"]

MAX_REQUESTS = 10_000
MAX_CONCURRENCY = 64

# Short, varied prompts (Chinese and English, as Chatchat users ask). Each request also gets its own
# number in front, so no two prompts share a prefix and the server's prompt cache cannot flatter a run.
BUILTIN_PROMPTS: tuple[str, ...] = (
    "用一句话解释什么是向量数据库。",
    "What is the capital of Australia? Answer in one word.",
    "列出三种常见的排序算法。",
    "Summarise the plot of Hamlet in two sentences.",
    "如何在 Python 中读取一个 JSON 文件？",
    "Give one tip for writing clear commit messages.",
    "解释一下 HTTP keep-alive 的作用。",
    "Name two differences between TCP and UDP.",
    "什么是检索增强生成（RAG）？",
    "Translate 'good morning' into French and Spanish.",
    "给出一个适合周末的短途旅行建议。",
    "Why is the sky blue? One short paragraph.",
    "用三点概括敏捷开发的核心思想。",
    "Write a haiku about latency.",
    "解释 CPU 和 GPU 在推理中的区别。",
    "What does a load balancer do?",
)


GAP_DISTRIBUTIONS = ("exponential", "fixed", "uniform")


def draw_gaps(mean_gap: float, n: int, seed: int, distribution: str = "exponential") -> tuple[float, ...]:
    """The idle gap (seconds) before each of n requests, drawn from ``distribution`` around ``mean_gap``:
    the same seed gives the same gaps (every trial of a search sees the same ones)."""
    rng = random.Random(seed)
    if distribution == "fixed":
        return tuple(mean_gap for _ in range(n))
    if distribution == "uniform":
        return tuple(rng.uniform(0, 2 * mean_gap) for _ in range(n))
    return tuple(rng.expovariate(1 / mean_gap) if mean_gap > 0 else 0.0 for _ in range(n))


@dataclass(frozen=True)
class Arrival:
    """closed: each worker sends its next request at once; rate: Poisson arrivals at ``rate`` requests/s
    (open loop, seeded); gaps: idle gaps between requests drawn from an exponential (``mean_gap``) or fixed
    distribution; users: every worker is a user of its own who waits an idle gap (drawn from the same
    profile, seeded per user) before each of its requests (closed loop); trace: the given ``times``."""

    kind: ArrivalKind = "closed"
    rate: float = 0.0
    mean_gap: float = 0.0
    distribution: Literal["exponential", "fixed", "uniform"] = "exponential"
    times: tuple[float, ...] = ()  # trace: arrival times, seconds from the first

    def schedule(self, n: int, seed: int) -> tuple[float, ...] | None:
        """Send times (seconds from the start) for n requests; None for a closed loop (closed, users)."""
        if self.kind in ("closed", "users"):
            return None
        if self.kind == "trace":
            return self.times[:n]
        if self.kind == "rate":
            if self.rate <= 0:
                raise UserError("--rate must be > 0 requests per second")
            rng = random.Random(f"rate:{seed}")
            out, t = [], 0.0
            for _ in range(n):
                out.append(t)
                t += rng.expovariate(self.rate)
            return tuple(out)
        t, out = 0.0, []
        for gap in draw_gaps(self.mean_gap, n, seed, self.distribution):
            out.append(t)
            t += gap
        return tuple(out)

    def user_gaps(self, user: int, n: int, seed: int) -> tuple[float, ...]:
        """users: the idle gaps of one user before each of its (at most n) requests."""
        return draw_gaps(self.mean_gap, n, seed * 7919 + 104729 * (user + 1), self.distribution)


@dataclass(frozen=True)
class Workload:
    path: PathKind = "openai"
    model: str = "qwen2:7b"
    prompts: tuple[str, ...] = BUILTIN_PROMPTS
    requests: int = 20
    concurrency: int = 1
    arrival: Arrival = field(default_factory=Arrival)
    stream: bool = True
    max_tokens: int | None = 32
    seed: int = 0
    warmup: int = 0  # requests sent first and not counted

    def __post_init__(self) -> None:
        if not 1 <= self.requests <= MAX_REQUESTS:
            raise UserError(f"--requests must be 1..{MAX_REQUESTS}")
        if not 1 <= self.concurrency <= MAX_CONCURRENCY:
            raise UserError(f"--concurrency must be 1..{MAX_CONCURRENCY}")
        if not self.prompts:
            raise UserError("the prompt set is empty")

    def prompt(self, index: int) -> str:
        """A shuffled walk through the prompt set, each request numbered (see BUILTIN_PROMPTS)."""
        order = list(range(len(self.prompts)))
        random.Random(self.seed + index // len(order)).shuffle(order)
        return f"[{index}] {self.prompts[order[index % len(order)]]}"


@dataclass(frozen=True)
class ClientSettings:
    """The HTTP client under test, as Chatchat's side would hold it (httpx Timeout/Limits semantics)."""

    timeout: float | None = 600.0  # connect/read/write/pool, seconds; None = no timeout (ollama client)
    max_connections: int = 100
    max_keepalive: int = 20
    keepalive_expiry: float = 5.0  # seconds an idle pooled connection is kept
    reuse_client: bool = True  # False: a new client (new pool) per request, as Chatchat 0.3.1.3 does
    trust_env: bool = False  # honour HTTP(S)_PROXY / NO_PROXY from the environment
    keep_alive: str | float | None = None  # model keep_alive sent on the native path


def load_prompts(path: Path) -> tuple[str, ...]:
    """One prompt per non-empty line (UTF-8, with or without BOM)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UserError("no such prompt file", path) from None
    except UnicodeDecodeError:
        raise UserError("prompt file is not UTF-8", path) from None
    prompts = tuple(line.strip() for line in text.splitlines() if line.strip())
    if not prompts:
        raise UserError("prompt file has no prompts", path)
    return prompts
