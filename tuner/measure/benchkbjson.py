"""`bench --path kb|search --json`: a knowledge-base answer split into its parts, as typed models.

Durations are milliseconds (``*_ms``; ``null``: not measured on this path or version), sizes bytes; the
schema is ``docs/schemas/bench-kb.schema.json`` (``tuner.cli.schemagen``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from tuner.jsonout import ms as _ms
from tuner.measure.benchjson import SCHEMA_VERSION, SummaryJson, summary_json

if TYPE_CHECKING:
    from tuner.measure.kb import KbRun, Split

FORMAT: Literal["chatchat-tune-bench-kb"] = "chatchat-tune-bench-kb"


@dataclass(frozen=True, kw_only=True)
class CorpusJson:
    """The knowledge base on disk (read-only): documents, chunks, index size."""

    exists: bool
    documents: int
    document_bytes: int
    largest_document: str | None
    largest_document_bytes: int
    chunks: int | None
    index_bytes: int
    vector_store_folder: str | None


@dataclass(frozen=True, kw_only=True)
class PartsJson:
    """An answer's parts, each measured: query embedding, search_docs, documents frame, retrieval, model."""

    embed_ms: float | None
    search_ms: float | None
    docs_ms: float | None
    retrieval_ms: float | None
    model_ms: float | None
    model_first_token_ms: float | None
    first_token_ms: float | None
    total_ms: float | None


@dataclass(frozen=True, kw_only=True)
class SplitJson:
    """One answer: whether it succeeded, its parts, the embedding calls Chatchat makes, documents found."""

    index: int
    ok: bool
    error: str | None
    embed_calls: int
    hits: int | None
    parts: PartsJson


@dataclass(frozen=True, kw_only=True)
class BenchKbJson:
    """`chatchat-tune bench --path kb|search --json`: the KB, its retriever, the median split, each answer."""

    schema_version: int
    format: Literal["chatchat-tune-bench-kb"]
    path: str
    url: str
    route: str
    kb: str
    vector_store: str
    top_k: int
    score_threshold: float | None
    bm25_ensemble: bool
    embed_model: str | None
    embed_url: str | None
    corpus: CorpusJson
    median: PartsJson
    summary: SummaryJson
    splits: tuple[SplitJson, ...]


def _parts(get: dict[str, float | None]) -> PartsJson:
    return PartsJson(
        embed_ms=_ms(get["embed"]),
        search_ms=_ms(get["search"]),
        docs_ms=_ms(get["docs"]),
        retrieval_ms=_ms(get["retrieval"]),
        model_ms=_ms(get["model"]),
        model_first_token_ms=_ms(get["model_first_token"]),
        first_token_ms=_ms(get["first_token"]),
        total_ms=_ms(get["total"]),
    )


PARTS = ("embed", "search", "docs", "retrieval", "model", "model_first_token", "first_token", "total")


def _split(sp: Split) -> SplitJson:
    return SplitJson(
        index=sp.index,
        ok=sp.ok,
        error=sp.error,
        embed_calls=sp.embed_calls,
        hits=sp.hits,
        parts=_parts({part: getattr(sp, part) for part in PARTS}),
    )


def bench_kb_json(r: KbRun) -> BenchKbJson:
    s, c = r.request.settings, r.corpus
    threshold = s.score_threshold
    return BenchKbJson(
        schema_version=SCHEMA_VERSION,
        format=FORMAT,
        path=r.request.path,
        url=r.request.chatchat,
        route=s.layout.chat_route if r.request.path == "kb" else s.layout.search_route,
        kb=s.kb,
        vector_store=s.vs_type,
        top_k=s.top_k,
        score_threshold=float(threshold) if threshold is not None and math.isfinite(threshold) else None,
        bm25_ensemble=s.bm25,
        embed_model=s.embed_model,
        embed_url=s.embed.url if s.embed else None,
        corpus=CorpusJson(
            exists=c.exists,
            documents=c.documents,
            document_bytes=c.document_bytes,
            largest_document=c.largest_document,
            largest_document_bytes=c.largest_document_bytes,
            chunks=c.chunks,
            index_bytes=c.index_bytes,
            vector_store_folder=c.vector_store,
        ),
        median=_parts({part: r.median(part) for part in PARTS}),
        summary=summary_json(r.run),
        splits=tuple(_split(sp) for sp in r.splits),
    )
