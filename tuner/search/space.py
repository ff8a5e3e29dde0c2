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


@dataclass(frozen=True)
class Config:
    """One point of the space, in real units."""

    host: str
    keep_alive: str
    timeout: float
    keepalive_expiry: float
    max_connections: int
    reuse: bool

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
        return TIMEOUT_MARGIN * (self.facts.cold_load + self.facts.answer)

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
            "max_connections": 100,
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
        pool = params.get("max_connections", 100)
        return Config(
            host=str(params.get("host", f.host)),
            keep_alive=str(params.get("keep_alive", f.current_keep_alive)),
            timeout=f.current_timeout if baseline else self.timeout,
            keepalive_expiry=float(expiry) if isinstance(expiry, int | float) else f.current_expiry,
            max_connections=pool if isinstance(pool, int) else 100,
            reuse=f.reuse_now if baseline else f.reuse,
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
        if facts.concurrency > 1:
            dims.append(Dimension("max_connections", "int", low=1, high=max(2, 2 * facts.concurrency)))
    return Space(facts, tuple(dims))


def resident_gb(config: Config, gaps: tuple[float, ...], model_bytes: int) -> float:
    """Average resident model memory (GB) over the idle gaps under this keep_alive (Ollama's rule)."""
    total = sum(gaps)
    if total <= 0:
        return model_bytes / 1e9
    ka = config.keep_alive_seconds
    held = sum(g if ka < 0 else min(g, ka) for g in gaps)
    return model_bytes / 1e9 * held / total
