"""keep_alive values as Ollama parses them (api.Duration.UnmarshalJSON and envconfig.KeepAlive).

Pure functions: a JSON number is seconds (negative means forever), a string is a Go duration (``"5m"``,
``"1h30m"``, ``"-1m"``); a unit-less string other than ``"0"`` is an error, as Go's ``time.ParseDuration``
rejects it. The server-wide default (``OLLAMA_KEEP_ALIVE``) also accepts plain integer seconds.
"""

from __future__ import annotations

import math
import re

FOREVER = math.inf

_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,  # U+00B5 micro sign
    "μs": 1e-6,  # U+03BC greek mu
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_PART = re.compile(r"(\d*)(?:\.(\d*))?([^\d.]*)")


class KeepAliveError(ValueError):
    """The message is the one Ollama answers with (in a 400 ``{"error": ...}`` body)."""


def parse_go_duration(text: str) -> float:
    """Seconds for a Go duration string, raising KeepAliveError with Go's own message when invalid."""
    quoted = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    rest = text
    sign = 1.0
    if rest[:1] in ("-", "+"):
        sign = -1.0 if rest[0] == "-" else 1.0
        rest = rest[1:]
    if rest == "0":
        return 0.0
    if rest == "":
        raise KeepAliveError(f"time: invalid duration {quoted}")
    total = 0.0
    while rest:
        match = _PART.match(rest)
        if match is None or (match.group(1) == "" and not match.group(2)):
            raise KeepAliveError(f"time: invalid duration {quoted}")
        whole, frac, unit = match.group(1), match.group(2) or "", match.group(3)
        if unit == "":
            raise KeepAliveError(f"time: missing unit in duration {quoted}")
        if unit not in _UNITS:
            # Go takes the unit up to the next digit or dot; we do the same via the regex.
            raise KeepAliveError(f'time: unknown unit "{unit}" in duration {quoted}')
        value = float(f"{whole or '0'}.{frac or '0'}")
        total += value * _UNITS[unit]
        rest = rest[match.end() :]
    return sign * total


def parse_keep_alive(value: object) -> float:
    """Seconds for a request's ``keep_alive`` JSON value; ``math.inf`` for forever (any negative)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise KeepAliveError(f"Unsupported type: '{_go_type(value)}'")
    seconds = parse_go_duration(value) if isinstance(value, str) else float(value)
    return FOREVER if seconds < 0 else seconds


def parse_server_keep_alive(value: str | float | int) -> float:
    """The server default as ``OLLAMA_KEEP_ALIVE`` reads it: Go duration, else integer seconds, else 5m."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        text = str(value).strip()
        try:
            seconds = parse_go_duration(text)
        except KeepAliveError:
            try:
                seconds = float(int(text))
            except ValueError:
                seconds = 300.0
    return FOREVER if seconds < 0 else seconds


def _go_type(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, list):
        return "[]interface {}"
    if isinstance(value, dict):
        return "map[string]interface {}"
    return "%!s(<nil>)" if value is None else type(value).__name__
