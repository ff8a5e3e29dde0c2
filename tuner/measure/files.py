"""Bench results on disk and on stdout: JSON (settings, summary and every sample) and CSV (every sample).

The JSON is :class:`BenchJson` (``bench --json`` and ``--json-out``; schema: docs/schemas/bench.schema.json):
durations in milliseconds (``*_ms``), settings in seconds (``*_s``). :func:`load_summary` also reads the
files written before it had a ``schema_version`` (``{"chatchat-tune-bench": 1}``, seconds without units).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tuner.errors import UserError
from tuner.measure.reasons import failure_reasons
from tuner.measure.runner import RunResult, Sample
from tuner.measure.stats import PhaseSummary, Summary, summarize

FORMAT: Literal["chatchat-tune-bench"] = "chatchat-tune-bench"
SCHEMA_VERSION = 1
SAMPLE_FIELDS = [f.name for f in dataclasses.fields(Sample)]


def _ms(seconds: float | None) -> float | None:
    return round(seconds * 1000, 3) if seconds is not None and math.isfinite(seconds) else None


def _s(seconds: float | None) -> float | None:
    return seconds if seconds is not None and math.isfinite(seconds) else None


@dataclass(frozen=True, kw_only=True)
class ArrivalJson:
    """How requests arrive: closed loop, a fixed rate, or idle gaps around a mean."""

    kind: str
    rate_per_s: float | None
    mean_gap_s: float | None
    distribution: str


@dataclass(frozen=True, kw_only=True)
class WorkloadJson:
    """What was sent."""

    path: str
    model: str
    prompts: tuple[str, ...]
    requests: int
    concurrency: int
    arrival: ArrivalJson
    stream: bool
    max_tokens: int | None
    seed: int
    warmup: int


@dataclass(frozen=True, kw_only=True)
class ClientJson:
    """The HTTP client's settings."""

    timeout_s: float | None
    max_connections: int
    max_keepalive: int
    keepalive_expiry_s: float | None
    reuse_client: bool
    trust_env: bool
    keep_alive: str | float | None


@dataclass(frozen=True, kw_only=True)
class PhaseJson:
    """Percentiles of one phase (name resolution, connect, first byte, first token, total)."""

    phase: str
    n: int
    p50_ms: float | None
    p90_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None


@dataclass(frozen=True, kw_only=True)
class ReasonJson:
    """Why requests failed, in the server's words, most frequent first."""

    kind: str
    reason: str
    count: int


@dataclass(frozen=True, kw_only=True)
class SummaryJson:
    """The run in figures."""

    requests: int
    ok: int
    errors: dict[str, int]
    new_connections: int
    phases: tuple[PhaseJson, ...]
    tokens: int | None
    wall_s: float | None
    cpu_s: float | None
    throughput_per_s: float | None
    reasons: tuple[ReasonJson, ...]


@dataclass(frozen=True, kw_only=True)
class SampleJson:
    """One request: when it was sent, its outcome and each phase's time."""

    index: int
    start_s: float | None
    ok: bool
    error: str | None
    status: int | None
    new_connection: bool
    connect_attempts: int
    dns_ms: float | None
    connect_ms: float | None
    ttfb_ms: float | None
    first_token_ms: float | None
    total_ms: float | None
    tokens: int | None
    prompt_tokens: int | None
    load_ms: float | None
    prompt_eval_ms: float | None
    eval_ms: float | None
    done_reason: str | None
    detail: str | None


@dataclass(frozen=True, kw_only=True)
class BenchJson:
    """`chatchat-tune bench --json` (and `--json-out`): settings, summary and every sample."""

    schema_version: int
    format: Literal["chatchat-tune-bench"]
    url: str
    workload: WorkloadJson
    client: ClientJson
    summary: SummaryJson
    interrupted: bool
    samples: tuple[SampleJson, ...]


def bench_json(result: RunResult) -> BenchJson:
    s, w, c = summarize(result), result.workload, result.client
    return BenchJson(
        schema_version=SCHEMA_VERSION,
        format=FORMAT,
        url=result.url,
        workload=WorkloadJson(
            path=w.path,
            model=w.model,
            prompts=tuple(w.prompts),
            requests=w.requests,
            concurrency=w.concurrency,
            arrival=ArrivalJson(
                kind=w.arrival.kind,
                rate_per_s=_s(w.arrival.rate),
                mean_gap_s=_s(w.arrival.mean_gap),
                distribution=w.arrival.distribution,
            ),
            stream=w.stream,
            max_tokens=w.max_tokens,
            seed=w.seed,
            warmup=w.warmup,
        ),
        client=ClientJson(
            timeout_s=_s(c.timeout),
            max_connections=c.max_connections,
            max_keepalive=c.max_keepalive,
            keepalive_expiry_s=_s(c.keepalive_expiry),
            reuse_client=c.reuse_client,
            trust_env=c.trust_env,
            keep_alive=c.keep_alive,
        ),
        summary=SummaryJson(
            requests=s.requests,
            ok=s.ok,
            errors=dict(s.errors),
            new_connections=s.new_connections,
            phases=tuple(
                PhaseJson(
                    phase=p.phase,
                    n=p.n,
                    p50_ms=_ms(p.p50),
                    p90_ms=_ms(p.p90),
                    p95_ms=_ms(p.p95),
                    p99_ms=_ms(p.p99),
                    max_ms=_ms(p.max),
                )
                for p in s.phases
            ),
            tokens=s.tokens,
            wall_s=_s(s.wall),
            cpu_s=_s(s.cpu),
            throughput_per_s=_s(s.throughput),
            reasons=tuple(
                ReasonJson(kind=r.kind, reason=r.reason, count=r.count)
                for r in failure_reasons(result.samples)
            ),
        ),
        interrupted=result.interrupted,
        samples=tuple(
            SampleJson(
                index=x.index,
                start_s=_s(x.start),
                ok=x.ok,
                error=x.error,
                status=x.status,
                new_connection=x.new_connection,
                connect_attempts=x.connect_attempts,
                dns_ms=_ms(x.dns),
                connect_ms=_ms(x.connect),
                ttfb_ms=_ms(x.ttfb),
                first_token_ms=_ms(x.first_token),
                total_ms=_ms(x.total),
                tokens=x.tokens,
                prompt_tokens=x.prompt_tokens,
                load_ms=_ms(x.load),
                prompt_eval_ms=_ms(x.prompt_eval),
                eval_ms=_ms(x.eval),
                done_reason=x.done_reason,
                detail=x.detail,
            )
            for x in result.samples
        ),
    )


def to_json(result: RunResult) -> str:
    """:class:`BenchJson` as strict JSON text."""
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
