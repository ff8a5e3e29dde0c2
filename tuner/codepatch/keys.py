"""The settings the patched Chatchat reads from its own model_settings.yaml, per MODEL_PLATFORMS entry.

``api_concurrencies`` (shipped, default 5) becomes the size of the platform's connection pool and so the
bound on its concurrent calls; ``HTTPX_DEFAULT_TIMEOUT`` (basic_settings.yaml, shipped) bounds each attempt.
The keys below are new: Chatchat's PlatformConfig allows extra fields (pydantic ``extra="allow"``), and
the patched code reads them with ``.get(key, default)``, so an unpatched YAML keeps working and an
unpatched Chatchat ignores them.
"""

from __future__ import annotations

# (key, default the patched code uses when the key is absent, comment written above the key)
NEW_PLATFORM_KEYS: tuple[tuple[str, object, str], ...] = (
    (
        "api_keepalive_expiry",
        30.0,
        "空闲连接保持时间（秒），需 chatchat-tune 代码补丁 / seconds an idle pooled connection to this "
        "platform is kept for reuse (read only with the chatchat-tune code patch)",
    ),
    (
        "api_max_retries",
        2,
        "调用失败（含超时）后的重试次数，需 chatchat-tune 代码补丁 / retries after a failed or timed-out "
        "call to this platform (read only with the chatchat-tune code patch)",
    ),
)

# Shipped settings whose meaning the patch changes (for the effect map): key → what it does once patched.
PATCHED_MEANINGS: tuple[tuple[str, str], ...] = (
    ("HTTPX_DEFAULT_TIMEOUT", "bounds each attempt of a model call (connect, read, write, pool wait)"),
    ("api_concurrencies", "connection pool size per platform: concurrent calls beyond it wait in a queue"),
)
