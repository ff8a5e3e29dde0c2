"""Where the model runs, on lab scenarios: each finding fires on its scenario and stays silent on a
healthy one. The lab plays Ollama in its own process (time_scale 0.1: a 2 s cold load takes 0.2 s)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.doctor.conftest import CHAT, codes, copy_install, doctor, point

GB = 1_000_000_000
ON_GPU = {**CHAT, "size_vram": CHAT["size_bytes"], "gen_tokens_per_s": 400.0}
HALF = {**ON_GPU, "size_vram": CHAT["size_bytes"] // 2, "cpu_tokens_per_s": 20.0}
PLACE = ("gpu_offload", "ctx_reload", "ctx_truncation", "load_timeout")


def _models(chat: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"name": "qwen:7b", **chat}, {"name": "qwen2:7b", **chat}]


def _install(tmp_path: Path, server: Any) -> Path:
    root = copy_install(tmp_path)
    point(root, f"http://127.0.0.1:{server.port}/v1")
    return root


def _one(report: dict[str, Any], code: str) -> dict[str, Any]:
    found = [f for f in report["findings"] if f["code"] == code]
    assert len(found) == 1, codes(report)
    return found[0]


def _settings(finding: dict[str, Any]) -> list[str]:
    return [fix["setting"] for fix in finding["fixes"] if fix["setting"]]


def test_healthy_gpu_install_has_no_place_finding(tmp_path: Path, lab: Any) -> None:
    server = lab(models=_models(ON_GPU), default_num_ctx=8192)
    _, report, _ = doctor(_install(tmp_path, server))
    assert not set(PLACE) & set(codes(report)), codes(report)
    assert report["probe"]["residency"]["after"]["context_length"] == 8192
    assert report["probe"]["residency"]["tokens_per_s"] is None  # not measured when all is in VRAM


def test_gpu_offload_names_the_share_and_the_measured_rate(tmp_path: Path, lab: Any) -> None:
    server = lab(models=_models(HALF), default_num_ctx=8192)
    code, report, _ = doctor(_install(tmp_path, server))
    found = _one(report, "gpu_offload")
    assert code == 3 and found["severity"] == "warn"
    assert "50%/50% CPU/GPU" in found["evidence"][0]
    measured = report["probe"]["residency"]["tokens_per_s"]
    # 1 / (0.5/400 + 0.5/20) tokens/s in lab time, x10 at time_scale 0.1
    assert 0.2 * 381 < measured < 2 * 381  # loose: a shared 2-core box stretches the sleeps
    assert "tokens/s" in found["evidence"][1]
    assert "num_parallel=1" in _settings(found)


def test_ctx_reload_when_another_caller_loaded_another_context(tmp_path: Path, lab: Any) -> None:
    server = lab(models=_models(ON_GPU), default_num_ctx=8192)
    root = _install(tmp_path, server)
    other = {
        "model": "qwen:7b",
        "prompt": "hi",
        "stream": False,
        "options": {"num_ctx": 2048, "num_predict": 1},
    }
    assert (
        httpx.post(server.url + "/api/generate", json=other, timeout=30, trust_env=False).status_code == 200
    )
    _, report, _ = doctor(root)
    found = _one(report, "ctx_reload")
    assert found["severity"] == "warn" and found["cost_ms"] > 100
    assert "context_length 2048" in found["evidence"][0] and "8192" in found["evidence"][0]
    assert "num_ctx=8192" in _settings(found) and "context_length=8192" in _settings(found)


def test_no_ctx_reload_when_the_resident_model_has_the_default_context(tmp_path: Path, lab: Any) -> None:
    server = lab(models=_models(ON_GPU), default_num_ctx=8192)
    root = _install(tmp_path, server)
    same = {"model": "qwen:7b", "prompt": "hi", "stream": False, "options": {"num_predict": 1}}
    assert httpx.post(server.url + "/api/generate", json=same, timeout=30, trust_env=False).status_code == 200
    _, report, _ = doctor(root)
    assert "ctx_reload" not in codes(report)
    assert report["probe"]["model"]["resident_before"] is True


def test_ctx_truncation_when_the_kb_prompt_exceeds_the_context(tmp_path: Path, lab: Any) -> None:
    server = lab(models=_models(ON_GPU), default_num_ctx=2048)
    _, report, _ = doctor(_install(tmp_path, server))
    found = _one(report, "ctx_truncation")
    text = "\n".join(found["evidence"])
    assert "3 chunks x 750 characters" in text and "kb_settings.yaml VECTOR_SEARCH_TOP_K" in text
    assert "context of 2048 tokens" in text
    assert "num_ctx=4096" in _settings(found) and "context_length=4096" in _settings(found)


def test_load_timeout_when_the_cold_load_approaches_it(tmp_path: Path, lab: Any) -> None:
    server = lab(models=_models(ON_GPU), default_num_ctx=8192)  # cold load 0.2 s
    root = _install(tmp_path, server)
    _, report, _ = doctor(root, env={"OLLAMA_LOAD_TIMEOUT": "300ms"})
    found = _one(report, "load_timeout")
    assert found["severity"] == "warn" and "OLLAMA_LOAD_TIMEOUT=300ms" in "\n".join(found["evidence"])
    assert any(s.startswith("load_timeout=") for s in _settings(found))


def test_load_timeout_when_the_load_fails(tmp_path: Path, lab: Any) -> None:
    server = lab(models=_models(ON_GPU), load_timeout=1.0)  # 0.1 s: the 0.2 s load fails
    _, report, _ = doctor(_install(tmp_path, server), env={"OLLAMA_LOAD_TIMEOUT": "100ms"})
    found = _one(report, "load_timeout")
    assert found["severity"] == "error" and "timed out waiting for llama runner" in found["evidence"][0]


def test_no_load_timeout_with_the_default(tmp_path: Path, lab: Any) -> None:
    server = lab(models=_models(ON_GPU), default_num_ctx=8192)
    _, report, _ = doctor(_install(tmp_path, server), env={"OLLAMA_LOAD_TIMEOUT": ""})
    assert "load_timeout" not in codes(report)
    assert report["probe"]["residency"]["load_timeout_s"] == 300.0
