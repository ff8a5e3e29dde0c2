"""From the path probes to findings: the embedding model, eviction, retrieval, ingest, several users. Pure.

Codes: ``embed_down``, ``embed_missing``, ``embed_slow``, ``embed_evicts_llm``, ``kb_retrieval_slow``,
``ingest_timeout``, ``chatchat_serializes``. Each fires on what was measured and stays silent when a probe
did not run.
"""

from __future__ import annotations

from tuner.doctor.model import Finding, Fix, InstallFacts
from tuner.doctor.path_model import PathFacts
from tuner.i18n import _
from tuner.install.kb import KbSettings

EMBED_QUERY_SLOW = 0.25  # seconds per embedding call of a query (a 0.3.x KB chat makes three)
EMBED_LOAD_SLOW = 2.0  # the embedding model's cold load
RETRIEVAL_SLOW = 0.5  # retrieval per KB answer
RETRIEVAL_SHARE = 0.5  # ... or half the answer, when at least RETRIEVAL_FLOOR
RETRIEVAL_FLOOR = 0.3
SERIAL_EXTRA = 0.2  # queueing Chatchat adds to one of N concurrent requests, at least
SERIAL_RATIO = 1.5  # ... and N through Chatchat take this many times N direct and one through Chatchat
LIST_BLOCKED = 0.5  # a cheap endpoint answering this much slower while Chatchat works
DEFAULT_WEBUI_TIMEOUT = 300.0  # HTTPX_DEFAULT_TIMEOUT as shipped (0.2.x and 0.3.1.x)

FAISS_ONLY = (
    "faiss-only retrieval (code change): in chatchat/server/knowledge_base/kb_service/faiss_kb_service.py, "
    'FaissKBService.do_search calls get_Retriever("ensemble"), whose BM25 half re-reads every document of '
    "the knowledge base and rebuilds its index with jieba on each query (Chatchat issue #4339); "
    'get_Retriever("vectorstore") searches faiss alone. chatchat-tune does not patch this yet'
)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def _embed(i: InstallFacts, f: PathFacts, s: KbSettings | None) -> list[Finding]:
    e = f.embed
    if e is None:
        return []
    where = _("{model} at {url}").format(model=e.model, url=e.url or "-")
    if e.status == "down":
        return [
            Finding(
                "embed_down",
                "error",
                _("the embedding model's server does not answer: {where}").format(where=where),
                None,
                _("knowledge-base answer and upload"),
                (
                    _("connecting failed: {detail}").format(detail=e.detail),
                    _("every knowledge-base chat, search and upload embeds first: all of them fail"),
                ),
                (
                    Fix("command", _("start the server of the embedding platform (ollama serve)")),
                    Fix("setting", _("or point the platform that lists the model at where it runs")),
                ),
            )
        ]
    if e.status == "missing":
        pull = f"ollama pull {e.model}"
        return [
            Finding(
                "embed_missing",
                "error",
                _("the default embedding model {model} is not available").format(model=e.model),
                None,
                _("knowledge-base answer and upload"),
                (
                    e.detail,
                    _("listed by the server: {listed}").format(
                        listed={True: "yes", False: "no", None: "?"}[e.listed]
                    ),
                ),
                (
                    Fix("command", _("pull it: {command}").format(command=pull)),
                    Fix(
                        "setting",
                        _(
                            "or set DEFAULT_EMBEDDING_MODEL to a model the platform serves, listed in its "
                            "embed_models"
                        ),
                    ),
                ),
            )
        ]
    if e.status != "ok":
        return []
    calls = s.layout.embed_calls_per_chat if s is not None else 1
    slow_query = e.query is not None and e.query >= EMBED_QUERY_SLOW
    slow_load = e.load is not None and e.load >= EMBED_LOAD_SLOW
    if not (slow_query or slow_load):
        return []
    evidence = [
        _("one query embedding: {q} warm; the first call {f}").format(
            q=_ms(e.query) if e.query is not None else "?", f=_ms(e.first or 0.0)
        ),
        _("a KB chat makes {n} embedding calls before the model is asked").format(n=calls),
    ]
    if e.chunk is not None:
        evidence.append(_("one {n}-character chunk: {t}").format(n=e.chunk_chars, t=_ms(e.chunk)))
    if e.load is not None:
        evidence.append(_("cold load of the embedding model: {t}").format(t=_ms(e.load)))
    evidence.append(
        _("its calls are bounded by: {bound}").format(bound=e.bounded_by or _("nothing (no timeout)"))
    )
    return [
        Finding(
            "embed_slow",
            "warn",
            _("the embedding model is slow: {where}").format(where=where),
            (e.query or 0.0) * calls if slow_query else e.load,
            _("knowledge-base answer") if slow_query else _("first answer after the model unloads"),
            tuple(evidence),
            (
                Fix("service", _("keep it loaded: OLLAMA_KEEP_ALIVE, and room for it beside the chat model")),
                Fix(
                    "setting",
                    _("or a smaller embedding model (DEFAULT_EMBEDDING_MODEL), then rebuild the KB"),
                ),
            ),
        )
    ]


