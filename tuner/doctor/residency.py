"""Where the model runs: ``/api/ps`` around the model probe and a measured generation rate. I/O edge.

What Ollama reports (ollama/ollama api/types.go ``ProcessModelResponse``): ``size`` and ``size_vram`` in
bytes (``ollama ps`` prints ``1 - size_vram/size`` as the CPU share, "42%/58% CPU/GPU") and, from v0.10.0
on, ``context_length``, the context the runner was loaded with. The rate comes from the server's own counts
(``eval_count`` / ``eval_duration`` of one short native request), measured only when the model is partly
or wholly outside VRAM, so a healthy install pays nothing for it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from tuner.doctor.http import request
from tuner.measure.ollama import tagged
from tuner.ollama_ps import Loaded, count, parse_ps

RATE_TOKENS = 12  # tokens generated for the rate (one request)
PS_CAP = 2.0


@dataclass(frozen=True, kw_only=True)
class Rate:
    tokens: int
    seconds: float  # eval_duration

    @property
    def per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else float("inf")


@dataclass(frozen=True, kw_only=True)
class Residency:
    model: str
    before: Loaded | None  # the model in /api/ps before the doctor's first request for it
    after: Loaded | None  # and after it
    others: tuple[Loaded, ...] = ()  # the other models loaded at the same time (after)
    rate: Rate | None = None
    version: str | None = None  # Ollama's, from GET /api/version
    load_timeout: float = 300.0  # OLLAMA_LOAD_TIMEOUT as this environment sets it (seconds)
    load_timeout_source: str = "default (5m)"


def loaded_models(root: str, timeout: float) -> tuple[Loaded, ...] | None:
    """``/api/ps`` as Loaded values; None when it did not answer."""
    got = request("GET", root + "/api/ps", timeout=timeout)
    return parse_ps(got.json() if got.ok else None)


def find(models: tuple[Loaded, ...] | None, model: str) -> Loaded | None:
    return next((m for m in models or () if tagged(m.name) == tagged(model)), None)


def measure_rate(root: str, model: str, timeout: float) -> Rate | None:
    """One short native chat; its server-side eval rate (None when it failed or counted nothing)."""
    body = {
        "model": model,
        "messages": [
            {"role": "user", "content": f"[chatchat-tune rate {time.time_ns() % 10**9}] Count to 20."}
        ],
        "stream": False,
        "options": {"num_predict": RATE_TOKENS},
    }
    got = request("POST", root + "/api/chat", timeout=timeout, body=body)
    data = got.json() if got.ok else None
    if not isinstance(data, dict):
        return None
    tokens, duration = count(data.get("eval_count")), count(data.get("eval_duration"))
    if not tokens or not duration:
        return None
    return Rate(tokens=tokens, seconds=duration / 1e9)


def load_timeout_of(environ: dict[str, str]) -> tuple[float, str]:
    """OLLAMA_LOAD_TIMEOUT as Ollama reads it (envconfig.LoadTimeout: a Go duration or whole seconds;
    default 5m; 0 or less: no limit → inf); where it was read."""
    from tuner.durations import DurationError, go_duration_seconds

    raw = environ.get("OLLAMA_LOAD_TIMEOUT", "").strip()
    if not raw:
        return 300.0, "default (5m)"
    try:
        seconds = go_duration_seconds(raw)
    except DurationError:
        try:
            seconds = float(int(raw))
        except ValueError:
            return 300.0, f"OLLAMA_LOAD_TIMEOUT={raw!r} is not read by Ollama: default (5m)"
    return (seconds if seconds > 0 else float("inf")), f"OLLAMA_LOAD_TIMEOUT={raw} (this environment)"
