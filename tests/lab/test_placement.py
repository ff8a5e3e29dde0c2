"""The lab's placement physics: CPU share slows generation, the context cuts prompts, loads time out.

Each scenario runs the lab in its own process and talks to it with the official ``ollama`` client.
"""

from __future__ import annotations

import itertools
import math
import time
from typing import Any

import httpx
import ollama
import pytest

from tuner.lab.engine import ModelSpec
from tuner.lab.placement import cpu_share, fit_prompt, gen_rate, load_limit

GB = 1_000_000_000
BASE: dict[str, Any] = {
    "name": "qwen2:7b",
    "size_bytes": 4 * GB,
    "size_vram": 4 * GB,
    "load_seconds": 0.1,
    "prompt_tokens_per_s": 1_000_000.0,
    "gen_tokens_per_s": 400.0,  # wholly in VRAM
    "cpu_tokens_per_s": 40.0,  # wholly on the CPU
}


def spec(**kw: Any) -> ModelSpec:
    return ModelSpec(**{**BASE, **kw})


def test_rate_falls_with_the_cpu_share() -> None:
    rates = [gen_rate(spec(size_vram=int(4 * GB * (1 - c)))) for c in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert rates[0] == 400.0 and rates[-1] == 40.0
    assert all(a > b for a, b in itertools.pairwise(rates))
    assert rates[2] == pytest.approx(1 / (0.5 / 400 + 0.5 / 40))  # seconds per token add up
    assert cpu_share(spec(size_vram=GB)) == pytest.approx(0.75)
    assert gen_rate(spec(size_vram=0, cpu_tokens_per_s=None)) == 400.0  # no CPU rate: as given


def test_fit_prompt_drops_old_messages_then_cuts() -> None:
    assert fit_prompt([("system", 10), ("user", 20)], 64) == (30, False)
    # the oldest non-system message goes first; the system prompt and the last message stay
    assert fit_prompt([("system", 10), ("user", 30), ("assistant", 30), ("user", 20)], 64) == (60, True)
    assert fit_prompt([("user", 500)], 64) == (64, True)  # one message longer than the context: cut
    assert load_limit(300, 0.01) == pytest.approx(3.0) and load_limit(0, 1.0) is None


def _client(lab: Any) -> ollama.Client:
    return ollama.Client(host=lab.url, trust_env=False)


def _rate(reply: Any) -> float:
    return float(reply.eval_count / (reply.eval_duration / 1e9))


def test_partly_offloaded_model_generates_slower_and_ps_says_so(make_lab: Any) -> None:
    half = {**BASE, "size_vram": 2 * GB}
    lab = make_lab(time_scale=1.0, models=[half, {**BASE, "name": "qwen:7b", "size_vram": 4 * GB}])
    client = _client(lab)
    slow = client.generate(model="qwen2:7b", prompt="hi", options={"num_predict": 24})
    fast = client.generate(model="qwen:7b", prompt="hi", options={"num_predict": 24})
    assert _rate(slow) == pytest.approx(1 / (0.5 / 400 + 0.5 / 40), rel=0.35)
    assert _rate(fast) > 3 * _rate(slow)
    ps = {m.model: m for m in client.ps().models}
    assert ps["qwen2:7b"].size == 4 * GB and ps["qwen2:7b"].size_vram == 2 * GB
    assert ps["qwen2:7b"].context_length == 4096


def test_prompt_longer_than_the_context_is_cut(make_lab: Any) -> None:
    lab = make_lab(models=[{**BASE, "size_vram": 4 * GB}], default_num_ctx=64)
    client = _client(lab)
    long = " ".join(["word"] * 300)
    reply = client.chat(model="qwen2:7b", messages=[{"role": "user", "content": long}])
    assert reply.prompt_eval_count == 64  # capped at the loaded context, as Ollama does
    bigger = client.chat(
        model="qwen2:7b", messages=[{"role": "user", "content": long}], options={"num_ctx": 512}
    )
    assert bigger.prompt_eval_count == 300
    assert {m.model: m.context_length for m in client.ps().models}["qwen2:7b"] == 512


def test_a_different_num_ctx_reloads_the_resident_model(make_lab: Any) -> None:
    lab = make_lab(models=[{**BASE, "size_vram": 4 * GB, "load_seconds": 20.0}])
    client = _client(lab)
    client.generate(model="qwen2:7b", prompt="a", options={"num_predict": 1})
    warm = client.generate(model="qwen2:7b", prompt="b", options={"num_predict": 1})
    assert [m.model for m in client.ps().models] == ["qwen2:7b"]
    other = client.generate(model="qwen2:7b", prompt="c", options={"num_predict": 1, "num_ctx": 8192})
    assert other.load_duration > 0.1e9 > warm.load_duration  # reloaded while resident
    assert lab.stats()["loads"] == 2


def test_a_load_longer_than_the_load_timeout_fails_like_ollama(make_lab: Any) -> None:
    lab = make_lab(models=[{**BASE, "load_seconds": 100.0}], load_timeout=30.0)  # 1.0 s vs 0.3 s
    t0 = time.perf_counter()
    r = httpx.post(
        lab.url + "/api/generate",
        json={"model": "qwen2:7b", "prompt": "x", "stream": False},
        timeout=10,
        trust_env=False,
    )
    assert r.status_code == 500
    assert r.json() == {"error": "timed out waiting for llama runner to start - progress 0.00 - "}
    assert 0.25 < time.perf_counter() - t0 < 1.0
    assert lab.stats()["models"]["qwen2:7b"]["load_timeouts"] == 1
    assert httpx.get(lab.url + "/api/ps", trust_env=False).json()["models"] == []
    with pytest.raises(ollama.ResponseError) as caught:
        _client(lab).generate(model="qwen2:7b", prompt="x")
    assert caught.value.status_code == 500 and "timed out waiting for llama runner" in str(caught.value)


def test_a_load_within_the_timeout_succeeds(make_lab: Any) -> None:
    lab = make_lab(models=[{**BASE, "load_seconds": 10.0}], load_timeout=30.0)
    reply = _client(lab).generate(model="qwen2:7b", prompt="x", options={"num_predict": 1})
    assert reply.done and math.isclose(reply.load_duration / 1e9, 0.1, rel_tol=0.6)
