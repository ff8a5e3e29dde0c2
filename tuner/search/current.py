"""What the install does today, as the search's baseline needs it (environment overrides included)."""

from __future__ import annotations

from dataclasses import dataclass

from tuner.codepatch.keys import NEW_PLATFORM_KEYS
from tuner.install.endpoints import max_tokens, timeout_setting
from tuner.install.environ import as_number
from tuner.install.files import LoadedInstall
from tuner.knobs.catalogue import BY_NAME
from tuner.measure.runner import HARD_CAP_SECONDS

DEFAULT_TIMEOUT = 300.0  # HTTPX_DEFAULT_TIMEOUT's default in every version that has it
PATCH_EXPIRY = float(next(v for k, v, _ in NEW_PLATFORM_KEYS if k == "api_keepalive_expiry"))  # type: ignore[arg-type]
HTTPX_EXPIRY = 5.0  # httpx's default keep-alive expiry


@dataclass(frozen=True)
class Current:
    timeout: float  # what bounds the model call now
    keepalive_expiry: float
    max_tokens: int  # the longest answer the timeout must allow


def current_settings(loaded: LoadedInstall, entry: str | None) -> Current:
    layout = loaded.layout
    setting = timeout_setting(loaded)[0] or DEFAULT_TIMEOUT
    if loaded.patched or layout.timeout_bounds_model_call:
        timeout = setting
    else:  # as shipped: openai's own read timeout, or nothing (held until the run's hard cap)
        timeout = layout.model_call_read_timeout or HARD_CAP_SECONDS
    expiry = HTTPX_EXPIRY
    if loaded.patched:
        found = [t.found for t in BY_NAME["keepalive_expiry"].targets(loaded) if t.entry == entry and t.found]
        expiry = (as_number(found[0].value) if found else None) or PATCH_EXPIRY
    return Current(timeout, expiry, max_tokens(loaded))
