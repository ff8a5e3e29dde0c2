"""Real Chatchat 0.3.1.3 talking to the project's lab (an Ollama stand-in) on loopback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import chatchat_real as cr
import httpx
import pytest

from tuner.lab.process import LabProcess

pytestmark = pytest.mark.chatchat

CHAT_ROUTE = "POST /v1/chat/completions"


def model_requests(stats: dict[str, Any]) -> dict[str, int]:
    """Request counts by route, leaving out the lab's own /lab/ control routes."""
    return {route: n for route, n in stats["requests"].items() if " /lab/" not in route}


def chat_body(text: str, stream: bool) -> dict[str, Any]:
    return {"model": "qwen2:7b", "messages": [{"role": "user", "content": text}], "stream": stream}


def test_chatchat_answers_from_the_lab(chatchat_venv: Path, chatchat_root: Path) -> None:
    with LabProcess(profile="tiny", seed=7) as lab:
        cr.loopback_platforms(
            chatchat_root,
            f"{lab.url}/v1",
            llm_models=("qwen2:7b", "qwen:7b"),
            embed_models=("quentinz/bge-large-zh-v1.5:latest",),
            api_port=cr.free_port(),
        )
        before = lab.stats()
        with (
            cr.chatchat_api(chatchat_root, chatchat_venv) as base,
            httpx.Client(trust_env=False, timeout=60) as client,
        ):
            # Starting Chatchat sends nothing to the model platform.
            assert model_requests(lab.stats()) == model_requests(before)

            reply = client.post(
                f"{base}/chat/chat/completions", json=chat_body("why is the sky blue?", False)
            )
            assert reply.status_code == 200, reply.text
            data = reply.json()
            assert data["object"] == "chat.completion"
            assert data["model"] == "qwen2:7b"
            answer = data["choices"][0]["message"]["content"]
            assert isinstance(answer, str) and answer.strip()
            assert data["choices"][0]["finish_reason"] in ("stop", "length")
            assert data["usage"]["completion_tokens"] > 0

            with client.stream(
                "POST", f"{base}/chat/chat/completions", json=chat_body("and the sea?", True)
            ) as stream:
                assert stream.status_code == 200
                lines = [line for line in stream.iter_lines() if line.startswith("data: ")]
            chunks = [json.loads(line[len("data: ") :]) for line in lines]
            assert chunks and all(c["object"] == "chat.completion.chunk" for c in chunks)
            assert "error" not in chunks[-1]
            text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
            assert text.strip()
            assert chunks[-1]["choices"][0]["finish_reason"] in ("stop", "length")

        after = lab.stats()
    # The lab saw exactly the two chats, on its OpenAI-compatible route, each on a new connection.
    assert after["requests"].get(CHAT_ROUTE, 0) - before["requests"].get(CHAT_ROUTE, 0) == 2
    assert after["statuses"].get("200", 0) - before["statuses"].get("200", 0) >= 2
    assert after["connections_opened"] - before["connections_opened"] >= 2
    assert after["models"]["qwen2:7b"]["loads"] >= 1
