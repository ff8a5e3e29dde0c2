"""An install's knowledge-base path as its files say: the settings (asked of ``layout.kb``), the embedding
model's endpoint, and a knowledge base's corpus as it lies on disk (read only, never written).

The corpus is read from the files Chatchat keeps under its knowledge-base root: ``<root>/<kb>/content/``
(the uploaded documents), ``<root>/<kb>/vector_store/<name>/index.faiss`` and ``index.pkl`` (sizes only; a
pickle is never loaded), and the chunk counts Chatchat records in ``info.db`` (``knowledge_file.docs_count``,
opened read-only). Facts: docs/versions.md, "Knowledge base".
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tuner.install.endpoints import server_root
from tuner.install.environ import as_number

if TYPE_CHECKING:
    from tuner.install.files import LoadedInstall
    from tuner.install.layout import KbLayout, Where

MAX_FILES = 100_000  # a corpus walk stops counting here
MAX_STORES = 100


@dataclass(frozen=True, kw_only=True)
class EmbedEndpoint:
    """Where Chatchat sends the embedding model's requests, and in which protocol."""

    model: str
    platform: str  # the entry's name ("ollama")
    url: str  # the full request URL (".../api/embeddings" or ".../v1/embeddings")
    root: str  # the server root (for /api/ps and /api/tags; "" when not an Ollama)
    protocol: str  # "ollama-embeddings" (one text per request) or "openai" (/v1/embeddings)


@dataclass(frozen=True, kw_only=True)
class KbSettings:
    kb: str  # the knowledge base measured (--kb, else the install's default)
    default_kb: str
    top_k: int
    score_threshold: float
    vs_type: str
    chunk_size: int
    embed_model: str
    kb_root: Path | None
    db_path: Path | None
    bm25: bool  # the BM25 + faiss ensemble retriever runs on every search
    embed: EmbedEndpoint | None  # None: the embedding model is not reached over HTTP (0.2.x local)
    layout: KbLayout
    embed_unlisted: bool = False  # 0.3.x: no model platform lists the embedding model


@dataclass(frozen=True, kw_only=True)
class Corpus:
    exists: bool
    documents: int
    document_bytes: int
    largest_document: str | None
    largest_document_bytes: int
    chunks: int | None  # None: info.db unreadable
    index_bytes: int
    vector_store: str | None  # the vector_store/ sub-folder (the embedding model's name)


def _value(loaded: LoadedInstall, where: Where, defaults: dict[str, object]) -> object:
    value = loaded.data(where.role).get(where.key)
    return defaults.get(where.key) if value is None else value


def _embed_endpoint(loaded: LoadedInstall, model: str) -> EmbedEndpoint | None:
    for entry in loaded.entries:
        names = entry.data.get("embed_models")
        if not isinstance(names, list) or model not in names or not entry.url:
            continue
        if entry.data.get("platform_type") == "ollama":
            root = server_root(entry.url)
            return EmbedEndpoint(
                model=model,
                platform=entry.name,
                url=f"{root}/api/embeddings",
                root=root,
                protocol="ollama-embeddings",
            )
        url = entry.url.rstrip("/")
        return EmbedEndpoint(
            model=model,
            platform=entry.name,
            url=f"{url}/embeddings",
            root=server_root(url) if entry.ollama else "",
            protocol="openai",
        )
    return None


def _auto_detecting(loaded: LoadedInstall) -> bool:
    """A platform that asks its server for its models may serve the embedding model unlisted."""
    return any(e.data.get("auto_detect_model") is True for e in loaded.entries)


def kb_settings(loaded: LoadedInstall, kb: str | None = None) -> KbSettings | None:
    """The knowledge-base settings of the install (None when its layout's KB path is not known)."""
    layout = loaded.layout.kb
    if layout is None:
        return None
    defaults = dict(layout.defaults)
    default_kb = str(_value(loaded, layout.default_kb, defaults) or "samples")
    top_k = as_number(_value(loaded, layout.top_k, defaults))
    threshold = as_number(_value(loaded, layout.score_threshold, defaults))
    chunk = as_number(_value(loaded, layout.chunk_size, defaults))
    vs_type = str(_value(loaded, layout.vs_type, defaults) or "faiss")
    embed_model = str(_value(loaded, layout.embed_model, defaults) or "")
    root: Path | None
    db: Path | None = None
    if layout.kb_root is not None:
        raw = loaded.data(layout.kb_root.role).get(layout.kb_root.key)
        root = Path(raw) if isinstance(raw, str) and raw else loaded.install.root / "data" / "knowledge_base"
        db_raw = loaded.data(layout.kb_root.role).get("DB_ROOT_PATH")
        db = Path(db_raw) if isinstance(db_raw, str) and db_raw else root / "info.db"
    else:
        root = loaded.install.root / "knowledge_base"
        db = root / "info.db"
    over_http = loaded.layout.generation != "0.2"
    embed = _embed_endpoint(loaded, embed_model) if over_http else None
    return KbSettings(
        kb=kb or default_kb,
        default_kb=default_kb,
        top_k=int(top_k) if top_k is not None else 3,
        score_threshold=float(threshold) if threshold is not None else 1.0,
        vs_type=vs_type,
        chunk_size=int(chunk) if chunk is not None else 250,
        embed_model=embed_model,
        kb_root=root,
        db_path=db,
        bm25=layout.bm25_with_faiss and vs_type == "faiss",
        embed=embed,
        layout=layout,
        embed_unlisted=over_http and embed is None and not _auto_detecting(loaded),
    )


def _chunks(db: Path | None, kb: str) -> int | None:
    if db is None or not db.is_file():
        return None
    try:
        with closing(sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=2.0)) as con:
            row = con.execute(
                "SELECT COALESCE(SUM(docs_count), 0) FROM knowledge_file WHERE kb_name = ?", (kb,)
            ).fetchone()
    except sqlite3.Error:
        return None
    return int(row[0]) if row and row[0] is not None else 0


def read_corpus(settings: KbSettings) -> Corpus:
    """The corpus of ``settings.kb`` as it lies on disk; nothing is opened for writing."""
    empty = Corpus(
        exists=False,
        documents=0,
        document_bytes=0,
        largest_document=None,
        largest_document_bytes=0,
        chunks=None,
        index_bytes=0,
        vector_store=None,
    )
    if settings.kb_root is None:
        return empty
    base = settings.kb_root / settings.kb
    if not base.is_dir():
        return empty
    documents = total = largest = 0
    largest_name: str | None = None
    content = base / "content"
    if content.is_dir():
        for path in content.rglob("*"):
            if documents >= MAX_FILES:
                break
            if path.is_file() and not path.is_symlink():
                size = path.stat().st_size
                documents += 1
                total += size
                if size > largest:
                    largest, largest_name = size, path.name
    index_bytes = 0
    store: str | None = None
    vs = base / "vector_store"
    if vs.is_dir():  # vector_store/<embedding model, ":" as "_">/: a "/" in the model's name nests it
        for index in sorted(vs.rglob("index.faiss"))[:MAX_STORES]:
            pkl = index.with_name("index.pkl")
            size = index.stat().st_size + (pkl.stat().st_size if pkl.is_file() else 0)
            if store is None or size > index_bytes:
                store, index_bytes = index.parent.relative_to(vs).as_posix(), size
    return Corpus(
        exists=True,
        documents=documents,
        document_bytes=total,
        largest_document=largest_name,
        largest_document_bytes=largest,
        chunks=_chunks(settings.db_path, settings.kb),
        index_bytes=index_bytes,
        vector_store=store,
    )
