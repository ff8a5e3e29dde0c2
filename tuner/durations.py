"""Durations as Ollama reads them (Go's ``time.ParseDuration``) and what "forever" looks like. Pure.

One parser for the tool (option and knob values), the lab (request bodies, with Go's own error text) and
the readers of Ollama's answers. Facts: ollama/ollama api/types.go (Duration), envconfig (KeepAlive),
server/sched.go (a negative keep_alive is forever: expires_at ~292 years ahead).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

GO_MAX_NS = 2**63 - 1  # Go's time.Duration is an int64 of nanoseconds
OLLAMA_FOREVER_SECONDS = 292 * 365.25 * 86400  # what Ollama reports for "forever" (MaxInt64 ns ahead)
FOREVER_AFTER_SECONDS = 10 * 365 * 86400.0  # an expires_at further ahead than this means "forever"

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


class DurationError(ValueError):
    """The message is Go's own (``time: invalid duration "x"``), as Ollama answers it in a 400."""


def go_duration_seconds(text: str) -> float:
    """Seconds for a Go duration string (``"5m"``, ``"1h30m"``, ``"-1m"``, ``"0"``)."""
    quoted = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    rest = text
    sign = 1.0
    if rest[:1] in ("-", "+"):
        sign = -1.0 if rest[0] == "-" else 1.0
        rest = rest[1:]
    if rest == "0":
        return 0.0
    if rest == "":
        raise DurationError(f"time: invalid duration {quoted}")
    total = 0.0
    while rest:
        match = _PART.match(rest)
        if match is None or (match.group(1) == "" and not match.group(2)):
            raise DurationError(f"time: invalid duration {quoted}")
        whole, frac, unit = match.group(1), match.group(2) or "", match.group(3)
        if unit == "":
            raise DurationError(f"time: missing unit in duration {quoted}")
        if unit not in _UNITS:  # Go takes the unit up to the next digit or dot, as the pattern does
            raise DurationError(f'time: unknown unit "{unit}" in duration {quoted}')
        total += float(f"{whole or '0'}.{frac or '0'}") * _UNITS[unit]
        rest = rest[match.end() :]
    return sign * total


def seconds_until(stamp: str, *, now: datetime | None = None) -> float | None:
    """Seconds from now to an RFC 3339 ``expires_at`` (Ollama writes nanoseconds); -1 for "forever";
    None when it is not a timestamp."""
    text = re.sub(r"(\.\d{6})\d+", r"\1", stamp.strip().replace("Z", "+00:00"))
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    left = (when - (now or datetime.now(timezone.utc))).total_seconds()
    return -1.0 if left > FOREVER_AFTER_SECONDS else left
