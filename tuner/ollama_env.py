"""Ollama's own environment variables, read the way Ollama reads them.

Read in ollama/ollama ``envconfig/config.go`` (``Host``, ``Var``, ``Uint``, ``KeepAlive``; main branch,
2025): a value is trimmed of spaces and then of quotes; ``OLLAMA_HOST`` is ``[scheme://]host[:port][/path]``
where no scheme means ``http`` with port 11434, ``http://`` without a port means 80 and ``https://`` 443;
a bare ``:11434`` keeps the host empty (every interface), a bad port falls back to the default; the
numbers (``OLLAMA_NUM_PARALLEL``, ``OLLAMA_MAX_LOADED_MODELS``, ``OLLAMA_MAX_QUEUE``) are unsigned integers
where 0 means "choose for me", and a value that is not one is ignored with a warning.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_PORT = 11434


def env_value(environ: Mapping[str, str], key: str) -> str:
    """``key``'s value as Ollama sees it: spaces, then quotes, trimmed ('' when unset)."""
    return environ.get(key, "").strip().strip("\"'")


@dataclass(frozen=True, kw_only=True)
class OllamaHost:
    scheme: str
    host: str  # '' or an unspecified address: every interface
    port: int

    @property
    def unspecified(self) -> bool:
        """Listening on every interface (``0.0.0.0``, ``::`` or no host): a client connects to loopback."""
        if not self.host:
            return True
        try:
            return ipaddress.ip_address(self.host).is_unspecified
        except ValueError:
            return False

    @property
    def client_url(self) -> str:
        """The server root a client on this machine uses, e.g. ``http://127.0.0.1:11434``."""
        host = "127.0.0.1" if self.unspecified else self.host
        shown = f"[{host}]" if ":" in host else host
        return f"{self.scheme}://{shown}:{self.port}"


def parse_host(value: str) -> OllamaHost:
    """``OLLAMA_HOST`` as Ollama parses it (see the module docstring)."""
    text = value.strip().strip("\"'")
    scheme, sep, rest = text.partition("://")
    default = DEFAULT_PORT
    if not sep:
        scheme, rest = "http", text
    elif scheme == "http":
        default = 80
    elif scheme == "https":
        default = 443
    hostport = rest.split("/", 1)[0]
    host, port_text = _split_host_port(hostport)
    if port_text is None:
        host = hostport.strip("[]") if hostport else "127.0.0.1"
        return OllamaHost(scheme=scheme, host=host, port=default)
    port = int(port_text) if port_text.isdigit() and int(port_text) <= 65535 else default
    return OllamaHost(scheme=scheme, host=host, port=port)


def _split_host_port(hostport: str) -> tuple[str, str | None]:
    """``host:port`` / ``[v6]:port`` / ``:port`` → (host, port); (hostport, None) when there is no port."""
    if hostport.startswith("["):
        end = hostport.find("]")
        if end > 0 and hostport[end + 1 : end + 2] == ":":
            return hostport[1:end], hostport[end + 2 :]
        return hostport, None
    if hostport.count(":") == 1:
        host, port = hostport.split(":")
        return host, port
    return hostport, None


def ollama_host(environ: Mapping[str, str]) -> OllamaHost:
    """``$OLLAMA_HOST``, else Ollama's default ``127.0.0.1:11434``."""
    return parse_host(env_value(environ, "OLLAMA_HOST"))


def env_count(environ: Mapping[str, str], key: str) -> int | None:
    """An unsigned count from ``key`` (``None``: unset, 0, or not a number — Ollama then picks)."""
    text = env_value(environ, key)
    if not text.isdigit() or int(text) == 0:
        return None
    return int(text)
