"""Value types of the knobs: parse what a user types, check it, and say what is wrong in one line."""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from tuner.durations import GO_MAX_NS, DurationError, go_duration_seconds
from tuner.i18n import _
from tuner.limits import MAX_INT_VALUE, MAX_SECONDS, MAX_VALUE_CHARS

# What a URL may hold unescaped (RFC 3986: unreserved, reserved and "%"). Everything else (control
# characters, spaces, quotes, backslashes, <>^`{|}, non-ASCII) could only come from a typo or an attempt to
# slip YAML or Python into the settings file.
_URL_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*")
_HOST_NAME = re.compile(
    r"(?=.{1,253}\.?$)[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?"
)


class BadValue(ValueError):
    """A value that does not fit its knob; the message is shown to the user as is."""


@dataclass(frozen=True)
class ValueType:
    name: str  # shown in help: "seconds > 0", "integer >= 1", ...
    parse: Callable[[str], object]  # text typed by the user -> value to write
    check: Callable[[object], object]  # a value from a plan file -> the same value, validated


def short(value: object) -> str:
    """``repr(value)`` for a message: one line (repr escapes control characters), at most ~60 chars."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:45]}... ({len(text)} characters)"


def _text(text: str, what: str) -> str:
    """Text typed by the user, refused when too long or holding control characters."""
    if len(text) > MAX_VALUE_CHARS:
        raise BadValue(
            _("{value} is too long for {what} (at most {max_chars} characters)").format(
                value=short(text), what=what, max_chars=MAX_VALUE_CHARS
            )
        )
    bad = next((c for c in text if not c.isprintable() and c != " "), None)
    if bad is not None:
        raise BadValue(
            _("{value} holds the control character {bad!r}; refused").format(value=short(text), bad=bad)
        )
    return text


def _number(text: str) -> float:
    text = _text(text, _("a number"))
    if not re.fullmatch(r"\s*[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?\s*", text):
        if text.strip().lower().lstrip("+-") in ("nan", "inf", "infinity"):
            return float(text)
        raise ValueError(text)
    return float(text)


def _integer(text: str) -> int:
    text = _text(text, _("an integer"))
    if not re.fullmatch(r"\s*[-+]?[0-9]+\s*", text) or len(text.strip().lstrip("+-")) > 20:
        raise ValueError(text)
    return int(text)


def _seconds(text: str) -> object:
    try:
        value = _number(text)
    except BadValue:
        raise
    except ValueError:
        raise BadValue(_("{value} is not a number of seconds").format(value=short(text))) from None
    return _check_seconds(value)


def _check_seconds(value: object) -> object:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadValue(_("{value} is not a number of seconds").format(value=short(value)))
    try:
        seconds = float(value)
    except OverflowError:
        seconds = math.inf
    if not math.isfinite(seconds) or seconds <= 0:
        raise BadValue(_("{value}: seconds must be a finite number > 0").format(value=short(value)))
    if seconds > MAX_SECONDS:
        raise BadValue(
            _("{value}: at most {max_seconds:,} seconds").format(value=short(value), max_seconds=MAX_SECONDS)
        )
    return seconds


def _positive_int(text: str) -> object:
    try:
        value = _integer(text)
    except BadValue:
        raise
    except ValueError:
        raise BadValue(_("{value} is not an integer").format(value=short(text))) from None
    return _check_positive_int(value)


def _check_int(value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise BadValue(_("{value}: must be an integer >= {low}").format(value=short(value), low=low))
    if value > MAX_INT_VALUE:
        raise BadValue(_("{value}: at most {max_int:,}").format(value=short(value), max_int=MAX_INT_VALUE))
    return value


def _check_positive_int(value: object) -> object:
    return _check_int(value, 1)


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _bool(text: str) -> object:
    low = _text(text, _("a boolean")).strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise BadValue(_("{value} is not a boolean (true/false)").format(value=short(text)))


def _check_bool(value: object) -> object:
    if not isinstance(value, bool):
        raise BadValue(_("{value} is not a boolean (true/false)").format(value=short(value)))
    return value


def _valid_url(value: object, schemes: tuple[str, ...], what: str) -> str:
    """A URL with one of ``schemes`` and a host, written with URL characters only. ``what`` names it."""
    if not isinstance(value, str):
        raise BadValue(_("{value} is not {what}").format(value=short(value), what=what))
    if len(value) > MAX_VALUE_CHARS:
        raise BadValue(
            _("{value} is too long for a URL (at most {max_chars} characters)").format(
                value=short(value), max_chars=MAX_VALUE_CHARS
            )
        )
    bad = next((c for c in value if not _URL_CHARS.fullmatch(c)), None)
    if bad is not None:
        raise BadValue(
            _("{value} holds {bad!r}, which a URL cannot hold unescaped (percent-encode it)").format(
                value=short(value), bad=bad
            )
        )
    try:
        parts = urlsplit(value)
        host, port = parts.hostname, parts.port
    except ValueError as exc:  # "Invalid IPv6 URL", "Port out of range 0-65535", ...
        raise BadValue(
            _("{value} is not a valid URL ({error})").format(value=short(value), error=exc)
        ) from None
    if parts.scheme not in schemes or not host:
        raise BadValue(_("{value} is not {what}").format(value=short(value), what=what))
    if port == 0:
        raise BadValue(_("{value} has an invalid port (0)").format(value=short(value)))
    if parts.netloc.rpartition("@")[2].startswith("["):
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise BadValue(
                _("{value} has an invalid IPv6 address ({host})").format(value=short(value), host=host)
            ) from None
    elif not _HOST_NAME.fullmatch(host):
        raise BadValue(_("{value} has an invalid host name ({host})").format(value=short(value), host=host))
    return value


def _url(text: str) -> object:
    return _check_url(text.strip())


def _check_url(value: object) -> object:
    return _valid_url(value, ("http", "https"), _("an http(s) URL with a host"))


def _proxy(text: str) -> object:
    return _check_proxy(text.strip())


def _check_proxy(value: object) -> object:
    if value == "" or value is None:
        return ""
    return _valid_url(
        value,
        ("http", "https", "socks5", "socks5h"),
        _("a proxy URL (http://, https://, socks5://) or empty"),
    )


def parse_go_duration_ns(text: str) -> int:
    """Go's time.ParseDuration, to nanoseconds. Raises BadValue on anything Go would refuse."""
    s = text.strip()
    if len(s) > MAX_VALUE_CHARS:
        raise BadValue(_("{value} is not a duration (e.g. 30s, 5m, 1h30m, -1)").format(value=short(text)))
    try:
        seconds = go_duration_seconds(s)
    except DurationError:
        raise BadValue(
            _("{value!r} is not a duration (e.g. 30s, 5m, 1h30m, -1)").format(value=text)
        ) from None
    if not math.isfinite(seconds) or abs(seconds) * 1e9 > GO_MAX_NS:
        raise BadValue(_("{value!r} is out of range for a duration").format(value=text))
    return int(seconds * 1e9)


