"""The embedding model in the lab: its own load and rate, every embedding route, and one residency budget
shared with the chat model (``max_loaded_models`` and, with ``vram_bytes``, the GPU's memory)."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest

from tuner.lab.process import LabProcess
from tuner.lab.profiles import EMBED_MODEL, get_profile
from tuner.lab.sim import embedding_vector

CHAT = "qwen2:7b"
# As tests/lab/conftest.py's models: a 30 s chat load, a 1 s embedding load (× time_scale 0.01).
SLOW = {
    "name": CHAT,
    "size_bytes": 4_400_000_000,
    "size_vram": 0,
    "load_seconds": 30.0,
    "prompt_tokens_per_s": 1_000_000.0,
    "gen_tokens_per_s": 1.0,
}
EMBED = {**SLOW, "name": EMBED_MODEL, "family": "bert", "load_seconds": 1.0}


def resident(lab: LabProcess) -> set[str]:
    data = httpx.get(f"{lab.url}/api/ps", timeout=10).json()
    return {m["name"] for m in data["models"]}


def chat(lab: LabProcess) -> dict[str, Any]:
    body = {"model": CHAT, "prompt": "hello there", "stream": False, "options": {"num_predict": 2}}
    data: dict[str, Any] = httpx.post(f"{lab.url}/api/generate", json=body, timeout=30).json()
    return data


def embed(lab: LabProcess, texts: list[str]) -> dict[str, Any]:
    body = {"model": EMBED_MODEL, "input": texts}
    data: dict[str, Any] = httpx.post(f"{lab.url}/api/embed", json=body, timeout=60).json()
    return data


def test_every_embedding_route_answers_in_its_own_shape(tiny_lab: LabProcess) -> None:
    url = tiny_lab.url
    batch = httpx.post(f"{url}/api/embed", json={"model": EMBED_MODEL, "input": ["a b", "c"]}, timeout=10)
    one = httpx.post(f"{url}/api/embeddings", json={"model": EMBED_MODEL, "prompt": "a b"}, timeout=10)
    v1 = httpx.post(f"{url}/v1/embeddings", json={"model": EMBED_MODEL, "input": ["a b"]}, timeout=10)
    assert [len(v) for v in batch.json()["embeddings"]] == [1024, 1024]
    assert batch.json()["prompt_eval_count"] == 3
    assert one.json()["embedding"] == batch.json()["embeddings"][0]
    assert v1.json()["data"][0]["embedding"] == batch.json()["embeddings"][0]
    assert v1.json()["usage"]["prompt_tokens"] == 2


def test_vectors_are_deterministic_unit_vectors() -> None:
    v = embedding_vector("ten words", 1024)
    assert v == embedding_vector("ten words", 1024) != embedding_vector("other words", 1024)
    assert abs(sum(x * x for x in v) - 1.0) < 1e-5


def test_embedding_has_its_own_load_and_per_text_rate(make_lab: Any) -> None:
    # load 1.0 s and 1 word/s at time_scale 0.01: a cold call pays ~10 ms load, then 10 ms per word.
    slow_embed = {**EMBED, "prompt_tokens_per_s": 1.0}
    lab = make_lab(max_loaded_models=3, models=[SLOW, slow_embed])
    first = embed(lab, ["one two", "three"])
    warm = embed(lab, ["one two", "three"])
    assert first["load_duration"] >= 0.01e9 > warm["load_duration"]
    assert first["prompt_eval_count"] == 3
    assert warm["total_duration"] - warm["load_duration"] >= 0.03e9  # three words at 1 word/s, × 0.01
    assert EMBED_MODEL in resident(lab)


def test_a_fixed_cost_per_text_adds_up_over_a_batch(make_lab: Any) -> None:
    per_text = {**EMBED, "embed_seconds_per_text": 2.0}  # × time_scale 0.01: 20 ms per text
    lab = make_lab(models=[SLOW, per_text])
    embed(lab, ["warm"])
    batch = embed(lab, ["a", "b", "c"])
    assert batch["total_duration"] - batch["load_duration"] >= 0.06e9


def test_one_model_slot_makes_chat_and_embedding_evict_each_other(make_lab: Any) -> None:
    lab = make_lab(max_loaded_models=1)
    chat(lab)
    assert resident(lab) == {CHAT}
    embed(lab, ["evict the chat model"])
    assert resident(lab) == {EMBED_MODEL}
    again = chat(lab)
    assert resident(lab) == {CHAT}
    assert again["load_duration"] >= 0.3e9  # the chat model loaded again (30 s × 0.01)
    models = lab.stats()["models"]
    assert models[CHAT]["loads"] == 2 and models[EMBED_MODEL]["unloads"] == 1


def test_room_for_two_keeps_both(make_lab: Any) -> None:
    lab = make_lab(max_loaded_models=2)
    chat(lab)
    embed(lab, ["stay"])
    chat(lab)
    assert resident(lab) == {CHAT, EMBED_MODEL}
    assert lab.stats()["models"][CHAT]["loads"] == 1


def test_small_gpu_profile_cannot_hold_both() -> None:
    profile = get_profile("small-gpu")
    chat_spec, embed_spec = profile.model(CHAT), profile.model(EMBED_MODEL)
    assert chat_spec is not None and embed_spec is not None
    assert chat_spec.size_vram + embed_spec.size_vram > profile.vram_bytes >= chat_spec.size_vram
    assert profile.max_loaded_models >= 2  # memory, not the model count, is what evicts
    with LabProcess("small-gpu", time_scale=0.01) as lab:
        chat(lab)
        embed(lab, ["the gpu is full"])
        assert resident(lab) == {EMBED_MODEL}
        chat(lab)
        assert resident(lab) == {CHAT}


def test_memory_budget_keeps_both_when_they_fit() -> None:
    with LabProcess("small-gpu", time_scale=0.01, vram_bytes=6_000_000_000) as lab:
        chat(lab)
        embed(lab, ["room enough"])
        assert resident(lab) == {CHAT, EMBED_MODEL}


@pytest.mark.timeout(120)
def test_a_huge_batch_does_not_stall_other_clients(make_lab: Any) -> None:
    lab = make_lab(profile="zero", models=None)
    chat(lab)  # both models resident before the race
    embed(lab, ["warm"])
    texts = [f"text number {i}" for i in range(5000)]
    done = threading.Event()
    sizes: list[int] = []

    def big() -> None:
        sizes.append(len(embed(lab, texts)["embeddings"]))
        done.set()

    worker = threading.Thread(target=big)
    worker.start()
    time.sleep(0.05)
    waits: list[float] = []
    while not done.is_set():
        t0 = time.perf_counter()
        httpx.get(f"{lab.url}/api/version", timeout=30)
        waits.append(time.perf_counter() - t0)
        time.sleep(0.02)
    worker.join()
    assert sizes == [5000]
    # The vectors and the 50 MB answer are made off the event loop: other requests were answered meanwhile
    # (before, the loop stalled for the whole batch and one poll spanned it).
    assert len(waits) >= 3, waits
