"""JSON the tool prints or saves for people and programs: strict JSON, whatever the values.

Dataclasses become objects, paths strings, and a float that is not finite (an unbounded rate, an unknown
ratio) becomes ``null``: ``NaN`` and ``Infinity`` are not JSON, and strict parsers (``JSON.parse``, ``jq``)
reject them.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def ms(seconds: float | None) -> float | None:
    """Seconds → milliseconds (3 decimals) for a ``*_ms`` key; ``None`` for no value or one not finite."""
    return round(seconds * 1000, 3) if seconds is not None and math.isfinite(seconds) else None


def finite(seconds: float | None) -> float | None:
    """``seconds`` for a ``*_s`` key; ``None`` for no value or one not finite."""
    return seconds if seconds is not None and math.isfinite(seconds) else None


def plain(obj: Any) -> Any:
    """``obj`` as JSON-ready values (see the module docstring)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [plain(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if obj is None or isinstance(obj, str | int | float | bool):
        return obj
    return str(obj)


def dumps(obj: Any) -> str:
    """Strict JSON text (2-space indent, UTF-8 characters kept), ending with a newline."""
    return json.dumps(plain(obj), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