def duration_seconds(text: str, what: str) -> float:
    """A duration typed on the command line: plain seconds ("90", "2.5") or a Go duration ("10m")."""
    s = text.strip()
    try:
        value = float(s)
    except ValueError:
        try:
            return parse_go_duration_ns(s) / 1e9
        except BadValue:
            raise BadValue(
                _("{what}: {value!r} is not a duration (e.g. 90, 90s, 10m, 1h30m)").format(
                    what=what, value=text
                )
            ) from None
    if not math.isfinite(value):
        raise BadValue(
            _("{what}: {value!r} is not a finite duration (e.g. 90, 90s, 10m, 1h30m)").format(
                what=what, value=text
            )
        )
    return value


def keep_alive_seconds(value: object) -> float:
    """keep_alive to seconds (negative means forever): a number, a Go duration, or (as the service's
    OLLAMA_KEEP_ALIVE takes it) a plain integer string. A request body's "300" string is a 400 in Ollama."""
    if isinstance(value, bool):
        raise BadValue(_("{value!r} is not a keep_alive").format(value=value))
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        if re.fullmatch(r"\s*[-+]?\d+\s*", value):  # plain seconds, as OLLAMA_KEEP_ALIVE takes them
            return float(value)
        return parse_go_duration_ns(value) / 1e9
    raise BadValue(_("{value!r} is not a keep_alive").format(value=value))


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
    s = _text(text, _("a keep_alive")).strip()
    if re.fullmatch(r"[-+]?[0-9]+", s):
        if len(s.lstrip("+-")) > 12 or abs(int(s)) * 10**9 > GO_MAX_NS:
            raise BadValue(_("{value} is out of range for a duration").format(value=short(text)))
        return str(int(s))  # plain seconds; OLLAMA_KEEP_ALIVE takes them ("-1": forever, "0": unload)
    parse_go_duration_ns(s)
    return s


def _check_keep_alive(value: object) -> object:
    if isinstance(value, int) and not isinstance(value, bool):
        if abs(value) > MAX_INT_VALUE:
            raise BadValue(_("{value} is out of range for a duration").format(value=short(value)))
        return _keep_alive(str(value))
    if isinstance(value, str):
        return _keep_alive(value)
    raise BadValue(_("{value} is not a keep_alive duration").format(value=short(value)))


def _host(text: str) -> object:
    return _check_host(text.strip())


def _check_host(value: object) -> object:
    """An IP address (v4, or v6 without brackets) or a host name."""
    if not isinstance(value, str) or not value or len(value) > 253:
        raise BadValue(_("{value} is not a host name or address").format(value=short(value)))
    try:
        ipaddress.ip_address(value)
        return value
    except ValueError:
        pass
    if not _HOST_NAME.fullmatch(value):
        raise BadValue(_("{value} is not a host name or address").format(value=short(value)))
    return value


def _non_negative_int(text: str) -> object:
    try:
        value = _integer(text)
    except BadValue:
        raise
    except ValueError:
        raise BadValue(_("{value} is not an integer").format(value=short(text))) from None
    return _check_non_negative_int(value)


def _check_non_negative_int(value: object) -> object:
    return _check_int(value, 0)


SECONDS = ValueType(_("seconds > 0"), _seconds, _check_seconds)
POSITIVE_INT = ValueType(_("integer >= 1"), _positive_int, _check_positive_int)
NON_NEGATIVE_INT = ValueType(_("integer >= 0"), _non_negative_int, _check_non_negative_int)
BOOL = ValueType(_("true/false"), _bool, _check_bool)
URL = ValueType(_("http(s) URL"), _url, _check_url)
PROXY = ValueType(_("proxy URL or empty"), _proxy, _check_proxy)
KEEP_ALIVE = ValueType(_("duration (30m, 1h, -1 = forever, 0 = unload)"), _keep_alive, _check_keep_alive)
HOST = ValueType(_("host name or address"), _host, _check_host)
