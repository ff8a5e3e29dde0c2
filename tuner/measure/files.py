"""Bench results on disk: JSON (settings, summary and every sample) and CSV (every sample)."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path
from typing import Any

from tuner.errors import UserError
from tuner.measure.reasons import failure_reasons
from tuner.measure.runner import RunResult, Sample
from tuner.measure.stats import PhaseSummary, Summary, summarize

FORMAT = "chatchat-tune-bench"
SAMPLE_FIELDS = [f.name for f in dataclasses.fields(Sample)]


def to_json(result: RunResult) -> str:
    summary = dataclasses.asdict(summarize(result))
    # Why requests failed, in the server's words: [{"kind", "reason", "count"}], most frequent first.
    summary["reasons"] = [dataclasses.asdict(r) for r in failure_reasons(result.samples)]
    workload = dataclasses.asdict(result.workload)
    times = workload["arrival"].pop("times", ())  # a replayed traffic file: its count, not every time
    if times:
        workload["arrival"]["arrivals"] = len(times)
    data = {
        FORMAT: 1,
        "url": result.url,
        "workload": workload,
        "client": dataclasses.asdict(result.client),
        "summary": summary,
        "interrupted": result.interrupted,
        "samples": [dataclasses.asdict(s) for s in result.samples],
    }
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"


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
    if not isinstance(data, dict) or data.get(FORMAT) != 1:
        raise UserError(f'not a chatchat-tune bench file (no "{FORMAT}": 1)', path)
    try:
        return data, _summary(data.get("summary"))
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


_PHASE_FIELDS = [f.name for f in dataclasses.fields(PhaseSummary)]
_SUMMARY_FIELDS = [f.name for f in dataclasses.fields(Summary)]


def _phase(where: str, value: object) -> PhaseSummary:
    p = _fields(where, value, _PHASE_FIELDS)
    if not isinstance(p["phase"], str):
        raise _Malformed(f"{where}.phase is not a string")
    n = _number(f"{where}.n", p["n"], whole=True)
    q = {k: _number(f"{where}.{k}", p[k]) for k in ("p50", "p90", "p95", "p99", "max")}
    return PhaseSummary(phase=p["phase"], n=n, **q)


def _summary(value: object) -> Summary:
    s = _fields("summary", value, _SUMMARY_FIELDS)
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
        phases=tuple(_phase(f"summary.phases[{i}]", p) for i, p in enumerate(phases)),
        tokens=_number("summary.tokens", s["tokens"], whole=True, optional=True),
        wall=_number("summary.wall", s["wall"]),
        cpu=_number("summary.cpu", s["cpu"]),
        throughput=_number("summary.throughput", s["throughput"]),
    )
