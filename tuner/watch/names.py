"""The metrics the watcher exports: one table for the exporter, the alert rules and the dashboard. Pure.

Prometheus conventions: the ``chatchat_tune_`` prefix, base units in the name (``_seconds``, ``_bytes``),
``_total`` on counters, ``_info`` for a constant-1 gauge carrying a value as a label. Every series has the
``install`` label (a stable id: the install folder's name and a hash of its resolved path, never a secret)
and the ``endpoint`` label (the install's Ollama root, any password masked), so one Prometheus can scrape
many watchers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PREFIX = "chatchat_tune_"
BASE_LABELS = ("install", "endpoint")
LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
)


@dataclass(frozen=True)
class Metric:
    name: str
    kind: Literal["gauge", "counter", "histogram"]
    help: str
    labels: tuple[str, ...] = ()  # beyond BASE_LABELS


METRICS = (
    Metric(
        "chatchat_tune_probe_duration_seconds",
        "histogram",
        "Seconds each phase of the watcher's own requests took, by hop (ollama, chatchat), request and "
        "phase (connect, first_byte, first_token, total)",
        ("hop", "probe", "phase"),
    ),
    Metric("chatchat_tune_up", "gauge", "1 when the hop answered HTTP this round, else 0", ("hop",)),
    Metric("chatchat_tune_model_resident", "gauge", "1 when the model is loaded (GET /api/ps)", ("model",)),
    Metric(
        "chatchat_tune_model_expires_in_seconds",
        "gauge",
        "Seconds until the model unloads (GET /api/ps expires_at); -1 forever; 0 when not loaded",
        ("model",),
    ),
    Metric(
        "chatchat_tune_model_vram_ratio",
        "gauge",
        "Share of the model held in VRAM (size_vram / size)",
        ("model",),
    ),
    Metric(
        "chatchat_tune_model_context_tokens", "gauge", "Context length the model is loaded with", ("model",)
    ),
    Metric(
        "chatchat_tune_keep_alive_seconds",
        "gauge",
        "keep_alive in force for the install's model, from /api/ps (bound: lower, upper; -1 forever)",
        ("bound",),
    ),
    Metric("chatchat_tune_planned_keep_alive_seconds", "gauge", "keep_alive the plan set (-1 forever)"),
    Metric(
        "chatchat_tune_cold_loads_total", "counter", "Models seen becoming resident (a cold load)", ("model",)
    ),
    Metric(
        "chatchat_tune_model_unloads_total",
        "counter",
        "Models seen unloaded: reason expired (keep_alive ran out) or evicted (gone before its time)",
        ("model", "reason"),
    ),
    Metric(
        "chatchat_tune_errors_total",
        "counter",
        "The watcher's failed requests, by hop and kind",
        ("hop", "kind"),
    ),
    Metric(
        "chatchat_tune_settings_info",
        "gauge",
        "1, with the hash of the install's settings in force",
        ("settings_hash",),
    ),
    Metric("chatchat_tune_settings_drift", "gauge", "1 when a file the last apply wrote changed since"),
    Metric("chatchat_tune_keep_alive_drift", "gauge", "1 when the keep_alive in force cannot be the plan's"),
    Metric("chatchat_tune_p95_seconds", "gauge", "p95 of the last chat probes (install time)"),
    Metric(
        "chatchat_tune_baseline_p95_seconds", "gauge", "p95 of the search's verified winner (install time)"
    ),
    Metric(
        "chatchat_tune_p95_ratio",
        "gauge",
        "p95(recent) / p95(baseline) and its 95% bootstrap interval (bound: point, lower, upper)",
        ("bound",),
    ),
    Metric(
        "chatchat_tune_p95_regression", "gauge", "1 when the whole 95% interval of the p95 ratio is above 1"
    ),
    Metric(
        "chatchat_tune_finding",
        "gauge",
        "1 while the doctor's rule finds this cause, else 0",
        ("code", "severity"),
    ),
    Metric(
        "chatchat_tune_chat_probe_keeps_model_loaded",
        "gauge",
        "1 when --probe-chat is on: its chat requests reset Ollama's idle timer and keep the model loaded",
    ),
    Metric("chatchat_tune_interval_seconds", "gauge", "Seconds between rounds (real)"),
    Metric("chatchat_tune_time_scale", "gauge", "The lab's time scale (1 for a real Ollama)"),
    Metric("chatchat_tune_rounds_total", "counter", "Rounds run"),
    Metric("chatchat_tune_round_requests", "gauge", "Requests the last round sent"),
    Metric("chatchat_tune_round_received_bytes", "gauge", "Bytes the last round received"),
    Metric("chatchat_tune_round_duration_seconds", "gauge", "Seconds the last round took"),
    Metric("chatchat_tune_last_round_timestamp_seconds", "gauge", "When the last round ended (Unix time)"),
)
BY_NAME = {m.name: m for m in METRICS}
