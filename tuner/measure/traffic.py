"""Arrival times from a file: a user's real traffic, e.g. exported from a gateway's access log.

Two shapes, both UTF-8 (a BOM is fine):

- one time per non-empty line;
- CSV (comma, semicolon or tab) with a header row naming a time column (``time``, ``timestamp``, ``ts``,
  ``@timestamp``, ``datetime``, ``date``, ``arrival``, ``start_time``, ``request_time`` — any case).

A time is seconds (relative, or Unix epoch), ISO 8601 (``2026-11-29T12:00:00.250Z``) or a common-log
timestamp (``29/Nov/2026:12:00:00 +0000``, with or without brackets). Times are sorted and shifted to start
at 0. A bad line is refused with one line naming the file and the line; lines starting with ``#`` are
comments.
"""

from __future__ import annotations

import csv
import io
import math
from datetime import datetime
from pathlib import Path

from tuner.errors import UserError
from tuner.i18n import _

MAX_TRAFFIC_BYTES = 64 * 1024 * 1024
MAX_ARRIVALS = 100_000
TIME_COLUMNS = (
    "time",
    "timestamp",
    "ts",
    "@timestamp",
    "datetime",
    "date",
    "arrival",
    "start_time",
    "request_time",
)


def parse_time(text: str) -> float:
    """Seconds for one time value; ValueError when it is none of the accepted forms."""
    value = text.strip().strip("[]\"'").strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds):
            raise ValueError(value)
        return seconds
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        pass
    return datetime.strptime(value, "%d/%b/%Y:%H:%M:%S %z").timestamp()


def _column(header: list[str], path: Path) -> int:
    names = [h.strip().strip('"').lower() for h in header]
    for wanted in TIME_COLUMNS:
        if wanted in names:
            return names.index(wanted)
    raise UserError(
        _("line 1: no time column (expected one of: {names})").format(names=", ".join(TIME_COLUMNS)), path
    )


def parse_traffic(text: str, path: Path) -> tuple[float, ...]:
    """Arrival times in seconds from the first, sorted (see the module docstring)."""
    lines = [(n, line) for n, line in enumerate(text.removeprefix("\ufeff").splitlines(), 1) if line.strip()]
    lines = [(n, line) for n, line in lines if not line.lstrip().startswith("#")]
    if not lines:
        raise UserError(_("no arrival times in the file"), path)
    first = lines[0][1]
    delimiter = next((d for d in (",", ";", "\t") if d in first), None)
    values: list[tuple[int, str]]
    if delimiter is None:
        values = lines
    else:
        rows = list(csv.reader(io.StringIO("\n".join(line for _n, line in lines)), delimiter=delimiter))
        col = _column(rows[0], path)
        values = []
        for (n, _line), row in zip(lines[1:], rows[1:], strict=True):
            if col >= len(row) or not row[col].strip():
                raise UserError(_("line {line}: no value in the time column").format(line=n), path)
            values.append((n, row[col]))
    if len(values) > MAX_ARRIVALS:
        raise UserError(_("more than {n} arrivals; cut the file").format(n=MAX_ARRIVALS), path)
    times: list[float] = []
    for n, raw in values:
        try:
            times.append(parse_time(raw))
        except (ValueError, OverflowError, OSError):
            shown = raw.strip()[:40]
            raise UserError(
                _(
                    "line {line}: cannot read {value!r} as a time (seconds, ISO 8601 or a log timestamp)"
                ).format(line=n, value=shown),
                path,
            ) from None
    if not times:
        raise UserError(_("no arrival times in the file"), path)
    times.sort()
    return tuple(t - times[0] for t in times)


def load_traffic(path: Path) -> tuple[float, ...]:
    """Read and parse ``path``; a missing, unreadable, oversized or non-UTF-8 file is one UserError."""
    try:
        size = path.stat().st_size
        if size > MAX_TRAFFIC_BYTES:
            raise UserError(_("the traffic file is larger than 64 MiB"), path)
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise UserError(_("no such traffic file"), path) from None
    except IsADirectoryError:
        raise UserError(_("the traffic file is a folder"), path) from None
    except UnicodeDecodeError:
        raise UserError(_("the traffic file is not UTF-8"), path) from None
    except OSError as err:
        raise UserError(
            _("cannot read the traffic file: {reason}").format(reason=err.strerror), path
        ) from None
    return parse_traffic(text, path)
