"""Parallel slots in the lab: shared compute (slower each, faster in total) and per-slot context memory."""

from __future__ import annotations

import concurrent.futures
from typing import Any

import httpx
import pytest

from tuner.lab.engine import ModelSpec
from tuner.lab.process import LabProcess
from tuner.lab.profiles import QWEN2_7B_KV, get_profile
from tuner.lab.slots import GPU_BATCH_SPEEDUP, context_bytes, resident_bytes, slowdown, speedup

TOKENS = 48


def test_speedup_curve_interpolates_and_holds() -> None:
    assert speedup(GPU_BATCH_SPEEDUP, 1) == 1.0
    assert speedup(GPU_BATCH_SPEEDUP, 4) == pytest.approx(1.79)
    assert 1.22 < speedup(GPU_BATCH_SPEEDUP, 3) < 1.79
    assert speedup(GPU_BATCH_SPEEDUP, 64) == pytest.approx(5.83)
    assert speedup((), 4) == 4.0  # no curve: independent slots


def test_slowdown_and_memory_follow_the_profile() -> None:
    spec = get_profile("gpu-7b").model("qwen2:7b")
    assert spec is not None
    assert slowdown(spec, 1) == 1.0
    assert slowdown(spec, 4) == pytest.approx(4 / 1.79)
    assert context_bytes(spec, 4096, 4) == QWEN2_7B_KV * 4096 * 4
    size, vram = resident_bytes(spec, 4096, 2)
    assert size == spec.size_bytes + 2 * 4096 * QWEN2_7B_KV
    assert vram == spec.size_vram + 2 * 4096 * QWEN2_7B_KV
    bare = ModelSpec("m", 10, 0, 0.0, 1.0, 1.0)
    assert resident_bytes(bare, 4096, 8) == (10, 0)


def _generate(url: str, i: int) -> dict[str, Any]:
    body = {
        "model": "qwen2:7b",
        "prompt": f"question {i}",
        "stream": False,
        "options": {"num_predict": TOKENS},
        "keep_alive": -1,
    }
    resp = httpx.post(url + "/api/generate", json=body, timeout=60, trust_env=False)
    assert resp.status_code == 200, resp.text
    data: dict[str, Any] = resp.json()
    return data


def _server(url: str, **values: object) -> dict[str, Any]:
    resp = httpx.post(url + "/lab/server", json=values, timeout=30, trust_env=False)
    assert resp.status_code == 200, resp.text
    data: dict[str, Any] = resp.json()
    return data


def _ps_size(url: str) -> tuple[int, int]:
    models = httpx.get(url + "/api/ps", timeout=10, trust_env=False).json()["models"]
    (m,) = [m for m in models if m["name"] == "qwen2:7b"]
    return m["size"], m["size_vram"]


def test_slots_share_compute_and_memory_on_the_lab() -> None:
    with LabProcess("gpu-7b", time_scale=0.1) as lab:
        assert _server(lab.url, num_parallel=1)["num_parallel"] == 1
        _generate(lab.url, 0)  # load
        one_size, one_vram = _ps_size(lab.url)
        alone = _generate(lab.url, 1)["eval_duration"] / 1e9
        _server(lab.url, num_parallel=4)
        assert httpx.get(lab.url + "/api/ps", trust_env=False).json()["models"] == []  # a restart unloads
        _generate(lab.url, 2)
        four_size, four_vram = _ps_size(lab.url)
        assert four_size - one_size == 3 * 4096 * QWEN2_7B_KV
        assert four_vram - one_vram == 3 * 4096 * QWEN2_7B_KV
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda i: _generate(lab.url, i), range(10, 14)))
        each = [r["eval_duration"] / 1e9 for r in results]
        # each request is slower with four generating together ...
        assert min(each) > 1.5 * alone
        # ... while the total rate rises, less than four-fold (llama.cpp's curve: 1.79 at 4)
        total_rate = 4 * TOKENS / max(each)
        alone_rate = TOKENS / alone
        assert 1.3 * alone_rate < total_rate < 3.0 * alone_rate


def test_server_settings_refuse_bad_values() -> None:
    with LabProcess("tiny", time_scale=0.01) as lab:
        bad = httpx.post(lab.url + "/lab/server", json={"num_parallel": 0}, trust_env=False)
        assert bad.status_code == 400 and bad.json()["field"] == "num_parallel"
        bad = httpx.post(lab.url + "/lab/server", json={"slots": 2}, trust_env=False)
        assert bad.status_code == 400 and bad.json()["field"] == "slots"
        now = _server(lab.url)
        assert now["num_parallel"] == 1 and now["max_loaded_models"] == 3
        assert _server(lab.url, keep_alive="30m", max_loaded_models=1)["keep_alive_s"] == 1800
