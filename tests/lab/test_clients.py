"""The official ``ollama`` and ``openai`` clients work unchanged against the lab (its own process)."""

from __future__ import annotations

import math
from datetime import datetime, timezone

import httpx
import ollama
import openai
import pytest

from tuner.lab.process import LabProcess

MODEL = "qwen2:7b"
EMBED = "quentinz/bge-large-zh-v1.5:latest"


@pytest.fixture(scope="module")
def client(tiny_lab: LabProcess) -> ollama.Client:
    return ollama.Client(host=tiny_lab.url, trust_env=False)


@pytest.fixture(scope="module")
def oai(tiny_lab: LabProcess) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=tiny_lab.url + "/v1", api_key="lab", http_client=httpx.Client(trust_env=False), max_retries=0
    )


def test_ollama_chat(client: ollama.Client) -> None:
    reply = client.chat(model=MODEL, messages=[{"role": "user", "content": "hello lab"}])
    assert reply.done and reply.done_reason == "stop"
    assert reply.message.role == "assistant" and reply.message.content
    assert reply.eval_count == len(reply.message.content.split())
    assert reply.prompt_eval_count == 2
    assert reply.total_duration is not None and reply.load_duration is not None
    assert reply.total_duration >= reply.load_duration > 0


def test_ollama_chat_streaming_ends_with_done(client: ollama.Client) -> None:
    parts = list(client.chat(model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True))
    assert all(not p.done for p in parts[:-1]) and parts[-1].done
    text = "".join(p.message.content or "" for p in parts)
    assert parts[-1].eval_count == len(text.split())


def test_ollama_generate_with_num_predict(client: ollama.Client) -> None:
    reply = client.generate(model=MODEL, prompt="count to five", options={"num_predict": 5})
    assert reply.done_reason == "length" and reply.eval_count == 5
    assert len(reply.response.split()) == 5


def test_ollama_generate_is_deterministic(client: ollama.Client) -> None:
    a = client.generate(model=MODEL, prompt="same prompt").response
    b = client.generate(model=MODEL, prompt="same prompt").response
    assert a == b


def test_ollama_list_show_ps(client: ollama.Client) -> None:
    names = {m.model for m in client.list().models}
    assert {"qwen2:7b", "qwen:7b", EMBED} <= names
    shown = client.show(MODEL)
    assert shown.details is not None and shown.details.family == "qwen2"
    client.generate(model=MODEL, prompt="warm", keep_alive="10m")
    running = {m.model: m for m in client.ps().models}
    assert MODEL in running
    assert running[MODEL].size and running[MODEL].expires_at is not None
    assert running[MODEL].expires_at > datetime.now(timezone.utc)


def test_ollama_keep_alive_unload_and_preload(client: ollama.Client) -> None:
    assert client.generate(model=MODEL, keep_alive=0).done_reason == "unload"
    assert MODEL not in {m.model for m in client.ps().models}
    assert client.generate(model=MODEL, keep_alive=-1).done_reason == "load"
    running = {m.model: m for m in client.ps().models}
    assert running[MODEL].expires_at is not None and running[MODEL].expires_at.year > 2200


def test_ollama_unknown_model_is_404(client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as err:
        client.chat(model="nope:1b", messages=[{"role": "user", "content": "x"}])
    assert err.value.status_code == 404 and err.value.error == "model 'nope:1b' not found"


def test_ollama_embed_and_embeddings(client: ollama.Client) -> None:
    out = client.embed(model=EMBED, input=["first text", "second text"])
    assert len(out.embeddings) == 2 and len(out.embeddings[0]) == 1024
    assert math.isclose(sum(v * v for v in out.embeddings[0]), 1.0, rel_tol=1e-6)
    legacy = client.embeddings(model=EMBED, prompt="first text")
    assert legacy.embedding == pytest.approx(out.embeddings[0])


def test_openai_chat(oai: openai.OpenAI) -> None:
    done = oai.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=7
    )
    assert done.choices[0].finish_reason == "length"
    assert done.usage is not None and done.usage.completion_tokens == 7
    assert len((done.choices[0].message.content or "").split()) == 7


def test_openai_streaming_with_usage(oai: openai.OpenAI) -> None:
    stream = oai.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "hi there"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == len(text.split())
    assert chunks[-1].usage.prompt_tokens == 2


def test_openai_completions_models_embeddings(oai: openai.OpenAI) -> None:
    done = oai.completions.create(model=MODEL, prompt="say", max_tokens=3)
    assert done.choices[0].finish_reason == "length" and len(done.choices[0].text.split()) == 3
    assert {m.id for m in oai.models.list()} >= {MODEL, EMBED}
    emb = oai.embeddings.create(model=EMBED, input=["a b", "c"])
    assert len(emb.data) == 2 and len(emb.data[1].embedding) == 1024


def test_openai_errors(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as err:
        oai.chat.completions.create(model="missing:1b", messages=[{"role": "user", "content": "x"}])
    assert err.value.body == {
        "message": "model 'missing:1b' not found",
        "type": "not_found_error",
        "param": None,
        "code": None,
    }
    with pytest.raises(openai.BadRequestError):
        oai.chat.completions.create(model=MODEL, messages=[])
