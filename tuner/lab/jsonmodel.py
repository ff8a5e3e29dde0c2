"""`chatchat-tune lab profiles --json`: the typed model (one style with ``tuner.cli.jsonmodels``).

Rates are per second (``*_per_s``; ``null``: unbounded), sizes in bytes, the load time in seconds.
The faults keep the names a profile file and ``POST /lab/faults`` take.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tuner.lab.profiles import Profile

SCHEMA_VERSION = 1


def finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


@dataclass(frozen=True, kw_only=True)
class LabModelJson:
    """A model a lab profile serves, with its simulated rates (``null``: unbounded)."""

    model: str
    size_bytes: int
    size_vram_bytes: int
    load_s: float | None
    prompt_tokens_per_s: float | None
    gen_tokens_per_s: float | None
    jitter: float | None
    embedding_dim: int
    family: str
    parameter_size: str
    quantization_level: str
    file: str | None


@dataclass(frozen=True, kw_only=True)
class LabProfileJson:
    """A lab profile: the Ollama server settings it plays, its models and its faults."""

    name: str
    keep_alive: str
    num_parallel: int
    max_loaded_models: int
    max_queue: int
    time_scale: float | None
    default_num_ctx: int
    models: tuple[LabModelJson, ...]
    faults: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class LabProfilesJson:
    """`chatchat-tune lab profiles --json`: the built-in profiles."""

    schema_version: int
    profiles: tuple[LabProfileJson, ...]


def lab_profiles_json(profiles: dict[str, Profile]) -> LabProfilesJson:
    return LabProfilesJson(
        schema_version=SCHEMA_VERSION,
        profiles=tuple(
            LabProfileJson(
                name=name,
                keep_alive=p.keep_alive,
                num_parallel=p.num_parallel,
                max_loaded_models=p.max_loaded_models,
                max_queue=p.max_queue,
                time_scale=finite(p.time_scale),
                default_num_ctx=p.default_num_ctx,
                models=tuple(
                    LabModelJson(
                        model=m.name,
                        size_bytes=m.size_bytes,
                        size_vram_bytes=m.size_vram,
                        load_s=finite(m.load_seconds),
                        prompt_tokens_per_s=finite(m.prompt_tokens_per_s),
                        gen_tokens_per_s=finite(m.gen_tokens_per_s),
                        jitter=finite(m.jitter),
                        embedding_dim=m.embedding_dim,
                        family=m.family,
                        parameter_size=m.parameter_size,
                        quantization_level=m.quantization_level,
                        file=m.path,
                    )
                    for m in p.models
                ),
                faults=p.faults.to_dict(),
            )
            for name, p in profiles.items()
        ),
    )
