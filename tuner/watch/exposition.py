"""The metrics as Prometheus scrapes them (prometheus-client, text exposition format). I/O edge.

Imported only by ``watch`` when it serves (the ``watch`` extra); the names, help texts and labels come
from :mod:`tuner.watch.names`. A series that stops being true is set to 0, never removed, so the set of
series is bounded by the install's models, the error kinds and the doctor's finding codes.
"""

from __future__ import annotations

import math
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from tuner.watch.model import PHASES, RoundReport, Target
from tuner.watch.names import BASE_LABELS, LATENCY_BUCKETS, METRICS

MAX_MODELS = 16  # model names that get series (an install uses a few)


class Exporter:
    def __init__(self, target: Target, *, interval: float, time_scale: float, keeps_loaded: bool) -> None:
        from prometheus_client import ProcessCollector, disable_created_metrics

        # No *_created series: half the series, and nothing a rule or the dashboard needs.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)  # the watcher's own CPU and memory (process_* series)
        self.base = {"install": target.install, "endpoint": target.endpoint}
        self.models: set[str] = set()  # model names with series (at most MAX_MODELS)
        self.m: dict[str, Any] = {}
        for metric in METRICS:
            short = metric.name.removesuffix("_total") if metric.kind == "counter" else metric.name
            labels = (*BASE_LABELS, *metric.labels)
            if metric.kind == "histogram":
                self.m[metric.name] = Histogram(
                    short, metric.help, labels, registry=self.registry, buckets=LATENCY_BUCKETS
                )
            elif metric.kind == "counter":
                self.m[metric.name] = Counter(short, metric.help, labels, registry=self.registry)
            else:
                self.m[metric.name] = Gauge(short, metric.help, labels, registry=self.registry)
        self.settings_hash: str | None = None
        self.findings: set[tuple[str, str]] = set()
        self._gauge("chatchat_tune_interval_seconds").set(interval)
        self._gauge("chatchat_tune_time_scale").set(time_scale)
        self._gauge("chatchat_tune_chat_probe_keeps_model_loaded").set(1 if keeps_loaded else 0)
        # Counters present from the start, so that rate() and increase() see their first step.
        for hop, kind in (("ollama", "connect"), ("ollama", "timeout")):
            self._metric("chatchat_tune_errors_total", hop=hop, kind=kind)
        if target.model:  # the install's model has its series from the start (0 until seen loaded)
            self.models.add(target.model)
            for reason in ("expired", "evicted"):
                self._metric("chatchat_tune_model_unloads_total", model=target.model, reason=reason)
            self._metric("chatchat_tune_cold_loads_total", model=target.model)
            self._gauge("chatchat_tune_model_resident", model=target.model).set(0)

    def _metric(self, name: str, **labels: str) -> Any:
        return self.m[name].labels(**self.base, **labels)

    def _gauge(self, name: str, **labels: str) -> Any:
        return self._metric(name, **labels)

    def serve(self, host: str, port: int) -> Any:
        """Start the HTTP exposition server (a daemon thread); returns the server (``shutdown()``)."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return server

    def update(self, report: RoundReport) -> None:
        obs, d = report.observation, report.decisions
        for p in obs.probes:
            for phase in PHASES:
                value = p.phase(phase)
                if value is not None:
                    self._metric(
                        "chatchat_tune_probe_duration_seconds", hop=p.hop, probe=p.name, phase=phase
                    ).observe(value)
        for hop, up in d.up.items():
            self._gauge("chatchat_tune_up", hop=hop).set(1 if up else 0)
        for key, n in d.errors.items():
            hop, kind = key.split(":", 1)
            self._metric("chatchat_tune_errors_total", hop=hop, kind=kind).inc(n)
        latest = obs.resident_after if obs.resident_after is not None else obs.resident
        if latest is not None:
            # At most MAX_MODELS model names ever get series: a server listing new names every round
            # cannot grow the watcher's memory or Prometheus's series without bound.
            room = MAX_MODELS - len(self.models)
            known = [r for r in latest if r.model in self.models]
            new = [r for r in latest if r.model not in self.models][: max(room, 0)]
            shown = known + new
            seen = {r.model for r in shown}
            for r in shown:
                self._gauge("chatchat_tune_model_resident", model=r.model).set(1)
                left = -1.0 if math.isinf(r.expires_at) else max(r.expires_at - obs.finished_at, 0.0)
                self._gauge("chatchat_tune_model_expires_in_seconds", model=r.model).set(left)
                self._gauge("chatchat_tune_model_vram_ratio", model=r.model).set(r.vram_share)
                if r.context_length is not None:
                    self._gauge("chatchat_tune_model_context_tokens", model=r.model).set(r.context_length)
            for gone in self.models - seen:
                self._gauge("chatchat_tune_model_resident", model=gone).set(0)
                self._gauge("chatchat_tune_model_expires_in_seconds", model=gone).set(0)
            self.models |= seen
        for m in d.cold_loads:
            if m in self.models:
                self._metric("chatchat_tune_cold_loads_total", model=m).inc()
        for m, reason in d.unloads:
            if m in self.models:
                self._metric("chatchat_tune_model_unloads_total", model=m, reason=reason).inc()
        if d.keep_alive is not None:
            lo, hi = d.keep_alive
            self._gauge("chatchat_tune_keep_alive_seconds", bound="lower").set(lo)
            if math.isfinite(hi):
                self._gauge("chatchat_tune_keep_alive_seconds", bound="upper").set(hi)
        if d.keep_alive_drift is not None:
            self._gauge("chatchat_tune_keep_alive_drift").set(1 if d.keep_alive_drift else 0)
        if d.settings_drift is not None:
            self._gauge("chatchat_tune_settings_drift").set(1 if d.settings_drift else 0)
        if obs.settings_hash and obs.settings_hash != self.settings_hash:
            if self.settings_hash is not None:
                self._gauge("chatchat_tune_settings_info", settings_hash=self.settings_hash).set(0)
            self._gauge("chatchat_tune_settings_info", settings_hash=obs.settings_hash).set(1)
            self.settings_hash = obs.settings_hash
        if d.p95 is not None:
            self._gauge("chatchat_tune_p95_seconds").set(d.p95.p95)
            self._gauge("chatchat_tune_baseline_p95_seconds").set(d.p95.baseline_p95)
            for bound, value in (("point", d.p95.ratio), ("lower", d.p95.ci[0]), ("upper", d.p95.ci[1])):
                self._gauge("chatchat_tune_p95_ratio", bound=bound).set(value)
            self._gauge("chatchat_tune_p95_regression").set(1 if d.p95.regression else 0)
        now = {(f.code, f.severity) for f in report.findings}
        for code, severity in self.findings | now:
            self._gauge("chatchat_tune_finding", code=code, severity=severity).set(
                1 if (code, severity) in now else 0
            )
        self.findings |= now
        self._metric("chatchat_tune_rounds_total").inc()
        self._gauge("chatchat_tune_round_requests").set(obs.requests)
        self._gauge("chatchat_tune_round_received_bytes").set(obs.bytes_in)
        self._gauge("chatchat_tune_round_duration_seconds").set(obs.finished_at - obs.started_at)
        self._gauge("chatchat_tune_last_round_timestamp_seconds").set(obs.finished_at)

    def planned(self, keep_alive: float | None) -> None:
        if keep_alive is not None:
            self._gauge("chatchat_tune_planned_keep_alive_seconds").set(keep_alive)
