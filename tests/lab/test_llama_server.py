"""The lab served with ``--engine llama-cpp`` answers the official ollama and openai clients."""

from __future__ import annotations

import importlib.util
import math
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import ollama
import openai
import pytest

from tuner.lab.process import LabProcess

HAVE_LLAMA = all(importlib.util.find_spec(m) is not None for m in ("llama_cpp", "gguf"))
pytestmark = [
    pytest.mark.llama,
    pytest.mark.skipif(
        not HAVE_LLAMA,
        reason="llama-cpp-python and gguf are not installed (pip install 'chatchat-tune[llama]')",
    ),
    pytest.mark.timeout(180),
]

CHAT = "qwen2:7b"  # the tiny profile's names; with --engine llama-cpp every one is the tiny GGUF
OTHER = "qwen:7b"
EMBED = "quentinz/bge-large-zh-v1.5"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabProcess]:
    from tuner.lab.tinymodel import ensure_tiny_model

    model = ensure_tiny_model(tmp_path_factory.mktemp("tiny-cache"))
    with LabProcess(profile="tiny", engine="llama-cpp", model_path=model, time_scale=1.0, seed=3) as proc:
        yield proc


def ollama_client(lab: LabProcess) -> ollama.Client:
    return ollama.Client(host=lab.url, timeout=60, trust_env=False)


def openai_client(lab: LabProcess) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=lab.url + "/v1", api_key="unused", max_retries=0, http_client=httpx.Client(trust_env=False)
    )


def test_ollama_chat_runs_real_inference_and_reports_engine_counts(lab: LabProcess) -> None:
    client = ollama_client(lab)
    messages = [{"role": "user", "content": "hello, how are you?"}]
    first = client.chat(model=CHAT, messages=messages, options={"num_predict": 8, "seed": 42})
    assert first.done and first.done_reason == "length"
    assert first.message.role == "assistant" and first.message.content.strip()
    assert first.eval_count == 8
    assert first.prompt_eval_count > 5  # the chat template's markers count
    assert first.eval_duration > 0 and first.prompt_eval_duration > 0 and first.total_duration > 0
    again = client.chat(model=CHAT, messages=messages, options={"num_predict": 8, "seed": 42})
    assert again.message.content == first.message.content  # same seed, same text


def test_ollama_generate_streams_until_done(lab: LabProcess) -> None:
    client = ollama_client(lab)
    parts = list(client.generate(model=CHAT, prompt="tell me more", stream=True, options={"num_predict": 6}))
    assert len(parts) >= 3
    assert all(not p.done for p in parts[:-1]) and parts[-1].done
    assert parts[-1].eval_count == 6 and parts[-1].done_reason == "length"
    assert "".join(p.response for p in parts).strip()


def test_ollama_ps_lists_the_model_and_keep_alive_zero_unloads_it(lab: LabProcess) -> None:
    client = ollama_client(lab)
    client.generate(model=OTHER, prompt="warm up", options={"num_predict": 2})
    assert OTHER in [m.model for m in client.ps().models]
    done = client.generate(model=OTHER, prompt="bye", keep_alive=0, options={"num_predict": 2})
    assert done.done
    deadline = time.monotonic() + 10
    while OTHER in [m.model for m in client.ps().models]:
        assert time.monotonic() < deadline, "keep_alive 0 did not unload the model"
        time.sleep(0.05)


def test_ollama_embed_gives_normalised_vectors(lab: LabProcess) -> None:
    client = ollama_client(lab)
    result = client.embed(model=EMBED, input=["知识库", "knowledge base"])
    assert len(result.embeddings) == 2
    for vector in result.embeddings:
        assert len(vector) == 64  # the tiny model's width
        assert math.isclose(math.fsum(x * x for x in vector), 1.0, rel_tol=1e-3)


def test_openai_chat_completion(lab: LabProcess) -> None:
    client = openai_client(lab)
    reply = client.chat.completions.create(
        model=CHAT, messages=[{"role": "user", "content": "hi"}], max_tokens=6
    )
    assert reply.choices[0].finish_reason == "length"
    assert reply.choices[0].message.content.strip()
    assert reply.usage.completion_tokens == 6 and reply.usage.prompt_tokens > 0


def test_openai_streaming_chat(lab: LabProcess) -> None:
    client = openai_client(lab)
    stream = client.chat.completions.create(
        model=CHAT, messages=[{"role": "user", "content": "hi"}], max_tokens=6, stream=True
    )
    chunks = [c for c in stream if c.choices]
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text.strip()
    assert chunks[-1].choices[0].finish_reason == "length"


def test_serve_without_model_path_writes_the_tiny_model_to_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHATCHAT_TUNE_CACHE", str(tmp_path / "cache"))
    with LabProcess(profile="tiny", engine="llama-cpp") as proc:
        reply = ollama_client(proc).generate(model=CHAT, prompt="hi", options={"num_predict": 3})
        assert reply.eval_count == 3
    assert [p.suffix for p in (tmp_path / "cache").iterdir()] == [".gguf"]
