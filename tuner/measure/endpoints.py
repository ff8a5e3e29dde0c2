"""Where an install's real endpoints are: its Ollama server root and model, and Chatchat's own API."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from tuner.install.files import LoadedInstall
from tuner.knobs.catalogue import OllamaEntry, ollama_entries

WILDCARD_HOSTS = ("0.0.0.0", "::", "")


@dataclass(frozen=True)
class Endpoints:
    ollama_root: str | None  # e.g. http://127.0.0.1:11434 (the /v1 suffix removed)
    ollama_url: str | None  # as configured, e.g. http://localhost:11434/v1
    ollama_entry: str | None
    model: str | None  # first chat model of that entry
    chatchat_api: str | None  # e.g. http://127.0.0.1:7861
    chatchat_model: str | None  # DEFAULT_LLM_MODEL (0.3.1) / first of LLM_MODELS (0.2.x)


def with_host(url: str, host: str) -> str:
    """The same URL with another host (port, path and the rest kept; IPv6 addresses bracketed)."""
    parts = urlsplit(url)
    shown = f"[{host}]" if ":" in host else host
    netloc = f"{shown}:{parts.port}" if parts.port else shown
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def server_root(url: str) -> str:
    """``http://host:11434/v1`` → ``http://host:11434``."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    if path.endswith("/v1"):
        path = path[: -len("/v1")]
    return urlunsplit((parts.scheme, parts.netloc, path, "", "")).rstrip("/")


def _chat_model(entry: OllamaEntry, loaded: LoadedInstall) -> str | None:
    if loaded.install.generation == "0.3.1":
        platforms = loaded.data("model_settings").get("MODEL_PLATFORMS")
        for p in platforms if isinstance(platforms, list) else []:
            if isinstance(p, dict) and p.get("platform_name") == entry.name:
                models = p.get("llm_models") or []
                return str(models[0]) if models else None
    return entry.models[0] if entry.models else None


def _api_server(loaded: LoadedInstall) -> str | None:
    role = "basic_settings" if loaded.install.generation == "0.3.1" else "server_config"
    api = loaded.data(role).get("API_SERVER")
    if not isinstance(api, dict):
        return None
    host = api.get("host")
    host = "127.0.0.1" if not isinstance(host, str) or host in WILDCARD_HOSTS else host
    port = api.get("port", 7861)
    return f"http://{host}:{port}"


def _default_model(loaded: LoadedInstall) -> str | None:
    if loaded.install.generation == "0.3.1":
        value = loaded.data("model_settings").get("DEFAULT_LLM_MODEL")
        return str(value) if value else None
    models = loaded.data("model_config").get("LLM_MODELS") or loaded.data("model_config").get("LLM_MODEL")
    if isinstance(models, list):
        return str(models[0]) if models else None
    return str(models) if models else None


def endpoints(loaded: LoadedInstall, entry_name: str | None = None) -> Endpoints:
    entries = ollama_entries(loaded)
    if entry_name:
        entry = next((e for e in entries if e.name == entry_name), None)
    else:
        entry = entries[0] if entries else None
    return Endpoints(
        server_root(entry.url) if entry and entry.url else None,
        entry.url if entry else None,
        entry.name if entry else None,
        _chat_model(entry, loaded) if entry else None,
        _api_server(loaded),
        _default_model(loaded),
    )
