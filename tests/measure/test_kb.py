"""Parsing a KB answer's frames (pure): 0.3.x's documents frame and OpenAI-style chunks, 0.2.x's
``{"answer": ...}`` tokens, and the request bodies each version's routes take."""

from __future__ import annotations

from dataclasses import replace

from tuner.install.kb import KbSettings
from tuner.install.layout import KB_02, KB_031
from tuner.measure.kb import _content, _frame, chat_body, search_body

SETTINGS = KbSettings(
    kb="samples", default_kb="samples", top_k=3, score_threshold=2.0, vs_type="faiss", chunk_size=750,
    embed_model="bge-m3", kb_root=None, db_path=None, bm25=True, embed=None, layout=KB_031,
)  # fmt: skip


def test_frames() -> None:
    docs = _frame('data: {"docs": ["[1] a"], "choices": [{"delta": {"content": ""}}]}')
    assert docs is not None and docs["docs"] == ["[1] a"] and _content(docs) == ""
    token = _frame('data: {"choices": [{"delta": {"content": "hi"}}]}')
    assert token is not None and _content(token) == "hi"
    assert _content({"answer": "你好"}) == "你好"  # 0.2.x
    assert _frame(": ping") is None and _frame("data: not json") is None and _frame("") is None


def test_bodies_per_version() -> None:
    b031 = chat_body(SETTINGS, "qwen2:7b", "q", 8)
    assert b031["kb_name"] == "samples" and b031["mode"] == "local_kb" and b031["model"] == "qwen2:7b"
    b02 = chat_body(replace(SETTINGS, layout=KB_02), "m", "q", 8)
    assert b02["knowledge_base_name"] == "samples" and b02["model_name"] == "m" and "mode" not in b02
    assert search_body(SETTINGS, "q") == {
        "query": "q", "knowledge_base_name": "samples", "top_k": 3, "score_threshold": 2.0,
    }  # fmt: skip
