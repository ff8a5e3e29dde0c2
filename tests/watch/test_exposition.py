"""The exporter (tuner.watch.exposition): every metric of the table exported under its name, and the
series bounded whatever a server lists."""

from __future__ import annotations

from tests.watch.conftest import needs_watch_extra
from tests.watch.test_drift import obs, probe
from tuner.watch.drift import step
from tuner.watch.model import Baseline, FindingGauge, RoundReport, State, Target
from tuner.watch.names import METRICS

pytestmark = needs_watch_extra

TARGET = Target(
    install="知识库-1234abcd",
    root="/r",
    ollama_root="http://127.0.0.1:11434",
    ollama_url="http://127.0.0.1:11434/v1",
    model="qwen:7b",
    chatchat_api=None,
    endpoint="http://127.0.0.1:11434",
)


def report(state: State, o, found: tuple[FindingGauge, ...] = ()) -> tuple[State, RoundReport]:  # type: ignore[no-untyped-def]
    new, d = step(state, o, Baseline(planned_keep_alive=1800.0), model=TARGET.model)
    return new, RoundReport(target=TARGET, observation=o, decisions=d, findings=found, alerts=(), state=new)


def families(exporter) -> dict[str, list]:  # type: ignore[no-untyped-def,type-arg]
    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    text = generate_latest(exporter.registry).decode("utf-8")
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def test_every_metric_of_the_table_is_exported_with_the_install_labels() -> None:
    from tuner.watch.exposition import Exporter

    exporter = Exporter(TARGET, interval=60.0, time_scale=1.0, keeps_loaded=False)
    exporter.planned(1800.0)
    state = State()
    chat = probe("chat", 1000.5, total=0.2)
    for i, models in enumerate(([], [("qwen:7b", 1060.0 + 300)], [])):
        state, r = report(
            state,
            obs(1000.0 + 60 * i, models, chat=chat),
            (FindingGauge(code="localhost_slow", severity="warn", title="t"),) if i == 1 else (),
        )
        exporter.update(r)
    got = families(exporter)
    for metric in METRICS:
        name = metric.name.removesuffix("_total") if metric.kind == "counter" else metric.name
        if metric.name in ("chatchat_tune_p95_seconds", "chatchat_tune_baseline_p95_seconds"):
            continue  # only with a study's baseline
        if metric.name in ("chatchat_tune_p95_ratio", "chatchat_tune_p95_regression"):
            continue
        if metric.name in ("chatchat_tune_settings_drift", "chatchat_tune_settings_info"):
            continue  # only with the install's files read
        assert name in got, name
        assert all(s.labels["install"] == TARGET.install for s in got[name]), name
    finding = {s.labels["code"]: s.value for s in got["chatchat_tune_finding"]}
    assert finding == {"localhost_slow": 0.0}  # raised in round 2, gone in round 3: kept at 0
    unloads = {s.labels["reason"]: s.value for s in got["chatchat_tune_model_unloads"]}
    assert unloads["evicted"] == 1.0


def test_series_stay_bounded_whatever_the_server_lists() -> None:
    from tuner.watch.exposition import MAX_MODELS, Exporter

    exporter = Exporter(TARGET, interval=60.0, time_scale=1.0, keeps_loaded=False)
    state = State()
    for i in range(200):
        state, r = report(state, obs(1000.0 + 60 * i, [(f"junk-{i}:latest", 1e12)]))
        exporter.update(r)
    resident = families(exporter)["chatchat_tune_model_resident"]
    assert len(resident) <= MAX_MODELS
    assert len(state.expiry) == 1
