"""The search space for one install: which knobs take effect, their ranges, and the current settings.

Pure: built from facts read from the install and measured once before the study (cold-load time).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from tuner.knobs.values import keep_alive_seconds

KEEP_ALIVE_CHOICES = ("0", "1m", "5m", "15m", "30m", "1h", "2h", "4h", "-1")
CONCURRENCY_CHOICES = (1, 2, 4, 8)  # api_concurrencies (with the code patch: the platform's pool size)
PARALLEL_CHOICES = (1, 2, 4, 8)  # OLLAMA_NUM_PARALLEL
LOADED_CHOICES = (1, 2)  # OLLAMA_MAX_LOADED_MODELS, where the chat and the embedding model compete
EXPIRY_CHOICES = (5.0, 30.0, 120.0, 600.0, 3600.0)
TIMEOUT_MARGIN = 2.0  # the timeout must exceed a cold load plus the longest answer this many times over
NICE_TIMEOUTS = (5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0, 600.0)


@dataclass(frozen=True)
class Facts:
    """What the study knows before its first trial."""

    generation: str
    host: str  # host of the configured Ollama URL ("localhost", "127.0.0.1", ...)
    reuse: bool  # candidates reuse connections (the code patch is in, or will be with --patch-code)
    cold_load: float  # measured cold-load time, real seconds
    answer: float  # the longest answer's time (measured rate × the install's max tokens), real seconds
    model_bytes: int  # resident size from /api/ps
    current_timeout: float  # what bounds the model call today (0.3.1.3 as shipped: openai's 600 s)
    current_keep_alive: str = "5m"  # Ollama's default unless the user says otherwise
    current_expiry: float = 5.0  # httpx's default keep-alive expiry
    concurrency: int = 1
    reuse_now: bool = False  # the install reuses connections today (the patch is applied)
    # Several users (tuner.search.users): the server's slots and loaded models are searched only where the
    # tool can set them per trial (the lab, which plays the service's variables); each slot's context costs
    # slot_bytes (measured from /api/ps), a resident embedding model embed_bytes.
    users: int = 1
    open_loop: bool = False  # arrivals at set times (--rate, --traffic): several in flight at once
    server_settable: bool = False
    slot_bytes: int = 0
    embed_bytes: int = 0  # 0: no embedding model competes with the chat model
    current_concurrencies: int = 5  # api_concurrencies of the entry (Chatchat's default 5)
    current_num_parallel: int = 1  # OLLAMA_NUM_PARALLEL (Ollama's default 1)
    current_max_loaded: int = 3  # OLLAMA_MAX_LOADED_MODELS (3 on CPU; 3 × GPUs)


def timeout_floor(facts: Facts) -> float:
    """What the API timeout must exceed: a cold load plus the longest answer, TIMEOUT_MARGIN times over.
    With several users (closed loop) a request may wait for every other user's answer first (Ollama queues
    beyond its slots and sends nothing meanwhile, so the read timeout runs), and slots never serve a queue
    slower than one after another: the answer counts once per user. Open-loop arrivals have no such bound;
    a trial that overloads the server shows it as timeouts, which is what it is."""
    queue = facts.users if facts.users > 1 and not facts.open_loop else 1
    return TIMEOUT_MARGIN * (facts.cold_load + facts.answer * queue)


@dataclass(frozen=True)
class Config:
    """One point of the space, in real units."""

    host: str
    keep_alive: str
    timeout: float
    keepalive_expiry: float
    max_connections: int  # the pool a platform's calls share: api_concurrencies with the code patch
    reuse: bool
    num_parallel: int = 1
    max_loaded_models: int = 3
    users: int = 1
    open_loop: bool = False
    extra_bytes: int = 0  # resident beyond the chat model's weights: its slots' context, the embedding model

    @property
    def several(self) -> bool:
        """Several requests can be in flight: the trial plays the users' timeline (tuner.search.users)."""
        return self.users > 1 or self.open_loop

    @property
    def keep_alive_seconds(self) -> float:
        return keep_alive_seconds(self.keep_alive)


@dataclass(frozen=True)
class Dimension:
    name: str
    kind: Literal["categorical", "int"]
    choices: tuple[object, ...] = ()
    low: int = 0
    high: int = 0


