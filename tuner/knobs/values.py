"""Value types of the knobs: parse what a user types, check it, and say what is wrong in one line."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

_GO_DURATION = re.compile(r"^[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+$")
_GO_UNIT_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3600 * 10**9,
}
_GO_MAX_NS = 2**63 - 1  # Go's time.Duration is an int64 of nanoseconds
_GO_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


class BadValue(ValueError):
    """A value that does not fit its knob; the message is shown to the user as is."""


@dataclass(frozen=True)
class ValueType:
    name: str  # shown in help: "seconds > 0", "integer >= 1", ...
    parse: Callable[[str], object]  # text typed by the user -> value to write
    check: Callable[[object], object]  # a value from a plan file -> the same value, validated


def _seconds(text: str) -> object:
    try:
        value = float(text)
    except ValueError:
        raise BadValue(f"{text!r} is not a number of seconds") from None
    return _check_seconds(value)


def _check_seconds(value: object) -> object:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadValue(f"{value!r} is not a number of seconds")
    if not math.isfinite(value) or value <= 0:
        raise BadValue(f"{value!r}: seconds must be a finite number > 0")
    return float(value)


def _positive_int(text: str) -> object:
    try:
        value = int(text)
    except ValueError:
        raise BadValue(f"{text!r} is not an integer") from None
    return _check_positive_int(value)


def _check_positive_int(value: object) -> object:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BadValue(f"{value!r}: must be an integer >= 1")
    return value


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _bool(text: str) -> object:
    low = text.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise BadValue(f"{text!r} is not a boolean (true/false)")


def _check_bool(value: object) -> object:
    if not isinstance(value, bool):
        raise BadValue(f"{value!r} is not a boolean (true/false)")
    return value


def _url(text: str) -> object:
    return _check_url(text.strip())


def _check_url(value: object) -> object:
    if not isinstance(value, str):
        raise BadValue(f"{value!r} is not a URL")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadValue(f"{value!r} is not an http(s) URL with a host")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise BadValue(f"{value!r} has an invalid port") from None
    return value


def _proxy(text: str) -> object:
    return _check_proxy(text.strip())


def _check_proxy(value: object) -> object:
    if value == "" or value is None:
        return ""
    if not isinstance(value, str):
        raise BadValue(f"{value!r} is not a proxy URL")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https", "socks5", "socks5h") or not parts.hostname:
        raise BadValue(f"{value!r} is not a proxy URL (http://, https://, socks5://) or empty")
    return value


def parse_go_duration_ns(text: str) -> int:
    """Go's time.ParseDuration, to nanoseconds. Raises BadValue on anything Go would refuse."""
    s = text.strip()
    if s in ("0", "+0", "-0"):
        return 0
    if not _GO_DURATION.match(s):
        raise BadValue(f"{text!r} is not a duration (e.g. 30s, 5m, 1h30m, -1)")
    sign = -1 if s.startswith("-") else 1
    total = 0.0
    for number, unit in _GO_PART.findall(s.lstrip("+-")):
        total += float(number) * _GO_UNIT_NS[unit]
    if not math.isfinite(total) or total > _GO_MAX_NS:
        raise BadValue(f"{text!r} is out of range for a duration")
    return sign * int(total)


def duration_seconds(text: str, what: str) -> float:
    """A duration typed on the command line: plain seconds ("90", "2.5") or a Go duration ("10m")."""
    s = text.strip()
    try:
        value = float(s)
    except ValueError:
        try:
            return parse_go_duration_ns(s) / 1e9
        except BadValue:
            raise BadValue(f"{what}: {text!r} is not a duration (e.g. 90, 90s, 10m, 1h30m)") from None
    if not math.isfinite(value):
        raise BadValue(f"{what}: {text!r} is not a finite duration (e.g. 90, 90s, 10m, 1h30m)")
    return value


def keep_alive_seconds(value: object) -> float:
    """keep_alive to seconds (negative means forever): a number, a Go duration, or (as the service's
    OLLAMA_KEEP_ALIVE takes it) a plain integer string. A request body's "300" string is a 400 in Ollama."""
    if isinstance(value, bool):
        raise BadValue(f"{value!r} is not a keep_alive")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        if re.fullmatch(r"\s*[-+]?\d+\s*", value):  # plain seconds, as OLLAMA_KEEP_ALIVE takes them
            return float(value)
        return parse_go_duration_ns(value) / 1e9
    raise BadValue(f"{value!r} is not a keep_alive")


def keep_alive_body(value: str) -> int | str:
    """A KEEP_ALIVE-parsed value as a native request body's ``keep_alive`` needs it: plain seconds as a
    JSON number (Ollama answers 400 to the string "300"; -1 is forever, 0 unloads), a duration as is."""
    s = value.strip()
    if re.fullmatch(r"[-+]?\d+", s):
        return int(s)
    parse_go_duration_ns(s)
    return s


def _keep_alive(text: str) -> object:
    """As OLLAMA_KEEP_ALIVE accepts it: a Go duration, or a plain integer number of seconds."""
    s = text.strip()
    if re.fullmatch(r"[-+]?\d+", s):
        return str(int(s))  # plain seconds; OLLAMA_KEEP_ALIVE takes them ("-1": forever, "0": unload)
    parse_go_duration_ns(s)
    return s


def _check_keep_alive(value: object) -> object:
    if isinstance(value, int) and not isinstance(value, bool):
        return _keep_alive(str(value))
    if isinstance(value, str):
        return _keep_alive(value)
    raise BadValue(f"{value!r} is not a keep_alive duration")


def _host(text: str) -> object:
    return _check_host(text.strip())


def _check_host(value: object) -> object:
    if not isinstance(value, str) or not value or any(c.isspace() for c in value) or "/" in value:
        raise BadValue(f"{value!r} is not a host name or address")
    return value


def _non_negative_int(text: str) -> object:
    try:
        value = int(text)
    except ValueError:
        raise BadValue(f"{text!r} is not an integer") from None
    return _check_non_negative_int(value)


def _check_non_negative_int(value: object) -> object:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadValue(f"{value!r}: must be an integer >= 0")
    return value


SECONDS = ValueType("seconds > 0", _seconds, _check_seconds)
POSITIVE_INT = ValueType("integer >= 1", _positive_int, _check_positive_int)
NON_NEGATIVE_INT = ValueType("integer >= 0", _non_negative_int, _check_non_negative_int)
BOOL = ValueType("true/false", _bool, _check_bool)
URL = ValueType("http(s) URL", _url, _check_url)
PROXY = ValueType("proxy URL or empty", _proxy, _check_proxy)
KEEP_ALIVE = ValueType("duration (30m, 1h, -1 = forever, 0 = unload)", _keep_alive, _check_keep_alive)
HOST = ValueType("host name or address", _host, _check_host)
