"""The generated alert rules and dashboard (tuner.watch.alerts), checked by Prometheus's own promtool,
and ``watch --emit`` writing them as reviewable files."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tuner.watch.alerts import DASHBOARD_FILE, RULES_FILE, dashboard_json, metric_names_used, rules_yaml
from tuner.watch.names import BY_NAME

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (Debian's prometheus package; scripts/test installs it)"
)
LABELS = 'install="inst-1",endpoint="http://127.0.0.1:11434"'


def test_rules_and_dashboard_name_only_exported_metrics() -> None:
    used = metric_names_used()
    assert used and used <= set(BY_NAME), used - set(BY_NAME)
    board = json.loads(dashboard_json())
    assert {p["title"] for p in board["panels"]} and all(p["targets"] for p in board["panels"])


@needs_promtool
def test_promtool_checks_the_rules(tmp_path: Path) -> None:
    rules = tmp_path / RULES_FILE
    rules.write_text(rules_yaml(), encoding="utf-8")
    proc = subprocess.run(
        [PROMTOOL, "check", "rules", str(rules)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS: 8 rules found" in proc.stdout


def _unit_test(tmp_path: Path, series: list[tuple[str, str]], alerts: list[tuple[str, list[dict]]]) -> str:  # type: ignore[type-arg]
    lines = ["rule_files:", f"  - {RULES_FILE}", "evaluation_interval: 15s", "tests:", "  - interval: 15s"]
    lines.append("    input_series:")
    for name, values in series:
        lines += [f"      - series: {json.dumps(name)}", f"        values: {json.dumps(values)}"]
    lines.append("    alert_rule_test:")
    for alert, expected in alerts:
        lines += [
            "      - eval_time: 5m",
            f"        alertname: {alert}",
            f"        exp_alerts: {json.dumps(expected)}",
        ]
    (tmp_path / RULES_FILE).write_text(rules_yaml(), encoding="utf-8")
    test = tmp_path / "test.yml"
    test.write_text("\n".join(lines) + "\n", encoding="utf-8")
    proc = subprocess.run([PROMTOOL, "test", "rules", str(test)], capture_output=True, text=True, timeout=60)
    return proc.stdout + proc.stderr + f"\nexit {proc.returncode}"


HEALTHY = [
    (f'chatchat_tune_up{{{LABELS},hop="ollama"}}', "1x40"),
    (f'chatchat_tune_model_unloads_total{{{LABELS},model="qwen:7b",reason="evicted"}}', "0x40"),
    (f'chatchat_tune_model_unloads_total{{{LABELS},model="qwen:7b",reason="expired"}}', "0x20 1x20"),
    (f'chatchat_tune_cold_loads_total{{{LABELS},model="qwen:7b"}}', "0x20 1x20"),
    (f'chatchat_tune_finding{{{LABELS},code="hang_unbounded",severity="info"}}', "1x40"),
    (f"chatchat_tune_settings_drift{{{LABELS}}}", "0x40"),
    (f"chatchat_tune_keep_alive_drift{{{LABELS}}}", "0x40"),
    (f"chatchat_tune_interval_seconds{{{LABELS}}}", "60x40"),
    (f"chatchat_tune_last_round_timestamp_seconds{{{LABELS}}}", "0+15x40"),
]
ALL = [
    "ChatchatTuneBackendDown",
    "ChatchatTuneModelEvicted",
    "ChatchatTuneColdLoads",
    "ChatchatTuneP95Regression",
    "ChatchatTuneKeepAliveLost",
    "ChatchatTuneSettingsDrift",
    "ChatchatTuneFinding",
    "ChatchatTuneWatchStalled",
]


@needs_promtool
def test_a_healthy_install_raises_no_alert(tmp_path: Path) -> None:
    result = _unit_test(tmp_path, HEALTHY, [(name, []) for name in ALL])
    assert "SUCCESS" in result and result.endswith("exit 0"), result


@needs_promtool
def test_an_evicted_model_and_a_lost_keep_alive_fire(tmp_path: Path) -> None:
    series = [s for s in HEALTHY if "evicted" not in s[0] and "keep_alive_drift" not in s[0]]
    series += [
        (f'chatchat_tune_model_unloads_total{{{LABELS},model="qwen:7b",reason="evicted"}}', "0x15 1x25"),
        (f"chatchat_tune_keep_alive_drift{{{LABELS}}}", "0x10 1x30"),
    ]
    evicted = {
        "exp_labels": {
            "severity": "warning",
            "install": "inst-1",
            "endpoint": "http://127.0.0.1:11434",
            "model": "qwen:7b",
            "reason": "evicted",
        },
        "exp_annotations": {"summary": "qwen:7b was unloaded before its keep_alive ran out on inst-1"},
    }
    lost = {
        "exp_labels": {"severity": "warning", "install": "inst-1", "endpoint": "http://127.0.0.1:11434"},
        "exp_annotations": {
            "summary": "the keep_alive in force on inst-1 is not the plan's (a service variable lost?)"
        },
    }
    checks = [("ChatchatTuneModelEvicted", [evicted]), ("ChatchatTuneKeepAliveLost", [lost])]
    checks += [
        (name, []) for name in ALL if name not in ("ChatchatTuneModelEvicted", "ChatchatTuneKeepAliveLost")
    ]
    result = _unit_test(tmp_path, series, checks)
    assert "SUCCESS" in result and result.endswith("exit 0"), result


def test_emit_writes_reviewable_files_and_never_overwrites_silently(tmp_path: Path) -> None:
    out = tmp_path / "监控"
    run = run_cli("watch", "--emit", str(out), "--json")
    assert run.code == 0, run.err
    assert json.loads(run.out)["schema_version"] == 1
    rules, board = out / RULES_FILE, out / DASHBOARD_FILE
    assert rules.read_text(encoding="utf-8") == rules_yaml() and json.loads(board.read_text(encoding="utf-8"))
    again = run_cli("watch", "--emit", str(out))
    assert again.code == 0 and "unchanged" in again.out
    rules.write_text(rules.read_text(encoding="utf-8") + "# my edit\n", encoding="utf-8")
    refused = run_cli("watch", "--emit", str(out), "--cold-loads-per-hour", "3")
    assert refused.code == 1 and "--force" in refused.err and len(refused.err.strip().splitlines()) == 1
    assert "# my edit" in rules.read_text(encoding="utf-8")
    forced = run_cli("watch", "--emit", str(out), "--cold-loads-per-hour", "3", "--force")
    assert forced.code == 0 and "> 3" in rules.read_text(encoding="utf-8")
