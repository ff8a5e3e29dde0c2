"""keep_alive values as Ollama parses them (api.Duration.UnmarshalJSON and envconfig.KeepAlive).

Pure functions: a JSON number is seconds (negative means forever), a string is a Go duration (``"5m"``,
``"1h30m"``, ``"-1m"``); a unit-less string other than ``"0"`` is an error, as Go's ``time.ParseDuration``
rejects it. The server-wide default (``OLLAMA_KEEP_ALIVE``) also accepts plain integer seconds.
"""

from __future__ import annotations

import math

from tuner.durations import DurationError, go_duration_seconds

FOREVER = math.inf


class KeepAliveError(ValueError):
    """The message is the one Ollama answers with (in a 400 ``{"error": ...}`` body)."""


def parse_go_duration(text: str) -> float:
    """Seconds for a Go duration string, raising KeepAliveError with Go's own message when invalid."""
    try:
        return go_duration_seconds(text)
    except DurationError as err:
        raise KeepAliveError(str(err)) from None


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
