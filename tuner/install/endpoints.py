"""Where an install's real endpoints are (its Ollama server root and model, Chatchat's own API), and the
settings the measuring stages need, as Chatchat would see them (environment overrides included)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from tuner.install.entries import entry_named
from tuner.install.environ import effective_number

if TYPE_CHECKING:
    from tuner.install.files import LoadedInstall

WILDCARD_HOSTS = ("0.0.0.0", "::", "")
DEFAULT_API_PORT = 7861  # Chatchat's API server in every version (docs/versions.md)


@dataclass(frozen=True, kw_only=True)
class Endpoints:
    ollama_root: str | None  # e.g. http://127.0.0.1:11434 (the /v1 suffix removed)
    ollama_url: str | None  # as configured, e.g. http://localhost:11434/v1
    ollama_entry: str | None
    model: str | None  # first chat model of that entry
    chatchat_api: str | None  # e.g. http://127.0.0.1:7861
    chatchat_model: str | None  # DEFAULT_LLM_MODEL (0.3.x) / first of LLM_MODELS, or LLM_MODEL (0.2.x)


def with_host(url: str, host: str) -> str:
    """The same URL with another host (port, path and the rest kept; IPv6 addresses bracketed)."""
    parts = urlsplit(url)
    shown = f"[{host}]" if ":" in host else host
    netloc = f"{shown}:{parts.port}" if parts.port else shown
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def server_root(url: str, *, keep_path: bool = True) -> str:
    """``http://host:11434/v1`` → ``http://host:11434`` (``keep_path=False``: any path dropped, as
    Chatchat hands a URL to the xinference client)."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/") if keep_path else ""
    if path.endswith("/v1"):
        path = path[: -len("/v1")]
    return urlunsplit((parts.scheme, parts.netloc, path, "", "")).rstrip("/")


def _api_server(loaded: LoadedInstall) -> str | None:
    where = loaded.layout.api_server
    api = loaded.data(where.role).get(where.key) if where else None
    if not isinstance(api, dict):
        return None
    host = api.get("host")
    host = "127.0.0.1" if not isinstance(host, str) or host in WILDCARD_HOSTS else host
    return f"http://{host}:{api.get('port', DEFAULT_API_PORT)}"


def default_model(loaded: LoadedInstall) -> str | None:
    where = loaded.layout.default_model
    value = loaded.data(where.role).get(where.key) if where else None
    if isinstance(value, list):
        return str(value[0]) if value else None
    return str(value) if value else None


def endpoints(loaded: LoadedInstall, entry_name: str | None = None) -> Endpoints:
    entry = entry_named(loaded, entry_name)
    return Endpoints(
        ollama_root=server_root(entry.url) if entry and entry.url else None,
        ollama_url=entry.url if entry else None,
        ollama_entry=entry.name if entry else None,
        model=entry.chat_model if entry else None,
        chatchat_api=_api_server(loaded),
        chatchat_model=default_model(loaded),
    )


def timeout_setting(loaded: LoadedInstall) -> tuple[float | None, str]:
    """The API timeout setting as Chatchat sees it (the environment wins) and where it came from;
    ``(None, why)`` in a version that has none."""
    where = loaded.layout.timeout
    if where is None:
        return None, loaded.layout.timeout_missing or "-"
    return effective_number(loaded, where.role, where.key)


def max_tokens(loaded: LoadedInstall, default: int = 1024) -> int:
    where = loaded.layout.max_tokens
    value = loaded.data(where.role).get(where.key) if where else None
    ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
    return value if ok else default  # type: ignore[return-value]
