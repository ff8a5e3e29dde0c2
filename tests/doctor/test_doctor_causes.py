"""Against the lab with one fault on at a time, doctor names that cause first (exit 3); healthy: nothing
above info (exit 0)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from tests.conftest import run_cli
from tests.doctor.conftest import codes, copy_install, dead_port, doctor, first, point, replace_in


def test_healthy_lab_has_nothing_above_info(lab: Any, tmp_path: Path) -> None:
    server = lab()
    root = copy_install(tmp_path)
    point(root, f"{server.url}/v1")
    code, report, _ = doctor(root)
    assert code == 0
    assert [f for f in report["findings"] if f["severity"] != "info"] == []
    assert report["probe"]["model"]["status"] == "ok"
    human = run_cli("doctor", "--root", str(root))
    assert human.code == 0 and "INFO" in human.out and "WARN" not in human.out


def test_ollama_not_running(tmp_path: Path) -> None:
    root = copy_install(tmp_path)
    point(root, f"http://127.0.0.1:{dead_port()}/v1")
    code, report, _ = doctor(root)
    assert code == 3
    assert first(report)["code"] == "ollama_down" and first(report)["severity"] == "error"
    human = run_cli("doctor", "--root", str(root))
    assert human.code == 3 and "nothing answers at" in human.out and "Traceback" not in human.err


def test_model_not_pulled(lab: Any, tmp_path: Path) -> None:
    server = lab()
    root = copy_install(tmp_path)
    replace_in(root / "model_settings.yaml", "      - qwen:7b\n", "      - llama3:70b\n")
    point(root, f"{server.url}/v1")
    code, report, _ = doctor(root)
    assert code == 3
    assert first(report)["code"] == "model_missing"
    assert any("ollama pull llama3:70b" in fix["text"] for fix in first(report)["fixes"])


def test_hung_backend_that_no_timeout_bounds(lab: Any, tmp_path: Path) -> None:
    server = lab(faults={"hang": 1.0})
    root = copy_install(tmp_path)
    point(root, f"{server.url}/v1")
    code, report, _ = doctor(root, "--budget", "3")
    assert code == 3
    hang = first(report)
    assert hang["code"] == "backend_hang" and hang["severity"] == "error"
    assert (
        hang["cost_ms"] == 1_800_000.0
    )  # openai's 600 s x 3 attempts: HTTPX_DEFAULT_TIMEOUT does not bound it
    assert any(fix["kind"] == "code_patch" and "--patch-code" in fix["text"] for fix in hang["fixes"])
    assert report["probe"]["elapsed_s"] <= 3.5  # the probe itself is bounded by the budget


def test_localhost_slow_to_connect(lab: Any, tmp_path: Path) -> None:
    server = lab(faults={"connect_delay": 2.0})  # 0.2 s on each new connection to Host: localhost
    root = copy_install(tmp_path)
    point(root, f"{server.url_for('localhost')}/v1")
    code, report, _ = doctor(root)
    assert code == 3  # a warn finding
    slow = first(report)
    assert slow["code"] == "localhost_slow" and slow["severity"] == "warn"
    assert 150 <= slow["cost_ms"] <= 1000
    settings = [fix["setting"] for fix in slow["fixes"] if fix["setting"]]
    assert settings == [f"ollama_url[ollama]=http://127.0.0.1:{server.port}/v1"]
    # the fix removes the finding
    assert run_cli("apply", "--root", str(root), "--set", settings[0]).code == 0
    _, after, _ = doctor(root)
    assert "localhost_slow" not in codes(after)


def test_proxy_would_carry_requests_to_ollama(lab: Any, tmp_path: Path) -> None:
    server = lab(host="::1")  # a loopback host Chatchat does not exempt from proxies
    root = copy_install(tmp_path)
    point(root, f"http://[::1]:{server.port}/v1")
    env = {"HTTP_PROXY": f"http://127.0.0.1:{dead_port()}", "NO_PROXY": "localhost"}
    code, report, _ = doctor(root, env=env)
    assert code == 3  # a warn finding
    proxy = first(report)
    assert proxy["code"] == "proxy" and proxy["severity"] == "warn"
    assert any("HTTP_PROXY=" in line for line in proxy["evidence"])
    _, exempt, _ = doctor(root, env={**env, "NO_PROXY": "localhost,::1"})
    assert "proxy" not in codes(exempt)


XINFERENCE = (
    "  - platform_name: xinference\n    platform_type: xinference\n    api_base_url: http://127.0.0.1:9997/v1"
)


def _xinference_at(url: str) -> str:
    return XINFERENCE.replace("http://127.0.0.1:9997/v1", url)


def _fake_xinference_client(tmp_path: Path) -> dict[str, str]:
    pkg = tmp_path / "site" / "xinference_client"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("", encoding="utf-8")
    return {"PYTHONPATH": str(tmp_path / "site")}


def test_auto_detect_platform_that_refuses(lab: Any, tmp_path: Path) -> None:
    server = lab()
    root = copy_install(tmp_path)
    point(root, f"{server.url}/v1")
    replace_in(root / "model_settings.yaml", XINFERENCE, _xinference_at(f"http://127.0.0.1:{dead_port()}/v1"))
    env = _fake_xinference_client(tmp_path)
    code, report, _ = doctor(root, "--python", sys.executable, env=env)
    assert code == 3  # a warn finding
    auto = first(report)
    assert auto["code"] == "auto_detect" and auto["severity"] == "warn"
    assert [fix["setting"] for fix in auto["fixes"]] == ["auto_detect_model[xinference]=false"]
    # without the client in Chatchat's environment it has no effect; without --python it is unknown
    (tmp_path / "site" / "xinference_client" / "__init__.py").unlink()
    (tmp_path / "site" / "xinference_client").rmdir()
    _, absent, _ = doctor(root, "--python", sys.executable, env=env)
    assert [f["severity"] for f in absent["findings"] if f["code"] == "auto_detect"] == ["info"]
    _, unknown, _ = doctor(root)
    assert any("unknown" in f["title"] for f in unknown["findings"] if f["code"] == "auto_detect")


def test_auto_detect_platform_that_hangs(lab: Any, tmp_path: Path) -> None:
    server, xinference = lab(), lab(faults={"hang": 1.0})
    root = copy_install(tmp_path)
    point(root, f"{server.url}/v1")
    replace_in(root / "model_settings.yaml", XINFERENCE, _xinference_at(f"{xinference.url}/v1"))
    code, report, _ = doctor(root, "--python", sys.executable, env=_fake_xinference_client(tmp_path))
    assert code == 3, report["probe"]["auto_detect"]
    auto = first(report)
    assert auto["code"] == "auto_detect" and auto["severity"] == "error" and auto["unbounded"]


def test_keep_alive_shorter_than_idle_gaps(lab: Any, tmp_path: Path) -> None:
    server = lab(keep_alive="10s")  # 1 s at time_scale 0.1
    root = copy_install(tmp_path)
    point(root, f"{server.url}/v1")
    code, report, _ = doctor(root, "--idle-gap", "60")
    assert code == 3  # a warn finding
    expiry = first(report)
    assert expiry["code"] == "keep_alive_expiry" and expiry["severity"] == "warn"
    assert 150 <= expiry["cost_ms"] <= 1000  # the cold load, 0.2 s
    assert [fix["setting"] for fix in expiry["fixes"]] == ["keep_alive=30m"]
    _, short_gap, _ = doctor(root, "--idle-gap", "0.2")
    assert "keep_alive_expiry" not in codes(short_gap)


def test_a_short_timeout_on_020_is_not_blamed_for_aborted_loads(lab: Any, tmp_path: Path) -> None:
    """0.2.10 builds its model client with request_timeout=None (docs/versions.md): HTTPX_DEFAULT_TIMEOUT
    does not bound the model call, so a timeout shorter than the cold load aborts nothing, and the doctor
    must say the call is unbounded instead of blaming the timeout."""
    server = lab(
        models=[
            {
                "name": "qwen:7b",
                "size_bytes": 1,
                "size_vram": 0,
                "load_seconds": 5.0,
                "prompt_tokens_per_s": 100_000.0,
                "gen_tokens_per_s": 100.0,
            }
        ]
    )
    root = copy_install(tmp_path, "chatchat-0.2.10")
    point(root, f"{server.url}/v1", entry="openai-api")
    assert run_cli("apply", "--root", str(root), "--set", "api_timeout=0.2").code == 0
    _, report, _ = doctor(root)
    codes = [f["code"] for f in report["findings"]]
    assert "abort_loop" not in codes
    hang = next(f for f in report["findings"] if f["code"] == "hang_unbounded")
    assert any("does not bound the model call" in e for e in hang["evidence"])


def test_api_concurrencies_above_parallel_slots(lab: Any, tmp_path: Path) -> None:
    server = lab(num_parallel=1)
    root = copy_install(tmp_path)
    point(root, f"{server.url}/v1")
    # A budget well above the default: the pair is the doctor's last probe, skipped when a loaded machine
    # has used the default budget up (the report then says so under "skipped").
    code, report, _ = doctor(root, "--budget", "30")
    assert code == 3, report["probe"]["skipped"]  # a warn finding
    queue = first(report)
    assert queue["code"] == "queueing" and queue["severity"] == "warn"
    assert "num_parallel=5" in [fix["setting"] for fix in queue["fixes"]]


def test_chatchat_overhead(lab: Any, chatchat_stub: Any, tmp_path: Path) -> None:
    server = lab()
    api = chatchat_stub(server.url, 0.12)
    root = copy_install(tmp_path, api_port=int(api.rsplit(":", 1)[1]))
    point(root, f"{server.url}/v1")
    code, report, _ = doctor(root)
    assert code == 3  # a warn finding
    overhead = first(report)
    assert overhead["code"] == "chatchat_overhead" and overhead["severity"] == "warn"
    assert 100 <= overhead["cost_ms"] <= 500


def test_failing_backend_is_reported_by_kind_not_a_traceback(lab: Any, tmp_path: Path) -> None:
    server = lab(faults={"error_rate": 1.0})
    root = copy_install(tmp_path)
    point(root, f"{server.url}/v1")
    code, report, _ = doctor(root)
    assert code == 3 and first(report)["code"] == "backend_errors"
    assert any("http_500" in line for line in first(report)["evidence"])
    server.set_faults(disconnect_every=1)
    code, report, _ = doctor(root)
    assert first(report)["code"] == "backend_errors"
