"""Value types of the place knobs: Ollama's listen address and its load timeout, as Ollama reads them.

Facts: ollama/ollama envconfig/config.go — ``Host()`` takes ``[scheme://]host[:port]`` (default
127.0.0.1:11434); ``LoadTimeout()`` takes a Go duration or whole seconds (0 or less: no limit).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from tuner.i18n import _
from tuner.knobs.values import BadValue, ValueType, _check_host, parse_go_duration_ns, short


def _not_host(value: object) -> str:
    return _("{value} is not host[:port] (e.g. 0.0.0.0:11434)").format(value=short(value))


def _not_timeout(value: object) -> str:
    return _("{value} is not a load timeout (e.g. 10m, 600, 0 = none)").format(value=short(value))


def _ollama_host(text: str) -> object:
    return _check_ollama_host(text.strip())


def _check_ollama_host(value: object) -> object:
    """``0.0.0.0``, ``0.0.0.0:11434``, ``[::]:11434`` or ``http://host:port``, kept as written."""
    if not isinstance(value, str) or not value or len(value) > 300:
        raise BadValue(_("{value} is not an address for OLLAMA_HOST").format(value=short(value)))
    try:
        parts = urlsplit(value if "://" in value else f"http://{value}")
        host, port = parts.hostname, parts.port
    except ValueError:
        raise BadValue(
            _("{value} is not host[:port] (e.g. 0.0.0.0:11434)").format(value=short(value))
        ) from None
    if parts.scheme not in ("http", "https") or not host or parts.path not in ("", "/"):
        raise BadValue(_not_host(value))
    _check_host(host)
    if port is not None and not 0 < port < 65536:
        raise BadValue(_("{value}: the port is out of range").format(value=short(value)))
    return value


def _load_timeout(text: str) -> object:
    return _check_load_timeout(text.strip())


def _check_load_timeout(value: object) -> object:
    text = str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else None
    if not text:
        raise BadValue(
            _("{value} is not a load timeout (e.g. 10m, 600, 0 = none)").format(value=short(value))
        )
    if text.lstrip("-").isdigit():
        return text
    try:
        parse_go_duration_ns(text)
    except BadValue:
        raise BadValue(
            _("{value} is not a load timeout (e.g. 10m, 600, 0 = none)").format(value=short(value))
        ) from None
    return text


OLLAMA_HOST = ValueType(_("host[:port] to listen on (e.g. 0.0.0.0:11434)"), _ollama_host, _check_ollama_host)
LOAD_TIMEOUT = ValueType(_("duration (10m, 600 = seconds, 0 = none)"), _load_timeout, _check_load_timeout)
