"""What the install does today, as the search's baseline needs it (environment overrides included)."""

from __future__ import annotations

from dataclasses import dataclass

from tuner.codepatch.keys import NEW_PLATFORM_KEYS
from tuner.install.environ import as_number, effective_number
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


def current_settings(loaded: LoadedInstall, entry: str | None) -> Current:
    gen = loaded.install.generation
    role = "server_config" if gen == "0.2" else "basic_settings"
    httpx_timeout = effective_number(loaded, role, "HTTPX_DEFAULT_TIMEOUT")[0] or 300.0
    timeout = OPENAI_READ_TIMEOUT if gen == "0.3.1" and not loaded.patched else httpx_timeout
    expiry = HTTPX_EXPIRY
    if loaded.patched:
        found = [t.found for t in BY_NAME["keepalive_expiry"].targets(loaded) if t.entry == entry and t.found]
        expiry = (as_number(found[0].value) if found else None) or PATCH_EXPIRY
    role = "model_config" if gen == "0.2" else "model_settings"
    tokens = loaded.data(role).get("MAX_TOKENS")
    max_tokens = tokens if isinstance(tokens, int) and not isinstance(tokens, bool) and tokens > 0 else 1024
    return Current(timeout, expiry, max_tokens)
