"""`doctor --json`'s ``path``: the walk along the whole path of an answer (``tuner.doctor.path_model``).

Durations are milliseconds (``*_ms``), sizes bytes (``*_bytes``), as in the rest of ``doctor --json``;
``null`` where a figure was not measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tuner.jsonout import finite
from tuner.jsonout import ms as _ms

if TYPE_CHECKING:
    from tuner.doctor.path_model import (
        EmbedProbe,
        EvictProbe,
        IngestEstimate,
        KbProbe,
        PathFacts,
        SerialProbe,
    )


@dataclass(frozen=True, kw_only=True)
class EmbedJson:
    """The install's default embedding model on its platform: reachable, pulled, its latencies."""

    model: str
    url: str
    protocol: str
    status: str
    listed: bool | None
    resident_before: bool | None
    first_ms: float | None
    load_ms: float | None
    query_ms: float | None
    chunk_ms: float | None
    chunk_chars: int
    bounded_by: str
    detail: str


@dataclass(frozen=True, kw_only=True)
class EvictJson:
    """``/api/ps`` before and after the embedding calls: did the chat model stay resident?"""

    chat_model: str
    embed_model: str
    chat_before: bool
    chat_after: bool
    embed_after: bool
    evicted: bool
    reload_ms: float | None
    resident_before: tuple[str, ...]
    resident_after: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class KbJson:
    """One knowledge-base answer split into query embedding, retrieval and model time, and the corpus."""

    kb: str
    exists: bool
    documents: int
    chunks: int | None
    index_bytes: int
    vs_type: str
    top_k: int
    embed_ms: float | None
    embed_calls: int
    before_model_ms: float | None
    retrieval_ms: float | None
    model_ms: float | None
    total_ms: float | None
    n: int
    detail: str


@dataclass(frozen=True, kw_only=True)
class IngestJson:
    """An upload of the largest document (or ``--ingest-bytes``) against the WebUI→API timeout."""

    document: str | None
    document_bytes: int
    chunk_chars: int
    chunks: int
    per_chunk_ms: float | None
    estimate_ms: float | None
    timeout_s: float | None
    timeout_source: str
    measured_per_chunk_ms: float | None


@dataclass(frozen=True, kw_only=True)
class SerialJson:
    """N concurrent requests through Chatchat against N straight to Ollama; a cheap endpoint meanwhile."""

    n: int
    direct_single_ms: float | None
    direct_wall_ms: float | None
    via_single_ms: float | None
    via_wall_ms: float | None
    search_single_ms: float | None
    search_wall_ms: float | None
    list_idle_ms: float | None
    list_busy_ms: float | None
    list_answer_ms: float | None
    detail: str


@dataclass(frozen=True, kw_only=True)
class PathJson:
    """The hops after Chatchat → Ollama: embeddings, eviction, retrieval, ingest, several users."""

    budget_s: float | None
    elapsed_s: float | None
    embed: EmbedJson | None
    evict: EvictJson | None
    kb: KbJson | None
    ingest: IngestJson | None
    serial: SerialJson | None
    skipped: tuple[str, ...]


def _embed(e: EmbedProbe) -> EmbedJson:
    return EmbedJson(
        model=e.model,
        url=e.url,
        protocol=e.protocol,
        status=e.status,
        listed=e.listed,
        resident_before=e.resident_before,
        first_ms=_ms(e.first),
        load_ms=_ms(e.load),
        query_ms=_ms(e.query),
        chunk_ms=_ms(e.chunk),
        chunk_chars=e.chunk_chars,
        bounded_by=e.bounded_by,
        detail=e.detail,
    )


def _evict(e: EvictProbe) -> EvictJson:
    return EvictJson(
        chat_model=e.chat_model,
        embed_model=e.embed_model,
        chat_before=e.chat_before,
        chat_after=e.chat_after,
        embed_after=e.embed_after,
        evicted=e.evicted,
        reload_ms=_ms(e.reload),
        resident_before=tuple(e.resident_before),
        resident_after=tuple(e.resident_after),
    )


def _kb(k: KbProbe) -> KbJson:
    return KbJson(
        kb=k.kb,
        exists=k.exists,
        documents=k.documents,
        chunks=k.chunks,
        index_bytes=k.index_bytes,
        vs_type=k.vs_type,
        top_k=k.top_k,
        embed_ms=_ms(k.embed),
        embed_calls=k.embed_calls,
        before_model_ms=_ms(k.before_model),
        retrieval_ms=_ms(k.retrieval),
        model_ms=_ms(k.model),
        total_ms=_ms(k.total),
        n=k.n,
        detail=k.detail,
    )


def _ingest(i: IngestEstimate) -> IngestJson:
    return IngestJson(
        document=i.document,
        document_bytes=i.document_bytes,
        chunk_chars=i.chunk_chars,
        chunks=i.chunks,
        per_chunk_ms=_ms(i.per_chunk),
        estimate_ms=_ms(i.seconds),
        timeout_s=finite(i.timeout),
        timeout_source=i.timeout_source,
        measured_per_chunk_ms=_ms(i.measured_ingest),
    )


def _serial(s: SerialProbe) -> SerialJson:
    return SerialJson(
        n=s.n,
        direct_single_ms=_ms(s.direct_single),
        direct_wall_ms=_ms(s.direct_wall),
        via_single_ms=_ms(s.via_single),
        via_wall_ms=_ms(s.via_wall),
        search_single_ms=_ms(s.search_single),
        search_wall_ms=_ms(s.search_wall),
        list_idle_ms=_ms(s.list_idle),
        list_busy_ms=_ms(s.list_busy),
        list_answer_ms=_ms(s.list_answer),
        detail=s.detail,
    )


def path_json(p: PathFacts) -> PathJson:
    return PathJson(
        budget_s=finite(p.budget),
        elapsed_s=finite(p.elapsed),
        embed=_embed(p.embed) if p.embed else None,
        evict=_evict(p.evict) if p.evict else None,
        kb=_kb(p.kb) if p.kb else None,
        ingest=_ingest(p.ingest) if p.ingest else None,
        serial=_serial(p.serial) if p.serial else None,
        skipped=tuple(p.skipped),
    )
