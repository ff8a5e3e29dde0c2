"""Parallel slots as a real server has them: shared compute and per-slot context memory.

Rules (the figures and where they were read are in docs/lab.md, "Slots"):

- **Compute is shared.** ``n`` requests generating at once on one model get, together, ``speedup(n)``
  times the single-request rate; each one alone gets ``speedup(n) / n`` of it. ``speedup`` is a curve of
  ``(slots, factor)`` points on the model (``ModelSpec.batch_speedup``), interpolated linearly in
  ``log n`` between points and held flat beyond the last one. An empty curve keeps the old behaviour
  (every slot at full speed). Prompt evaluation shares the same way.
- **Each slot holds its own context.** Ollama runs the model with a context of ``num_ctx × num_parallel``
  (its FAQ), so the resident size is the weights plus ``kv_bytes_per_token × num_ctx × num_parallel``;
  ``/api/ps`` ``size`` shows it, and ``size_vram`` too when the model is in VRAM.
- **The service's variables change on a restart.** ``POST /lab/server`` plays restarting Ollama with new
  ``OLLAMA_NUM_PARALLEL``, ``OLLAMA_MAX_LOADED_MODELS`` and ``OLLAMA_KEEP_ALIVE``: every idle model is
  unloaded (a busy one is refused with 409) and the new values apply to every load after it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from tuner.lab.engine import ModelSpec

if TYPE_CHECKING:
    from tuner.lab.http import Request, Result
    from tuner.lab.server import LabApp

# llama.cpp's batched-bench sample results (LLaMA 7B F16, fully offloaded, PP 128 / TG 128, prompt not
# shared): S_TG 41.57, 50.90, 74.44, 139.43, 242.23 t/s for 1, 2, 4, 8, 16 sequences.
GPU_BATCH_SPEEDUP: tuple[tuple[int, float], ...] = ((1, 1.0), (2, 1.22), (4, 1.79), (8, 3.35), (16, 5.83))
# A CPU is compute-bound sooner: batching gains little (see docs/lab.md; an assumption, stated there).
CPU_BATCH_SPEEDUP: tuple[tuple[int, float], ...] = ((1, 1.0), (2, 1.3), (4, 1.5), (8, 1.6))


def speedup(curve: Sequence[Sequence[float]], n: int) -> float:
    """Total rate with ``n`` requests at once, relative to one alone (1.0 for n <= 1 or no curve)."""
    if n <= 1:
        return 1.0
    if not curve:  # independent slots: every one at full speed
        return float(n)
    points = sorted((float(k), float(v)) for k, v in curve)
    if n <= points[0][0]:
        return points[0][1]
    for (k0, v0), (k1, v1) in itertools.pairwise(points):
        if n <= k1:
            w = (math.log(n) - math.log(k0)) / (math.log(k1) - math.log(k0))
            return v0 + w * (v1 - v0)
    return points[-1][1]


def slowdown(spec: ModelSpec, active: int) -> float:
    """How many times longer each token takes with ``active`` requests generating on ``spec`` at once."""
    if active <= 1 or not spec.batch_speedup:
        return 1.0
    return active / speedup(spec.batch_speedup, active)


def context_bytes(spec: ModelSpec, num_ctx: int, num_parallel: int) -> int:
    """The KV cache the runner allocates: every slot holds a whole ``num_ctx``."""
    return spec.kv_bytes_per_token * num_ctx * max(num_parallel, 1)


def resident_bytes(spec: ModelSpec, num_ctx: int, num_parallel: int) -> tuple[int, int]:
    """``/api/ps`` ``size`` and ``size_vram``: the weights plus the context of every slot."""
    extra = context_bytes(spec, num_ctx, num_parallel)
    return spec.size_bytes + extra, (spec.size_vram + extra) if spec.size_vram else 0


class Busy:
    """Counts the requests generating on one loaded model (the sim engine asks it per token)."""

    def __init__(self) -> None:
        self.active = 0

    def __enter__(self) -> Busy:
        self.active += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self.active -= 1


SERVER_KEYS = {
    "num_parallel": "OLLAMA_NUM_PARALLEL",
    "max_loaded_models": "OLLAMA_MAX_LOADED_MODELS",
    "keep_alive": "OLLAMA_KEEP_ALIVE",
}


async def server_settings(app: LabApp, request: Request) -> Result:
    """``POST /lab/server``: restart with new service variables (see the module docstring); ``GET``-like
    answer with the values in force. A bad value is a 400 naming it; nothing changes then."""
    from tuner.lab.keepalive import parse_server_keep_alive
    from tuner.lab.protocol import json_response, parse_body

    sched = app.scheduler
    data = parse_body(request.body) if request.body.strip() else {}
    if not isinstance(data, dict):
        return json_response(400, {"error": "expected a JSON object"})
    for key, value in data.items():
        if key not in SERVER_KEYS:
            return json_response(400, {"error": f"unknown setting {key!r}", "field": key})
        if key != "keep_alive" and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            return json_response(400, {"error": f"{key} must be a positive integer", "field": key})
        if key == "keep_alive" and (isinstance(value, bool) or not isinstance(value, (int, float, str))):
            return json_response(400, {"error": "keep_alive must be a duration or seconds", "field": key})
    if data:
        if any(r.refs or r.waiters for r in sched.runners.values()):
            return json_response(409, {"error": "a model is busy; restart when idle"})
        for runner in list(sched.runners.values()):
            await sched._unload(runner)  # a restart unloads everything
        sched.num_parallel = int(data.get("num_parallel", sched.num_parallel))
        sched.max_loaded_models = int(data.get("max_loaded_models", sched.max_loaded_models))
        if "keep_alive" in data:
            sched.default_keep_alive = parse_server_keep_alive(data["keep_alive"])
    ka = sched.default_keep_alive
    return json_response(
        200,
        {
            "num_parallel": sched.num_parallel,
            "max_loaded_models": sched.max_loaded_models,
            "keep_alive_s": -1 if math.isinf(ka) else ka,
        },
    )
