"""Ollama's ``GET /api/ps`` answer, read in one place (pure: the callers fetch it).

``{"models": [{"name", "model", "size", "size_vram", "expires_at", "context_length", ...}]}``: ``size`` is
the resident size in bytes (weights plus every slot's context), ``size_vram`` the part on the GPU, and
``expires_at`` when the keep_alive runs out (RFC 3339; far in the future for ``-1``). ``context_length`` is
reported from Ollama v0.10.0 (``docs/doctor.md`` says where each was read); older servers leave it out.
The search sizes slots from ``size``, the doctor reads the CPU share and the context, and ``watch`` the
expiry, all through :func:`parse_ps`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_MODELS = 64  # a server listing more than this is not telling the truth; the rest is ignored
MAX_NAME = 200


@dataclass(frozen=True, kw_only=True)
class Loaded:
    """One model in ``/api/ps``."""

    name: str
    size: int = 0  # bytes resident
    size_vram: int = 0  # of which on the GPU
    expires_at: str = ""  # as Ollama wrote it; "" when absent
    context_length: int | None = None  # None: an Ollama that does not report it

    @property
    def cpu_share(self) -> float:
        """The part of the model held in system memory (0 when all of it is on the GPU)."""
        return min(max(1.0 - self.size_vram / self.size, 0.0), 1.0) if self.size > 0 else 0.0


def count(value: Any) -> int | None:
    """A JSON count Ollama reports (bytes, tokens, nanoseconds): a non-negative integer, else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def parse_ps(data: object) -> tuple[Loaded, ...] | None:
    """The loaded models; None when ``data`` is not Ollama's shape (no ``models`` list)."""
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        return None
    out = []
    for m in data["models"][:MAX_MODELS]:
        if not isinstance(m, dict):
            continue
        out.append(
            Loaded(
                name=str(m.get("name") or m.get("model") or "?")[:MAX_NAME],
                size=count(m.get("size")) or 0,
                size_vram=count(m.get("size_vram")) or 0,
                expires_at=str(m.get("expires_at") or "")[:64],
                context_length=count(m.get("context_length")) or None,
            )
        )
    return tuple(out)