def _evict(i: InstallFacts, f: PathFacts) -> list[Finding]:
    v = f.evict
    if v is None or not v.evicted:
        return []
    return [
        Finding(
            "embed_evicts_llm",
            "warn",
            _("an embedding call unloads the chat model {chat}").format(chat=v.chat_model),
            v.reload,
            _("knowledge-base answer"),
            (
                _("/api/ps before the embedding call: {before}").format(before=", ".join(v.resident_before)),
                _("/api/ps after: {after}").format(after=", ".join(v.resident_after) or "-"),
                _("the chat model's reload afterwards took {t}").format(t=_ms(v.reload))
                if v.reload is not None
                else _("the chat model's reload was not measured (no budget left)"),
                _("every KB answer embeds the query first, then asks the chat model: each evicts the other"),
            ),
            (
                Fix(
                    "service",
                    _("let Ollama keep both: OLLAMA_MAX_LOADED_MODELS=2 (or more)"),
                    "max_loaded_models=2",
                ),
                Fix(
                    "service",
                    _(
                        "or make room in GPU memory: a smaller quantisation of the chat model, or the "
                        "embedding model on the CPU"
                    ),
                ),
            ),
        )
    ]


def _retrieval(i: InstallFacts, f: PathFacts, s: KbSettings | None) -> list[Finding]:
    k = f.kb
    if k is None or k.retrieval is None or k.total is None:
        return []
    share = k.retrieval / k.total if k.total > 0 else 0.0
    slow = k.retrieval >= RETRIEVAL_SLOW or (k.retrieval >= RETRIEVAL_FLOOR and share >= RETRIEVAL_SHARE)
    if not slow:
        return []
    retriever = _("BM25 + faiss ensemble") if k.bm25 else k.vs_type
    chunks = "?" if k.chunks is None else str(k.chunks)
    evidence = [
        _("retrieval {r} of a {t} KB answer ({p:.0%}); query embedding {e} × {n}; model {m}").format(
            r=_ms(k.retrieval),
            t=_ms(k.total),
            p=share,
            e=_ms(k.embed) if k.embed is not None else "-",
            n=k.embed_calls,
            m=_ms(k.model) if k.model is not None else "-",
        ),
        _("knowledge base {kb}: {docs} documents, {chunks} chunks, index {index} bytes").format(
            kb=k.kb, docs=k.documents, chunks=chunks, index=k.index_bytes
        ),
        _("retriever: {r}, top_k {k}").format(r=retriever, k=k.top_k),
    ]
    if k.bm25:
        evidence.append(
            _(
                "the BM25 half loads every chunk of the knowledge base on each query: its cost grows with "
                "the corpus, whatever top_k is"
            )
        )
        fixes: tuple[Fix, ...] = (
            Fix("code_patch", FAISS_ONLY),
            Fix(
                "setting",
                _(
                    "or keep large knowledge bases in a vector store searched by vectors alone "
                    "(DEFAULT_VS_TYPE milvus, pg, es or chromadb use the plain vectorstore retriever), then "
                    "rebuild them"
                ),
            ),
        )
    else:
        fixes = (
            Fix("setting", _("fewer, larger chunks (CHUNK_SIZE) and a smaller top_k, then rebuild the KB")),
        )
    return [
        Finding(
            "kb_retrieval_slow",
            "warn",
            _("knowledge-base retrieval is slow: {r} per answer").format(r=_ms(k.retrieval)),
            k.retrieval,
            _("knowledge-base answer"),
            tuple(evidence),
            fixes,
        )
    ]


