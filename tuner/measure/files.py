"""Bench results on disk and on stdout: JSON (settings, summary and every sample) and CSV (every sample).

The JSON is ``tuner.measure.benchjson.BenchJson`` (``bench --json`` and ``--json-out``): durations in
milliseconds (``*_ms``), settings in seconds (``*_s``). :func:`load_summary` also reads the files written
before it had a ``schema_version`` (``{"chatchat-tune-bench": 1}``, seconds without units).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path
from typing import Any

from tuner.errors import UserError
from tuner.measure.benchjson import FORMAT, bench_json
from tuner.measure.runner import RunResult, Sample
from tuner.measure.stats import PhaseSummary, Summary

SAMPLE_FIELDS = [f.name for f in dataclasses.fields(Sample)]


def to_json(result: RunResult) -> str:
    """:class:`tuner.measure.benchjson.BenchJson` as strict JSON text."""
    from tuner.jsonout import dumps

    return dumps(bench_json(result))


def to_csv(result: RunResult) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=SAMPLE_FIELDS, lineterminator="\n")
    writer.writeheader()
    for s in result.samples:
        writer.writerow(dataclasses.asdict(s))
    return buf.getvalue()


def load_summary(path: Path) -> tuple[dict[str, Any], Summary]:
    """A saved run's header and summary, for ``bench --compare``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError("no such bench file", path) from None
    except (ValueError, OSError) as exc:
        raise UserError(f"not a readable bench JSON file ({exc})", path) from None
    legacy = isinstance(data, dict) and data.get(FORMAT) == 1  # before schema_version: seconds, no units
    if not legacy and not (isinstance(data, dict) and data.get("format") == FORMAT):
        raise UserError(f'not a chatchat-tune bench file (no "format": "{FORMAT}")', path)
    try:
        return data, _summary(data.get("summary"), legacy=legacy)
    except _Malformed as exc:
        raise UserError(f"malformed bench file: {exc}", path) from None


class _Malformed(ValueError):
    pass


def _number(where: str, value: object, *, whole: bool = False, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    kinds: tuple[type, ...] = (int,) if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise _Malformed(f"{where} is not {'an integer' if whole else 'a number'}")
    return value


def _fields(where: str, value: object, names: list[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Malformed(f"{where} is not an object")
    missing = [n for n in names if n not in value]
    if missing:
        raise _Malformed(f"{where} has no {missing[0]!r}")
    return value


_QUANTILES = ("p50", "p90", "p95", "p99", "max")


def _phase(where: str, value: object, *, legacy: bool) -> PhaseSummary:
    keys = _QUANTILES if legacy else tuple(f"{q}_ms" for q in _QUANTILES)
    p = _fields(where, value, ["phase", "n", *keys])
    if not isinstance(p["phase"], str):
        raise _Malformed(f"{where}.phase is not a string")
    n = _number(f"{where}.n", p["n"], whole=True)
    scale = 1.0 if legacy else 0.001
    q = {q: _number(f"{where}.{k}", p[k]) * scale for q, k in zip(_QUANTILES, keys, strict=True)}
    return PhaseSummary(phase=p["phase"], n=n, **q)


def _summary(value: object, *, legacy: bool) -> Summary:
    names = ["wall", "cpu", "throughput"] if legacy else ["wall_s", "cpu_s", "throughput_per_s"]
    s = _fields("summary", value, ["requests", "ok", "errors", "new_connections", "phases", "tokens", *names])
    errors = s["errors"]
    if not isinstance(errors, dict) or not all(
        isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) for k, v in errors.items()
    ):
        raise _Malformed("summary.errors is not an object of counts")
    phases = s["phases"]
    if not isinstance(phases, list):
        raise _Malformed("summary.phases is not a list")
    return Summary(
        requests=_number("summary.requests", s["requests"], whole=True),
        ok=_number("summary.ok", s["ok"], whole=True),
        errors=dict(errors),
        new_connections=_number("summary.new_connections", s["new_connections"], whole=True),
        phases=tuple(_phase(f"summary.phases[{i}]", p, legacy=legacy) for i, p in enumerate(phases)),
        tokens=_number("summary.tokens", s["tokens"], whole=True, optional=True),
        wall=_number(f"summary.{names[0]}", s[names[0]], optional=True) or 0.0,
        cpu=_number(f"summary.{names[1]}", s[names[1]], optional=True) or 0.0,
        throughput=_number(f"summary.{names[2]}", s[names[2]], optional=True) or 0.0,
    )
