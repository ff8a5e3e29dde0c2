"""Real Chatchat 0.3.1.3 serving `/chat/chat/completions` from an OpenAI-compatible stub on loopback.

This pins down the request and response shapes Chatchat uses, independently of the lab.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import chatchat_real as cr
import httpx
import pytest

pytestmark = pytest.mark.chatchat


def test_chat_completions_through_chatchat(
    chatchat_venv: Path, chatchat_root: Path, stub_backend: cr.Backend, tmp_path: Path
) -> None:
    opened_before = stub_backend.stats()["connections"]
    cr.loopback_platforms(
        chatchat_root, stub_backend.base_url, llm_models=("stub-model",), api_port=cr.free_port()
    )
    with (
        cr.chatchat_api(chatchat_root, chatchat_venv) as base,
        httpx.Client(trust_env=False, timeout=60) as client,
    ):
        body: dict[str, Any] = {"model": "stub-model", "messages": [{"role": "user", "content": "ping one"}]}
        reply = client.post(f"{base}/chat/chat/completions", json=body)
        assert reply.status_code == 200, reply.text
        data = reply.json()
        # OpenAI's chat.completion object, plus Chatchat's own message_id/status fields.
        assert data["object"] == "chat.completion"
        assert data["choices"][0]["message"]["content"] == "stub says: ping one"
        assert data["choices"][0]["finish_reason"] == "stop"
        assert data["usage"]["completion_tokens"] == 4
        assert data["message_id"] is None and data["status"] is None

        body = {"model": "stub-model", "messages": [{"role": "user", "content": "ping two"}], "stream": True}
        with client.stream("POST", f"{base}/chat/chat/completions", json=body) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = [line for line in stream.iter_lines() if line]
        # SSE `data: {chunk}` frames; Chatchat does not forward the backend's `data: [DONE]`.
        assert all(line.startswith("data: {") for line in lines)
        chunks = [json.loads(line[len("data: ") :]) for line in lines]
        assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
        text = "".join(c["choices"][0]["delta"]["content"] or "" for c in chunks)
        assert text == "stub says: ping two"
        assert chunks[-1]["choices"][0]["finish_reason"] == "stop"

        # A running server re-reads a settings file when its mtime (whole seconds) changes: a new platform
        # URL takes effect on the next request, no restart.
        with cr.stub_backend(tmp_path / "stub2.log") as second:
            cr.loopback_platforms(
                chatchat_root,
                second.base_url,
                llm_models=("stub-model",),
                api_port=cr.api_port(chatchat_root),
            )
            body = {"model": "stub-model", "messages": [{"role": "user", "content": "ping three"}]}
            reply = client.post(f"{base}/chat/chat/completions", json=body)
            assert reply.json()["choices"][0]["message"]["content"] == "stub says: ping three"
            assert second.stats()["chat_requests"] == 1

    stats = stub_backend.stats()
    assert stats["chat_requests"] == 2 and stats["stream_requests"] == 1
    bodies = stats["bodies"]
    assert isinstance(bodies, list)
    # What Chatchat forwards: model, messages, stream when asked, and max_tokens: null (MAX_TOKENS unset);
    # not its TEMPERATURE setting (only fields the client set are sent).
    assert bodies[0] == {
        "model": "stub-model",
        "messages": [{"role": "user", "content": "ping one"}],
        "max_tokens": None,
    }
    assert bodies[1]["stream"] is True and "temperature" not in bodies[1]
    # A new client per request: each request opened its own TCP connection (+1 for this stats call).
    assert stats["connections"] == opened_before + 2 + 1
