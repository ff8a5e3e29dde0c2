"""Where the model runs, in the lab: a partly offloaded model's rate, the context window, the load timeout.

The rules (facts read in ollama/ollama; where, and the figures, in docs/lab.md "Placement"):

- Generating a token reads every weight once, layer after layer, so a token costs the GPU layers' time plus
  the CPU layers' time. With a share ``c`` of the model on the CPU (``1 - size_vram / size``, what
  ``ollama ps`` shows as "c%/(1-c)% CPU/GPU"): seconds per token = ``(1 - c) / gpu_rate + c / cpu_rate``.
  A model spec opts in with ``cpu_tokens_per_s`` (its rate wholly on the CPU); ``gen_tokens_per_s`` is then
  its rate wholly in VRAM.
- A prompt longer than the loaded context is cut, never refused: a chat first drops its oldest
  non-system messages (the last message always stays; server/prompt.go ``chatPrompt``), then the runner
  keeps the first ``num_keep`` tokens and the end (runner/ollamarunner ``truncate``).
  ``prompt_eval_count`` is therefore at most ``num_ctx``.
- A load that makes no progress for ``OLLAMA_LOAD_TIMEOUT`` fails with Ollama's own message (llm/server.go
  ``WaitUntilRunning``). The sim's load reports no progress until it completes, so its whole load counts
  as the stall. A timeout of 0 or less means none, as in Ollama.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from tuner.lab.engine import ModelSpec

NUM_KEEP = 4  # api.DefaultOptions().NumKeep: tokens kept from the start when the runner cuts a prompt


class LoadTimedOut(Exception):
    """A load that stalled longer than the load timeout (Ollama answers HTTP 500 with this message)."""

    def __init__(self) -> None:
        super().__init__("timed out waiting for llama runner to start - progress 0.00 - ")


def cpu_share(spec: ModelSpec) -> float:
    """The share of the model's bytes outside VRAM, 0..1 (0 for a model of unknown size)."""
    if spec.size_bytes <= 0:
        return 0.0
    return min(max(1.0 - spec.size_vram / spec.size_bytes, 0.0), 1.0)


def gen_rate(spec: ModelSpec) -> float:
    """Tokens per second of generation where the model is placed (see the module's rules)."""
    cpu = spec.cpu_tokens_per_s
    if cpu is None:
        return spec.gen_tokens_per_s
    c = cpu_share(spec)
    if c <= 0.0:
        return spec.gen_tokens_per_s
    if c >= 1.0:
        return cpu
    gpu_cost = 0.0 if math.isinf(spec.gen_tokens_per_s) else (1.0 - c) / spec.gen_tokens_per_s
    cpu_cost = 0.0 if math.isinf(cpu) else c / cpu
    cost = gpu_cost + cpu_cost
    return math.inf if cost <= 0.0 else 1.0 / cost


def fit_prompt(messages: Sequence[tuple[str, int]], num_ctx: int) -> tuple[int, bool]:
    """(prompt tokens evaluated, whether the prompt was cut) for messages given as (role, tokens).

    A completion prompt is one message. Oldest non-system messages go first, never the last one; what
    still does not fit is cut to ``num_ctx`` tokens (the first ``NUM_KEEP`` and the end)."""
    kept = list(messages)
    total = sum(n for _, n in kept)
    if total <= num_ctx:
        return total, False
    i = 0
    while total > num_ctx and i < len(kept) - 1:
        role, n = kept[i]
        if role == "system":
            i += 1
            continue
        del kept[i]
        total -= n
    return min(total, num_ctx), True


def load_limit(load_timeout: float, time_scale: float) -> float | None:
    """Seconds a lab load may take before it fails (scaled like every modelled duration); None: no limit."""
    limit = load_timeout * time_scale
    return limit if load_timeout > 0 and math.isfinite(limit) and limit > 0 else None
