"""Lab profiles: the models served, the server settings that play Ollama's environment, and the faults.

Built-in profiles: ``cpu-7b``, ``gpu-7b``, ``tiny``, ``zero`` (no modelled compute) and ``small-gpu`` (chat
and embedding models do not fit together). A ``--config`` file (YAML or JSON) may start from a built-in
(``base: cpu-7b``) and override any field.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tuner.errors import UserError
from tuner.lab.engine import ModelSpec
from tuner.lab.slots import CPU_BATCH_SPEEDUP, GPU_BATCH_SPEEDUP

GB = 1_000_000_000
MB = 1_000_000

# The names a default Chatchat 0.3.1.x asks its ollama platform for.
CHAT_MODELS = ("qwen2:7b", "qwen:7b")
EMBED_MODEL = "quentinz/bge-large-zh-v1.5:latest"

# Context memory per token per slot: 2 (K and V) × layers × KV heads × head size × 2 bytes (f16).
QWEN2_7B_KV = 2 * 28 * 4 * 128 * 2  # Qwen2-7B: 28 layers, 4 KV heads (GQA), head size 128 → 56 KiB
QWEN_7B_KV = 2 * 32 * 32 * 128 * 2  # Qwen1.5-7B (qwen:7b): 32 layers, 32 KV heads, head size 128 → 512 KiB
BGE_LARGE_KV = 2 * 24 * 1024 * 2  # bge-large: 24 layers, hidden 1024 → 96 KiB


class FaultError(UserError):
    """A fault setting that is refused; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"faults.{field}: {message}" if field else f"faults: {message}")


_PROBABILITIES = ("disconnect_mid_stream", "error_rate", "hang")
_DELAYS = ("connect_delay", "first_byte_delay")
_COUNTS = ("disconnect_every", "error_every")


