"""The code patch on ``get_ChatOpenAI``, proved on ``/chat/kb_chat`` of real Chatchat 0.3.1.3 with the lab.

Knowledge-base chat builds a LangChain ``ChatOpenAI`` per request (``get_ChatOpenAI``), not an openai client
through ``get_OpenAIClient``, so ``tests/real/test_codepatch.py`` does not cover it. The same workload runs
against a copy of the shipped package and a patched copy (see ``test_codepatch.copy_package``: the shared
venv is never written), with the same settings (``HTTPX_DEFAULT_TIMEOUT: 3``, ``api_concurrencies: 2``,
``api_max_retries: 1``).

Two labs: one serves chat (the platform ``ollama``), the other embeddings (``ollama-embed``), so that the
chat lab's connection count is the model call's alone (Chatchat embeds every query on a new connection of
its own, which the patch does not change) and a hung chat backend does not hang the query's embedding.
A faiss knowledge base gets a small CSV (CSV loads offline; plain .txt wants NLTK data from the internet).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import chatchat_real as cr
import httpx
import pytest
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from test_codepatch import (
    CHAT_ROUTE,
    CONCURRENCIES,
    MODEL,
    RETRIES,
    SETTINGS,
    TIMEOUT,
    configure,
    copy_package,
)

from tuner.codepatch import patch_state, plan_patch
from tuner.lab.process import LabProcess

pytestmark = pytest.mark.chatchat

EMBED_MODEL = "quentinz/bge-large-zh-v1.5:latest"
KB = "tune_kb"
SEQUENTIAL = 6
PARALLEL = 6
ROWS = 12


def configure_kb(root: Path, chat_url: str, embed_url: str) -> None:
    """The patch's settings on the chat platform, and a second platform for the embedding model."""
    configure(root, chat_url, SETTINGS)

    def split(data: CommentedMap) -> None:
        (chat,) = data["MODEL_PLATFORMS"]
        embed = CommentedMap(chat)
        embed["platform_name"] = "ollama-embed"
        embed["api_base_url"] = f"{embed_url}/v1"
        embed["llm_models"] = CommentedSeq([])
        embed["embed_models"] = CommentedSeq([EMBED_MODEL])
        for key in ("api_max_retries", "api_keepalive_expiry"):
            embed.pop(key, None)
        chat["embed_models"] = CommentedSeq([])
        data["MODEL_PLATFORMS"].append(embed)
        data["DEFAULT_EMBEDDING_MODEL"] = EMBED_MODEL

    cr._edit_yaml(root / "model_settings.yaml", split)


def csv_bytes() -> bytes:
    lines = ["city,river,fact"]
    lines += [f"city{i},river{i},city{i} lies on river{i} and has {i + 2} bridges" for i in range(ROWS)]
    return ("\n".join(lines) + "\n").encode("utf-8")


def make_kb(client: httpx.Client, base: str) -> None:
    made = client.post(
        f"{base}/knowledge_base/create_knowledge_base",
        json={"knowledge_base_name": KB, "vector_store_type": "faiss", "embed_model": EMBED_MODEL},
    )
    assert made.status_code == 200 and made.json()["code"] == 200, made.text
    uploaded = client.post(
        f"{base}/knowledge_base/upload_docs",
        files=[("files", ("rivers.csv", csv_bytes(), "text/csv"))],
        data={"knowledge_base_name": KB, "to_vector_store": "true", "override": "true"},
    )
    assert uploaded.status_code == 200 and uploaded.json()["code"] == 200, uploaded.text
    assert not uploaded.json()["data"]["failed_files"], uploaded.text


def kb_chat(client: httpx.Client, base: str, query: str, *, stream: bool = False) -> httpx.Response:
    body: dict[str, Any] = {
        "query": query,
        "mode": "local_kb",
        "kb_name": KB,
        "top_k": 3,
        "score_threshold": 2.0,
        "stream": stream,
        "model": MODEL,
        "max_tokens": 16,
        "temperature": 0.5,
    }
    return client.post(f"{base}/chat/kb_chat", json=body)


def reply_of(reply: httpx.Response) -> dict[str, Any]:
    """The non-streaming kb_chat reply: Chatchat returns its JSON as a JSON string."""
    data: Any = reply.json()
    if isinstance(data, str):
        data = json.loads(data)
    assert isinstance(data, dict), reply.text
    return data


def answer_of(reply: httpx.Response) -> str:
    if reply.status_code != 200:
        return ""
    data = reply_of(reply)
    choices = data.get("choices") or [{}]
    content = (choices[0].get("message") or {}).get("content")
    return content if isinstance(content, str) else ""


@dataclass(frozen=True)
class Observed:
    sequential_ok: int
    sequential_connections: int  # chat lab, the stats call's own included
    sequential_chats: int  # chat requests the chat lab received
    parallel_ok: int
    parallel_max_in_flight: int
    hang_seconds: float
    hang_status: int | None  # None: our client gave up first
    hang_answer: str | None  # the reply's answer text (None: no JSON reply)
    hang_attempts: int