@dataclass(frozen=True)
class Space:
    facts: Facts
    dimensions: tuple[Dimension, ...]

    @property
    def timeout_floor(self) -> float:
        return timeout_floor(self.facts)

    @property
    def timeout(self) -> float:
        """The API timeout candidates use: the smallest round value above the floor.

        It is set from measurement, not sampled: above the floor it changes no measured latency (it only
        bounds failures), below it cold loads are aborted and every retry starts the load over."""
        floor = self.timeout_floor
        return next((n for n in NICE_TIMEOUTS if n >= floor), 60.0 * math.ceil(floor / 60.0))

    def baseline(self) -> dict[str, object]:
        """The install's current settings, as params (enqueued as trial 0)."""
        f = self.facts
        current = {
            "host": f.host,
            "keep_alive": f.current_keep_alive,
            "keepalive_expiry": f.current_expiry,
            "api_concurrencies": f.current_concurrencies,
            "num_parallel": f.current_num_parallel,
            "max_loaded_models": f.current_max_loaded,
        }
        out: dict[str, object] = {}
        for d in self.dimensions:
            value = current[d.name]
            if d.kind == "int" and isinstance(value, int):
                value = min(max(value, d.low), d.high)
            out[d.name] = value
        return out

    def config(self, params: Mapping[str, object], *, baseline: bool = False) -> Config:
        """A point in real units; ``baseline`` keeps today's behaviour (timeout, connection reuse)."""
        f = self.facts
        expiry = params.get("keepalive_expiry", f.current_expiry)
        reuse = f.reuse_now if baseline else f.reuse
        # As shipped Chatchat ignores api_concurrencies (no limit, httpx's 100); the code patch makes it
        # the pool size.
        pool = _int(params.get("api_concurrencies"), f.current_concurrencies) if reuse else 100
        slots = _int(params.get("num_parallel"), f.current_num_parallel)
        loaded = _int(params.get("max_loaded_models"), f.current_max_loaded)
        return Config(
            host=str(params.get("host", f.host)),
            keep_alive=str(params.get("keep_alive", f.current_keep_alive)),
            timeout=f.current_timeout if baseline else self.timeout,
            keepalive_expiry=float(expiry) if isinstance(expiry, int | float) else f.current_expiry,
            max_connections=pool,
            reuse=reuse,
            num_parallel=slots,
            max_loaded_models=loaded,
            users=f.users,
            open_loop=f.open_loop,
            extra_bytes=slots * f.slot_bytes + (f.embed_bytes if loaded >= 2 else 0),
        )


def build_space(facts: Facts) -> Space:
    dims = []
    if facts.host == "localhost":
        dims.append(Dimension("host", "categorical", ("localhost", "127.0.0.1")))
    keep = (
        KEEP_ALIVE_CHOICES
        if facts.current_keep_alive in KEEP_ALIVE_CHOICES
        else (*KEEP_ALIVE_CHOICES, facts.current_keep_alive)
    )
    dims.append(Dimension("keep_alive", "categorical", keep))
    if facts.reuse:
        expiry = (
            EXPIRY_CHOICES
            if facts.current_expiry in EXPIRY_CHOICES
            else (*EXPIRY_CHOICES, facts.current_expiry)
        )
        dims.append(Dimension("keepalive_expiry", "categorical", expiry))
    if facts.users > 1 or facts.open_loop:
        if facts.reuse:  # api_concurrencies takes effect only with the code patch
            dims.append(
                Dimension(
                    "api_concurrencies",
                    "categorical",
                    _with(CONCURRENCY_CHOICES, facts.current_concurrencies),
                )
            )
        if facts.server_settable:
            dims.append(
                Dimension("num_parallel", "categorical", _with(PARALLEL_CHOICES, facts.current_num_parallel))
            )
            if facts.embed_bytes:
                dims.append(
                    Dimension(
                        "max_loaded_models", "categorical", _with(LOADED_CHOICES, facts.current_max_loaded)
                    )
                )
    return Space(facts, tuple(dims))


def _with(choices: tuple[int, ...], current: int) -> tuple[int, ...]:
    """The choices, plus today's value (the baseline is a point of the space)."""
    return choices if current in choices else (*choices, current)


def _int(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def resident_gb(config: Config, gaps: tuple[float, ...], model_bytes: int) -> float:
    """Resident model memory (GB). One user: the average over the idle gaps under this keep_alive (Ollama's
    rule). Several users (or arrivals): the resident size itself — the weights plus ``config.extra_bytes``
    (every slot's context, a resident embedding model) — because requests overlap, the model is loaded
    whenever anyone is served whatever the keep_alive, and the box must hold it then."""
    size = (model_bytes + config.extra_bytes) / 1e9
    if config.several:
        return size
    total = sum(gaps)
    if total <= 0:
        return size
    ka = config.keep_alive_seconds
    held = sum(g if ka < 0 else min(g, ka) for g in gaps)
    return size * held / total