def _fault_value(key: str, value: Any) -> Any:
    if key == "connect_delay_hosts":
        hosts = [value] if isinstance(value, str) else value
        if not isinstance(hosts, (list, tuple)) or not all(isinstance(h, str) for h in hosts):
            raise FaultError(key, "expected a host name or a list of host names")
        return tuple(hosts)
    if key == "hang" and isinstance(value, bool):
        return 1.0 if value else 0.0
    if key in _COUNTS:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise FaultError(key, f"expected a non-negative integer, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FaultError(key, f"expected a number, got {value!r}")
    try:
        number = float(value)
    except OverflowError:  # an integer beyond float range
        number = math.inf
    if key in _PROBABILITIES and not 0.0 <= number <= 1.0:  # also refuses nan
        raise FaultError(key, f"expected a probability between 0 and 1, got {value!r}")
    if key in _DELAYS and not (math.isfinite(number) and number >= 0.0):
        raise FaultError(key, f"expected a finite, non-negative number of seconds, got {value!r}")
    return number


@dataclass(frozen=True)
class Faults:
    """Faults a scenario switches on. Probabilities are drawn from the lab's seeded RNG."""

    connect_delay: float = 0.0  # seconds before the first response on each new connection
    connect_delay_hosts: tuple[str, ...] = ("localhost",)  # Host header names that pay it
    first_byte_delay: float = 0.0  # seconds before every response's first byte
    disconnect_mid_stream: float = 0.0  # probability that a generation response is cut off mid-body
    disconnect_every: int = 0  # or: cut off every Nth generation response
    error_rate: float = 0.0  # probability of HTTP 500 on a generation/embedding request
    error_every: int = 0  # or: every Nth such request fails
    hang: float = 0.0  # probability that a request is read and never answered (1.0: always)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Faults:
        """Faults from a config or ``POST /lab/faults`` body; any bad value raises ``FaultError`` (no defaults
        are guessed): probabilities are numbers in [0, 1] (``hang`` also takes a JSON boolean), delays are
        finite non-negative seconds, ``*_every`` are non-negative integers, hosts are strings."""
        if not isinstance(data, Mapping):
            raise FaultError("", "expected a mapping")
        names = {f.name for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key not in names:
                raise FaultError(str(key), f"unknown fault (known: {', '.join(sorted(names))})")
            values[key] = _fault_value(key, value)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["connect_delay_hosts"] = list(self.connect_delay_hosts)
        return out


@dataclass(frozen=True)
class Profile:
    name: str
    models: tuple[ModelSpec, ...]
    keep_alive: str = "5m"  # plays OLLAMA_KEEP_ALIVE
    num_parallel: int = 1  # OLLAMA_NUM_PARALLEL
    max_loaded_models: int = 3  # OLLAMA_MAX_LOADED_MODELS
    max_queue: int = 512  # OLLAMA_MAX_QUEUE
    time_scale: float = 1.0
    default_num_ctx: int = 4096
    load_timeout: float = 300.0  # OLLAMA_LOAD_TIMEOUT in seconds (default 5m; <= 0: none)
    faults: Faults = field(default_factory=Faults)
    vram_bytes: int = 0  # the GPU's memory models share (0: no limit but max_loaded_models)

    def model(self, name: str) -> ModelSpec | None:
        wanted = normalize_model_name(name)
        for spec in self.models:
            if normalize_model_name(spec.name) == wanted:
                return spec
        return None

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["models"] = [dataclasses.asdict(m) for m in self.models]
        out["faults"] = self.faults.to_dict()
        return out


def normalize_model_name(name: str) -> str:
    """Ollama's short names: ``qwen2`` is ``qwen2:latest``; ``library/`` prefixes are implied."""
    name = name.strip()
    if name.startswith("library/"):
        name = name[len("library/") :]
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else f"{name}:latest"


def _chat(name: str, size: int, **kw: Any) -> ModelSpec:
    return ModelSpec(name=name, size_bytes=size, family="qwen2", **kw)


def _embed(**kw: Any) -> ModelSpec:
    return ModelSpec(
        name=EMBED_MODEL,
        size_bytes=671 * MB,
        family="bert",
        parameter_size="324M",
        quantization_level="F16",
        embedding_dim=1024,
        **kw,
    )


def _builtin() -> dict[str, Profile]:
    cpu: dict[str, Any] = dict(
        load_seconds=6.0, prompt_tokens_per_s=40.0, gen_tokens_per_s=8.0, jitter=0.05, size_vram=0
    )
    gpu_q2: dict[str, Any] = dict(
        load_seconds=2.5, prompt_tokens_per_s=1500.0, gen_tokens_per_s=60.0, jitter=0.05
    )
    # Slots (tuner.lab.slots; figures and sources in docs/lab.md): KV bytes per token per slot from each
    # model's shape (f16 K and V per layer), and the batched-decoding speed-up curve.
    cpu.update(batch_speedup=CPU_BATCH_SPEEDUP)
    gpu_q2.update(batch_speedup=GPU_BATCH_SPEEDUP)
    tiny = dict(load_seconds=0.07, prompt_tokens_per_s=20000.0, gen_tokens_per_s=1500.0, jitter=0.02)
    zero = dict(load_seconds=0.0, prompt_tokens_per_s=math.inf, gen_tokens_per_s=math.inf, jitter=0.0)
    return {
        "cpu-7b": Profile(
            name="cpu-7b",
            models=(
                _chat("qwen2:7b", 4_400 * MB, kv_bytes_per_token=QWEN2_7B_KV, **cpu),
                _chat("qwen:7b", 4_500 * MB, kv_bytes_per_token=QWEN_7B_KV, **cpu),
                _embed(
                    load_seconds=1.0,
                    prompt_tokens_per_s=400.0,
                    gen_tokens_per_s=1.0,
                    size_vram=0,
                    kv_bytes_per_token=BGE_LARGE_KV,
                ),
            ),
        ),
        "gpu-7b": Profile(
            name="gpu-7b",
            models=(
                _chat("qwen2:7b", 4_400 * MB, size_vram=4_400 * MB, kv_bytes_per_token=QWEN2_7B_KV, **gpu_q2),
                _chat("qwen:7b", 4_500 * MB, size_vram=4_500 * MB, kv_bytes_per_token=QWEN_7B_KV, **gpu_q2),
                _embed(
                    load_seconds=0.4,
                    prompt_tokens_per_s=8000.0,
                    gen_tokens_per_s=1.0,
                    size_vram=671 * MB,
                    kv_bytes_per_token=BGE_LARGE_KV,
                ),
            ),
        ),
        "tiny": Profile(
            name="tiny",
            models=(
                _chat("qwen2:7b", 5 * MB, size_vram=0, parameter_size="0.1M", **tiny),
                _chat("qwen:7b", 5 * MB, size_vram=0, parameter_size="0.1M", **tiny),
                _embed(load_seconds=0.03, prompt_tokens_per_s=50000.0, gen_tokens_per_s=1.0, size_vram=0),
            ),
        ),
        "zero": Profile(
            name="zero",
            models=(
                _chat("qwen2:7b", 4_400 * MB, size_vram=0, **zero),
                _chat("qwen:7b", 4_500 * MB, size_vram=0, **zero),
                _embed(
                    load_seconds=0.0, prompt_tokens_per_s=math.inf, gen_tokens_per_s=math.inf, size_vram=0
                ),
            ),
        ),
    }


def small_gpu_profiles() -> dict[str, Profile]:
    """``small-gpu``: a 5 GB GPU where the 7B chat model (4.4 GB) and the embedding model (671 MB) cannot
    both stay resident, so each call of one evicts the other (what `embed_evicts_llm` names)."""
    gpu = dict(load_seconds=2.5, prompt_tokens_per_s=1500.0, gen_tokens_per_s=60.0, jitter=0.05)
    return {
        "small-gpu": Profile(
            name="small-gpu",
            models=(
                _chat("qwen2:7b", 4_400 * MB, size_vram=4_400 * MB, **gpu),
                _chat("qwen:7b", 4_500 * MB, size_vram=4_500 * MB, **gpu),
                _embed(
                    load_seconds=0.4, prompt_tokens_per_s=8000.0, gen_tokens_per_s=1.0, size_vram=671 * MB
                ),
            ),
            vram_bytes=5_000 * MB,
        )
    }


PROFILES: dict[str, Profile] = _builtin() | small_gpu_profiles()


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise UserError(f"unknown lab profile {name!r} (known: {', '.join(sorted(PROFILES))})") from None


def profile_from_mapping(data: Mapping[str, Any], source: str = "config") -> Profile:
    """A profile from a config mapping: ``base`` (a built-in, default ``tiny``) plus overrides."""
    data = dict(data)
    base = get_profile(str(data.pop("base", "tiny")))
    changes: dict[str, Any] = {}
    if "models" in data:
        raw = data.pop("models")
        if not isinstance(raw, list) or not raw:
            raise UserError("'models' must be a non-empty list", source)
        changes["models"] = tuple(_from_mapping(ModelSpec, m, "models[]") for m in raw)
    if "faults" in data:
        raw_faults = data.pop("faults") or {}
        if not isinstance(raw_faults, Mapping):
            raise UserError("'faults' must be a mapping", source)
        changes["faults"] = Faults.from_mapping(raw_faults)
    known = {f.name: f for f in dataclasses.fields(Profile)} | {"name": None}
    for key, value in data.items():
        if key not in known:
            raise UserError(f"unknown setting {key!r}", source)
        changes[key] = value
    changes.setdefault("name", f"{base.name}+config")
    try:
        profile = replace(base, **changes)
    except TypeError as err:
        raise UserError(str(err), source) from None
    return _checked(profile, source)


def load_profile_file(path: Path) -> Profile:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise UserError(f"cannot read lab config: {err.strerror}", path) from None
    data: Any
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            from ruamel.yaml import YAML

            data = YAML(typ="safe").load(text)
    except Exception as err:  # a parse error of either format
        raise UserError(f"not valid {path.suffix.lstrip('.') or 'YAML'}: {err}", path) from None
    if not isinstance(data, Mapping):
        raise UserError("a lab config must be a mapping", path)
    return profile_from_mapping(data, str(path))


def _from_mapping(cls: Any, data: Any, where: str) -> Any:
    if not isinstance(data, Mapping):
        raise UserError(f"{where}: expected a mapping")
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(data) - set(names)
    if unknown:
        raise UserError(f"{where}: unknown field(s) {', '.join(sorted(map(str, unknown)))}")
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key == "connect_delay_hosts":
            value = (value,) if isinstance(value, str) else tuple(value)
        elif key == "hang" and isinstance(value, bool):
            value = 1.0 if value else 0.0
        elif (isinstance(value, str) and value.lower() in ("inf", "infinity")) or (
            value is None and key.endswith("tokens_per_s") and key != "cpu_tokens_per_s"
        ):  # JSON has no infinity: `lab profiles --json` prints an unlimited rate as null (cpu_tokens_per_s:
            # null is "not set", the model wholly where its main rate says)
            value = math.inf
        values[key] = value
    try:
        return cls(**values)
    except TypeError as err:
        raise UserError(f"{where}: {err}") from None


def _checked(profile: Profile, source: str) -> Profile:
    if not isinstance(profile.vram_bytes, int) or profile.vram_bytes < 0:
        raise UserError("vram_bytes must be a non-negative integer", source)
    for key in ("num_parallel", "max_loaded_models", "max_queue", "default_num_ctx"):
        value = getattr(profile, key)
        if not isinstance(value, int) or value < 1:
            raise UserError(f"{key} must be a positive integer", source)
    timeout = profile.load_timeout
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or math.isnan(timeout):
        raise UserError("load_timeout must be a number of seconds (0 or less: none)", source)
    if not isinstance(profile.time_scale, (int, float)) or profile.time_scale < 0:
        raise UserError("time_scale must be a non-negative number", source)
    return profile