def run_workload(chat_lab: LabProcess, base: str, client_timeout: float) -> Observed:
    with httpx.Client(trust_env=False, timeout=60) as client:
        make_kb(client, base)
        assert answer_of(kb_chat(client, base, "warm up: which river?")), "Chatchat did not answer"
        chat_lab.reset()
        seq_ok = sum(
            bool(answer_of(kb_chat(client, base, f"question {i}: where is city{i}?")))
            for i in range(SEQUENTIAL)
        )
        stats = chat_lab.stats()
    seq_conns, seq_chats = stats["connections_opened"], stats["requests"].get(CHAT_ROUTE, 0)

    chat_lab.reset()

    def one(i: int) -> bool:
        with httpx.Client(trust_env=False, timeout=60) as c:
            return bool(answer_of(kb_chat(c, base, f"parallel question {i}: bridges of city{i}?")))

    with ThreadPoolExecutor(PARALLEL) as pool:
        par_ok = sum(pool.map(one, range(PARALLEL)))
    par_max = chat_lab.stats()["models"][MODEL]["max_in_flight"]

    chat_lab.set_faults(hang=1.0)
    chat_lab.reset()
    t0 = time.monotonic()
    status: int | None
    text: str | None = None
    try:
        with httpx.Client(trust_env=False, timeout=client_timeout) as client:
            reply = kb_chat(client, base, "this one hangs: city3?")
            status = reply.status_code
            if status == 200:
                text = answer_of(reply)
    except httpx.TimeoutException:
        status = None
    seconds = time.monotonic() - t0
    attempts = chat_lab.stats()["requests"].get(CHAT_ROUTE, 0)
    chat_lab.set_faults()
    return Observed(seq_ok, seq_conns, seq_chats, par_ok, par_max, seconds, status, text, attempts)


@pytest.fixture
def labs() -> Iterator[tuple[LabProcess, LabProcess]]:
    # Chat: cpu-7b at 1/20 speed, one request at a time (OLLAMA_NUM_PARALLEL=1), so concurrent chats pile
    # up at the lab unless Chatchat bounds them. Embeddings: tiny, fast.
    with (
        LabProcess(profile="cpu-7b", time_scale=0.05, seed=5) as chat_lab,
        LabProcess(profile="tiny", seed=6) as embed_lab,
    ):
        yield chat_lab, embed_lab


@pytest.mark.timeout(240)
def test_shipped_kb_chat_ignores_the_settings(
    chatchat_venv: Path, chatchat_root: Path, labs: tuple[LabProcess, LabProcess], tmp_path: Path
) -> None:
    """The baseline: a new ChatOpenAI (and connection) per KB chat, no pool bound, no time bound."""
    chat_lab, embed_lab = labs
    copy = copy_package(chatchat_venv, tmp_path / "pkg")
    assert patch_state(copy.pkg).state == "absent"
    configure_kb(chatchat_root, chat_lab.url, embed_lab.url)
    with cr.chatchat_api(chatchat_root, chatchat_venv, env=copy.env) as base:
        seen = run_workload(chat_lab, base, client_timeout=8.0)
    print(seen)
    assert seen.sequential_ok == SEQUENTIAL
    assert seen.sequential_chats == SEQUENTIAL
    assert seen.sequential_connections >= SEQUENTIAL  # a new connection per KB chat
    assert seen.parallel_ok == PARALLEL
    assert seen.parallel_max_in_flight > CONCURRENCIES  # api_concurrencies is not applied
    assert seen.hang_status is None  # HTTPX_DEFAULT_TIMEOUT: 3 did not bound the call within 8 s
    assert seen.hang_attempts == 1


@pytest.mark.timeout(240)
def test_patched_kb_chat_reuses_connections_bounds_time_and_concurrency(
    chatchat_venv: Path, chatchat_root: Path, labs: tuple[LabProcess, LabProcess], tmp_path: Path
) -> None:
    chat_lab, embed_lab = labs
    copy = copy_package(chatchat_venv, tmp_path / "pkg")
    for path, _before, after in plan_patch(copy.pkg):
        path.write_bytes(after)
    assert patch_state(copy.pkg).state == "applied"
    configure_kb(chatchat_root, chat_lab.url, embed_lab.url)
    with cr.chatchat_api(chatchat_root, chatchat_venv, env=copy.env) as base:
        seen = run_workload(chat_lab, base, client_timeout=60.0)
        with httpx.Client(trust_env=False, timeout=60) as client:
            assert answer_of(kb_chat(client, base, "after the hang: city1?")), "no answer after recovery"
            # Streaming (the UI's default) still streams: the documents first, then the answer's tokens.
            with client.stream(
                "POST",
                f"{base}/chat/kb_chat",
                json={"query": "stream: city2?", "kb_name": KB, "model": MODEL, "max_tokens": 16},
            ) as stream:
                assert stream.status_code == 200
                chunks = [
                    json.loads(line[len("data: ") :])
                    for line in stream.iter_lines()
                    if line.startswith("data: ")
                ]
    print(seen)
    assert seen.sequential_ok == SEQUENTIAL
    assert seen.sequential_chats == SEQUENTIAL
    assert seen.sequential_connections <= 2  # one pooled connection, reused (plus the stats call)
    assert seen.parallel_ok == PARALLEL  # the others queued; none was refused
    assert 1 <= seen.parallel_max_in_flight <= CONCURRENCIES
    # A hung backend: (retries + 1) attempts of TIMEOUT each, then Chatchat answers. kb_chat's wrap_done
    # logs the model error and the non-streaming reply is HTTP 200 with an empty answer.
    assert seen.hang_status == 200 and seen.hang_answer == "", seen
    assert seen.hang_attempts == RETRIES + 1
    assert TIMEOUT * (RETRIES + 1) <= seen.hang_seconds < 20.0
    assert chunks and "docs" in chunks[0] and "error" not in chunks[-1], chunks[-3:]
    tokens = [c["choices"][0]["delta"]["content"] for c in chunks[1:] if c.get("choices")]
    assert len(tokens) > 1 and "".join(tokens).strip()
