"""The bench JSON (``bench --json``, ``--json-out``): typed models, one style with ``tuner.cli.jsonmodels``.

Latencies in milliseconds (``*_ms``), settings and the run's wall/CPU time in seconds (``*_s``), rates
``*_per_s``; a float that is not finite is ``null``. Schema: docs/schemas/bench.schema.json.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tuner.jsonout import finite as _s
from tuner.jsonout import ms as _ms
from tuner.measure.reasons import failure_reasons
from tuner.measure.runner import RunResult
from tuner.measure.stats import summarize

FORMAT: Literal["chatchat-tune-bench"] = "chatchat-tune-bench"
SCHEMA_VERSION = 1


@dataclass(frozen=True, kw_only=True)
class ArrivalJson:
    """How requests arrive: closed loop, a rate, idle gaps around a mean, users, or a replayed trace
    (``arrivals``: how many times the trace holds; the times themselves are not repeated here)."""

    kind: str
    rate_per_s: float | None
    mean_gap_s: float | None
    distribution: str
    arrivals: int | None


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
    w, c = result.workload, result.client
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
                arrivals=len(w.arrival.times) if w.arrival.times else None,
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
        summary=summary_json(result),
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


def summary_json(result: RunResult) -> SummaryJson:
    """The run's summary: counts, each phase's percentiles (ms), wall and CPU time, why requests failed."""
    s = summarize(result)
    return SummaryJson(
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
            ReasonJson(kind=r.kind, reason=r.reason, count=r.count) for r in failure_reasons(result.samples)
        ),
    )
