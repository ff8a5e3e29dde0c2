"""What the install does today, as the search's baseline needs it (environment overrides included)."""

from __future__ import annotations

from dataclasses import dataclass

from tuner.codepatch.keys import NEW_PLATFORM_KEYS
from tuner.install.environ import env_overrides
from tuner.install.files import LoadedInstall
from tuner.knobs.catalogue import BY_NAME

GAP_DISTRIBUTIONS = ("exponential", "fixed", "uniform")
OPENAI_READ_TIMEOUT = 600.0  # what bounds 0.3.1.3's model call as shipped
PATCH_EXPIRY = float(next(v for k, v, _ in NEW_PLATFORM_KEYS if k == "api_keepalive_expiry"))  # type: ignore[arg-type]
HTTPX_EXPIRY = 5.0  # httpx's default keep-alive expiry


@dataclass(frozen=True)
class Current:
    timeout: float  # what bounds the model call now
    keepalive_expiry: float
    max_tokens: int  # the longest answer the timeout must allow


def _number(value: object, default: float) -> float:
    if isinstance(value, bool):
        return default
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return default
    return default


def current_settings(loaded: LoadedInstall, entry: str | None) -> Current:
    gen = loaded.install.generation
    role = "server_config" if gen == "0.2" else "basic_settings"
    httpx_timeout = _number(loaded.data(role).get("HTTPX_DEFAULT_TIMEOUT"), 300.0)
    for o in env_overrides(loaded):
        if o.field == "HTTPX_DEFAULT_TIMEOUT":
            httpx_timeout = _number(o.value, httpx_timeout)
    timeout = OPENAI_READ_TIMEOUT if gen == "0.3.1" and not loaded.patched else httpx_timeout
    expiry = HTTPX_EXPIRY
    if loaded.patched:
        found = [t.found for t in BY_NAME["keepalive_expiry"].targets(loaded) if t.entry == entry and t.found]
        expiry = _number(found[0].value, PATCH_EXPIRY) if found else PATCH_EXPIRY
    role = "model_config" if gen == "0.2" else "model_settings"
    tokens = loaded.data(role).get("MAX_TOKENS")
    max_tokens = tokens if isinstance(tokens, int) and not isinstance(tokens, bool) and tokens > 0 else 1024
    return Current(timeout, expiry, max_tokens)
