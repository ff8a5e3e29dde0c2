"""The knowledge-base path as an install's files say (per version) and a KB's corpus read from disk,
read-only: documents, chunks from info.db, the vector store's size (facts: docs/versions.md)."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

from tests.conftest import FIXTURES
from tuner.install.kb import kb_settings, read_corpus
from tuner.install.loading import open_install


def _copy(tmp_path: Path, name: str) -> Path:
    dest = tmp_path / name
    shutil.copytree(FIXTURES / name, dest)
    return dest


def _point_data_at(root: Path, data: Path) -> None:
    basic = root / "basic_settings.yaml"
    text = basic.read_text(encoding="utf-8").replace("/home/demo/chatchat/data", data.as_posix())
    basic.write_text(text, encoding="utf-8")


def _make_kb(kb_root: Path, name: str) -> Path:
    content = kb_root / name / "content"
    (content / "sub").mkdir(parents=True)
    (content / "a.csv").write_bytes(b"x" * 3000)
    (content / "sub" / "b.json").write_bytes(b"y" * 100)
    store = kb_root / name / "vector_store" / "quentinz" / "bge-large-zh-v1.5_latest"
    store.mkdir(parents=True)
    (store / "index.faiss").write_bytes(b"\0" * 4096)
    (store / "index.pkl").write_bytes(b"\0" * 512)
    db = kb_root / "info.db"
    with closing(sqlite3.connect(db)) as con:
        con.execute("CREATE TABLE knowledge_file (id INTEGER PRIMARY KEY, kb_name TEXT, docs_count INTEGER)")
        con.executemany(
            "INSERT INTO knowledge_file (kb_name, docs_count) VALUES (?, ?)",
            [(name, 40), (name, 2), ("other", 99)],
        )
        con.commit()
    return db


def test_031_settings_and_the_corpus_on_disk(tmp_path: Path) -> None:
    root = _copy(tmp_path, "chatchat-0.3.1")
    data = tmp_path / "数据"  # a Chinese path, as users have
    _point_data_at(root, data)
    db = _make_kb(data / "knowledge_base", "samples")
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    s = kb_settings(open_install(root))
    assert s is not None
    assert (s.kb, s.top_k, s.score_threshold, s.vs_type, s.chunk_size) == ("samples", 3, 2.0, "faiss", 750)
    assert s.bm25 and s.layout.chat_route == "/chat/kb_chat" and s.layout.embed_calls_per_chat == 3
    assert s.embed_model == "bge-m3" and s.embed is None
    assert not s.embed_unlisted  # the stock xinference platform auto-detects: it may serve bge-m3
    corpus = read_corpus(s)
    assert corpus.exists and corpus.documents == 2 and corpus.document_bytes == 3100
    assert corpus.largest_document == "a.csv" and corpus.largest_document_bytes == 3000
    assert corpus.chunks == 42
    assert corpus.index_bytes == 4608 and corpus.vector_store == "quentinz/bge-large-zh-v1.5_latest"
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before  # opened read-only


def test_031_embedding_endpoint_of_an_ollama_platform(tmp_path: Path) -> None:
    root = _copy(tmp_path, "chatchat-0.3.1")
    models = root / "model_settings.yaml"
    text = models.read_text(encoding="utf-8").replace(
        "DEFAULT_EMBEDDING_MODEL: bge-m3", "DEFAULT_EMBEDDING_MODEL: quentinz/bge-large-zh-v1.5"
    )
    models.write_text(text, encoding="utf-8")
    s = kb_settings(open_install(root), "mine")
    assert s is not None and s.kb == "mine" and s.default_kb == "samples"
    assert s.embed is not None
    assert s.embed.url == "http://127.0.0.1:11434/api/embeddings"
    assert s.embed.protocol == "ollama-embeddings" and s.embed.root == "http://127.0.0.1:11434"
    assert not read_corpus(s).exists


def test_0210_settings_from_kb_config(tmp_path: Path) -> None:
    root = _copy(tmp_path, "chatchat-0.2.10")
    s = kb_settings(open_install(root))
    assert s is not None
    assert s.layout.chat_route == "/chat/knowledge_base_chat"
    assert s.layout.chat_kb_key == "knowledge_base_name"
    assert (s.top_k, s.score_threshold, s.chunk_size) == (3, 1.0, 250)
    assert not s.bm25 and s.embed is None and not s.embed_unlisted
    assert s.kb_root == root / "knowledge_base"


def test_020_keeps_kb_settings_in_model_config(tmp_path: Path) -> None:
    root = _copy(tmp_path, "chatchat-v0.2.0")
    s = kb_settings(open_install(root))
    assert s is not None
    assert s.layout.top_k.role == "model_config" and s.layout.search_route == ""