def _ingest(i: InstallFacts, f: PathFacts, s: KbSettings | None) -> list[Finding]:
    g = f.ingest
    if g is None:
        return []
    limit = g.timeout if g.timeout is not None else DEFAULT_WEBUI_TIMEOUT
    if g.seconds <= limit:
        return []
    doc = g.document or _("a document")
    need = int(g.seconds * 1.5) + 1
    kb = s.kb if s is not None else "NAME"
    evidence = [
        _("{doc}: {bytes} bytes ≈ {chunks} chunks of {chars} characters").format(
            doc=doc, bytes=g.document_bytes, chunks=g.chunks, chars=g.chunk_chars
        ),
        _("measured {t} per chunk (one embedding call on a new connection, as Chatchat makes)").format(
            t=_ms(g.per_chunk)
        ),
        _("an upload would take ≈ {t}; the WebUI waits {limit} ({source})").format(
            t=_ms(g.seconds), limit=_ms(limit), source=g.timeout_source
        ),
    ]
    if g.measured_ingest is not None:
        evidence.append(
            _("a real upload into a temporary KB: {t} per chunk").format(t=_ms(g.measured_ingest))
        )
    layout_words = s.layout.ingest_words if s is not None else ""
    if layout_words:
        evidence.append(layout_words)
    return [
        Finding(
            "ingest_timeout",
            "warn",
            _("uploading {doc} from the WebUI would time out").format(doc=doc),
            g.seconds - limit,
            _("upload"),
            tuple(evidence),
            (
                Fix("setting", _("a WebUI timeout above the upload time"), f"api_timeout={need}"),
                Fix(
                    "command",
                    _("or ingest from the command line, with no HTTP timeout: chatchat kb -r -k {kb}").format(
                        kb=kb
                    ),
                ),
            ),
        )
    ]


def _serial(i: InstallFacts, f: PathFacts) -> list[Finding]:
    p = f.serial
    if p is None:
        return []
    evidence: list[str] = []
    costs: list[float] = []
    if None not in (p.direct_single, p.direct_wall, p.via_single, p.via_wall):
        assert p.direct_single is not None and p.direct_wall is not None
        assert p.via_single is not None and p.via_wall is not None
        extra = (p.via_wall - p.direct_wall) - (p.via_single - p.direct_single)
        queued = p.via_wall >= SERIAL_RATIO * max(p.direct_wall, p.via_single)
        if queued and extra >= max(SERIAL_EXTRA, 0.5 * p.direct_single):
            costs.append(extra)
            evidence.append(
                _(
                    "{n} concurrent chats: {via} through Chatchat vs {direct} straight to Ollama (one alone: "
                    "{one_via} vs {one_direct})"
                ).format(
                    n=p.n,
                    via=_ms(p.via_wall),
                    direct=_ms(p.direct_wall),
                    one_via=_ms(p.via_single),
                    one_direct=_ms(p.direct_single),
                )
            )
    searches: str | None = None
    if p.search_single is not None and p.search_wall is not None:
        # Reported, never the trigger: on a busy machine two CPU-bound searches slow each other whether or
        # not Chatchat holds a lock (on 0.3.1.3 they overlap: tests/real/test_kb_path.py).
        searches = _("{n} concurrent searches of the knowledge base took {wall}; one alone {one}").format(
            n=2, wall=_ms(p.search_wall), one=_ms(p.search_single)
        )
    for busy, during in ((p.list_busy, _("searches ran")), (p.list_answer, _("a long answer ran"))):
        if p.list_idle is not None and busy is not None and busy - p.list_idle >= LIST_BLOCKED:
            costs.append(busy - p.list_idle)
            evidence.append(
                _("list_knowledge_bases answered in {busy} while {during}, {idle} when idle").format(
                    busy=_ms(busy), during=during, idle=_ms(p.list_idle)
                )
            )
    if not costs:
        return []
    if searches is not None:
        evidence.append(searches)
    if i.api_concurrencies is not None:
        evidence.append(
            _(
                "api_concurrencies of the Ollama platform: {n} (applied to chats only with the code patch)"
            ).format(n=i.api_concurrencies)
        )
    return [
        Finding(
            "chatchat_serializes",
            "warn",
            _("Chatchat makes concurrent users wait for each other"),
            max(costs),
            _("request while another user's request runs"),
            tuple(evidence),
            (
                Fix(
                    "setting",
                    _(
                        "with the code patch applied: a larger api_concurrencies on the Ollama platform (at "
                        "least OLLAMA_NUM_PARALLEL)"
                    ),
                ),
                Fix("command", _("or run more Chatchat API workers behind one address")),
            ),
        )
    ]


def path_findings(i: InstallFacts, f: PathFacts | None, s: KbSettings | None) -> list[Finding]:
    if f is None:
        return []
    return [*_embed(i, f, s), *_evict(i, f), *_retrieval(i, f, s), *_ingest(i, f, s), *_serial(i, f)]
