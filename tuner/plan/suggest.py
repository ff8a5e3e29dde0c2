"""Settings the files alone show to be worth changing (measured causes come from doctor)."""

from __future__ import annotations

from urllib.parse import urlsplit

from tuner.install.files import LoadedInstall
from tuner.knobs.catalogue import ollama_entries
from tuner.plan.settings import Setting


def suggest(loaded: LoadedInstall) -> list[Setting]:
    out: list[Setting] = []
    for entry in ollama_entries(loaded):
        parts = urlsplit(entry.url)
        if parts.hostname == "localhost":
            out.append(Setting("ollama_url", entry.name, entry.url.replace("localhost", "127.0.0.1", 1)))
    platforms = loaded.data("model_settings").get("MODEL_PLATFORMS")
    for p in platforms if isinstance(platforms, list) else []:
        if isinstance(p, dict) and p.get("auto_detect_model") is True and p.get("platform_type") != "ollama":
            out.append(Setting("auto_detect_model", str(p.get("platform_name")), False))
    return out
