"""Values of the doctor's walk along the whole path of an answer: the embedding model, eviction between it
and the chat model, the knowledge base's retrieval, ingest, and Chatchat under several users. Pure data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

EmbedStatus = Literal["ok", "down", "missing", "error", "skipped"]


@dataclass(frozen=True, kw_only=True)
class EmbedProbe:
    model: str
    url: str
    protocol: str
    status: EmbedStatus
    listed: bool | None  # in /api/tags (None: not asked)
    resident_before: bool | None
    first: float | None  # the first call (includes a cold load when not resident before)
    load: float | None  # first − warm query: the cold load, when there was one
    query: float | None  # median warm call with a query-sized text
    chunk: float | None  # one call with a chunk-sized text (chunk_size characters)
    chunk_chars: int = 0
    bounded_by: str = ""  # what bounds Chatchat's embedding calls ("" : nothing)
    detail: str = ""


@dataclass(frozen=True, kw_only=True)
class EvictProbe:
    chat_model: str
    embed_model: str
    chat_before: bool  # the chat model was resident before the embedding call
    chat_after: bool
    embed_after: bool
    reload: float | None  # a chat request after the embedding call: its load_duration (the reload cost)
    resident_before: tuple[str, ...]
    resident_after: tuple[str, ...]

    @property
    def evicted(self) -> bool:
        return self.chat_before and not self.chat_after


@dataclass(frozen=True, kw_only=True)
class KbProbe:
    kb: str
    exists: bool
    documents: int
    chunks: int | None
    index_bytes: int
    vs_type: str
    bm25: bool
    top_k: int
    embed: float | None  # one query embedding
    embed_calls: int
    before_model: float | None  # send → documents frame (or search_docs)
    retrieval: float | None
    model: float | None
    total: float | None
    n: int
    detail: str = ""


@dataclass(frozen=True, kw_only=True)
class IngestEstimate:
    document: str | None  # the largest document of the KB (None: a size the user gave)
    document_bytes: int
    chunk_chars: int
    chunks: int
    per_chunk: float  # measured: one chunk-sized embedding call on a new connection
    seconds: float  # chunks × per_chunk
    timeout: float | None  # the WebUI→API timeout (HTTPX_DEFAULT_TIMEOUT)
    timeout_source: str
    measured_ingest: float | None = None  # --allow-write: a real upload into a temporary KB, seconds/chunk


@dataclass(frozen=True, kw_only=True)
class SerialProbe:
    n: int
    direct_single: float | None
    direct_wall: float | None  # N concurrent requests straight to Ollama
    via_single: float | None
    via_wall: float | None  # the same N through Chatchat's /chat/chat/completions
    search_single: float | None = None
    search_wall: float | None = None  # N concurrent search_docs on the KB
    list_idle: float | None = None  # GET list_knowledge_bases alone
    list_busy: float | None = None  # the same while the concurrent searches run
    list_answer: float | None = None  # the same while a long answer streams through Chatchat
    detail: str = ""


@dataclass(frozen=True, kw_only=True)
class PathFacts:
    budget: float
    elapsed: float
    embed: EmbedProbe | None = None
    evict: EvictProbe | None = None
    kb: KbProbe | None = None
    ingest: IngestEstimate | None = None
    serial: SerialProbe | None = None
    skipped: tuple[str, ...] = ()
