"""``bench --path kb|search``: a knowledge-base answer split into query embedding, retrieval and model time.

Each part is measured on its own, never inferred from one total:

- **embedding**: the embedding calls Chatchat makes before it retrieves (0.3.x: its checks of
  "this is a test", then the query), sent to the install's embedding endpoint the way Chatchat sends them
  (on an ollama platform: ``POST /api/embeddings``, one text, a new connection each), timed by the client;
- **search**: ``/knowledge_base/search_docs`` with the query, timed by the client (Chatchat embeds inside it
  ``embed_calls_per_search`` times, then retrieves);
- **KB chat** (``--path kb``): the version's KB chat route, streamed. Where the version sends the retrieved
  documents first (0.3.x), that frame's arrival ends Chatchat's embedding and retrieval; the first token and
  the end of the stream follow, so model time = end − documents frame. Where it does not (0.2.x), the model
  time is the chat's total less the search measured just before it.

Retrieval is then what the measured search or documents frame took beyond those measured embedding calls.
Requests run one at a time, bounded in count and time; nothing is written.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from tuner.i18n import _
from tuner.install.kb import Corpus, KbSettings
from tuner.measure.reasons import one_line, server_reason
from tuner.measure.runner import ANSWER_BYTES, RunResult, Sample, error_kind, read_some
from tuner.measure.timing import begin_trace, timed_client
from tuner.measure.workload import ClientSettings, Workload

HARD_CAP_SECONDS = 900.0


@dataclass(frozen=True, kw_only=True)
class KbRequest:
    path: str  # "kb" or "search"
    chatchat: str  # Chatchat's API root
    model: str | None  # the chat model (kb only)
    settings: KbSettings
    requests: int = 5
    max_tokens: int = 32
    timeout: float = 600.0
    warmup: int = 1


@dataclass(frozen=True, kw_only=True)
class Split:
    """One answer's parts, seconds (None: not measured on this path or version)."""

    index: int
    ok: bool
    error: str | None
    embed: float | None  # one embedding call (the mean of the calls made as Chatchat makes them)
    embed_calls: int  # embedding calls Chatchat makes before retrieval is done (each also made here)
    search: float | None  # search_docs round trip
    docs: float | None  # KB chat: send → documents frame (Chatchat's embedding + retrieval)
    retrieval: float | None  # docs (or search) less embed × embed_calls
    model: float | None  # KB chat: documents frame → end of stream
    model_first_token: float | None  # KB chat: documents frame → first token
    first_token: float | None  # KB chat: send → first token
    total: float | None  # KB chat (or search) round trip
    hits: int | None  # documents returned


@dataclass(frozen=True, kw_only=True)
class KbRun:
    request: KbRequest
    corpus: Corpus
    splits: tuple[Split, ...]
    run: RunResult  # the phase table's samples (the KB chat, or search_docs)

    def median(self, part: str) -> float | None:
        values = [getattr(s, part) for s in self.splits if s.ok and getattr(s, part) is not None]
        return statistics.median(values) if values else None


# -- one call of each kind ----------------------------------------------------------------------------------
def fresh_connections(timeout: float) -> httpx.Client:
    """A client that opens a new connection for every request (none is kept), as Chatchat's embedding calls
    do, without building a client inside the timed call."""
    return httpx.Client(trust_env=False, timeout=timeout, limits=httpx.Limits(max_keepalive_connections=0))


def embed_once(settings: KbSettings, text: str, timeout: float, client: httpx.Client | None = None) -> float:
    """One embedding call as Chatchat makes it (a new connection); seconds. Raises httpx.HTTPError or
    ValueError (an answer with no vector)."""
    ep = settings.embed
    assert ep is not None
    body: dict[str, Any] = (
        {"model": ep.model, "prompt": text}
        if ep.protocol == "ollama-embeddings"
        else {"model": ep.model, "input": [text]}
    )
    own = client is None
    c = fresh_connections(timeout) if client is None else client
    try:
        t0 = time.perf_counter()
        resp = c.post(ep.url, json=body, timeout=timeout)
        seconds = time.perf_counter() - t0
    finally:
        if own:
            c.close()
    if resp.status_code != 200:
        raise ValueError(f"HTTP {resp.status_code}: {server_reason(resp.content)}")
    data = resp.json()
    vector = data.get("embedding") if "embedding" in data else (data.get("data") or [{}])[0].get("embedding")
    if not isinstance(vector, list) or not vector:
        raise ValueError(_("the answer carries no embedding"))
    return seconds


def search_body(settings: KbSettings, query: str) -> dict[str, Any]:
    return {
        "query": query,
        "knowledge_base_name": settings.kb,
        "top_k": settings.top_k,
        "score_threshold": settings.score_threshold,
    }


def search_once(chatchat: str, settings: KbSettings, query: str, timeout: float) -> tuple[float, int]:
    """``search_docs``: seconds and the number of documents returned."""
    with httpx.Client(trust_env=False, timeout=timeout) as client:
        t0 = time.perf_counter()
        resp = client.post(f"{chatchat}{settings.layout.search_route}", json=search_body(settings, query))
        seconds = time.perf_counter() - t0
    if resp.status_code != 200:
        raise ValueError(f"HTTP {resp.status_code}: {server_reason(resp.content)}")
    data = resp.json()
    if not isinstance(data, list):
        raise ValueError(one_line(f"search_docs answered {resp.text}"))
    return seconds, len(data)


def chat_body(settings: KbSettings, model: str | None, query: str, max_tokens: int) -> dict[str, Any]:
    layout = settings.layout
    body: dict[str, Any] = dict(layout.chat_extra)
    body |= {
        "query": query,
        layout.chat_kb_key: settings.kb,
        "top_k": settings.top_k,
        "score_threshold": settings.score_threshold,
        "stream": True,
        "max_tokens": max_tokens,
    }
    if model:
        body[layout.chat_model_key] = model
    return body


@dataclass
class _Chat:
    docs: float | None = None
    first: float | None = None
    hits: int | None = None
    error: str | None = None
    detail: str | None = None
    status: int | None = None
    ttfb: float | None = None


def _frame(line: str) -> dict[str, Any] | None:
    line = line.strip()
    if line.startswith("data:"):
        line = line[5:].strip()
    if not line or line.startswith(":"):
        return None
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


def _content(obj: dict[str, Any]) -> str:
    for choice in obj.get("choices") or []:
        if isinstance(choice, dict):
            part = choice.get("delta") or choice.get("message") or {}
            text = part.get("content") if isinstance(part, dict) else None
            if isinstance(text, str) and text:
                return text
    answer = obj.get("answer")  # 0.2.x: {"answer": token}
    return answer if isinstance(answer, str) else ""


def chat_once(client: httpx.Client, url: str, body: dict[str, Any], deadline: float) -> tuple[_Chat, float]:
    got = _Chat()
    t0 = time.perf_counter()
    try:
        with client.stream("POST", url, json=body) as resp:
            got.ttfb = time.perf_counter() - t0
            got.status = resp.status_code
            if resp.status_code != 200:
                got.error, got.detail = f"http_{resp.status_code}", server_reason(read_some(resp, 4096))
            else:
                for line in resp.iter_lines():
                    obj = _frame(line)
                    now = time.perf_counter() - t0
                    if obj is None:
                        continue
                    if "error" in obj and not obj.get("choices"):
                        got.error, got.detail = "server_error", one_line(str(obj["error"]))
                        break
                    if isinstance(obj.get("code"), int) and obj["code"] != 200:  # BaseResponse: no such KB
                        got.error, got.detail = f"code_{obj['code']}", one_line(str(obj.get("msg")))
                        break
                    if "docs" in obj and got.docs is None:
                        got.docs = now
                        docs = obj["docs"]
                        got.hits = len(docs) if isinstance(docs, list) else None
                    if got.first is None and _content(obj):
                        got.first = now
                    if now > deadline:
                        got.error, got.detail = "deadline", f"over {deadline:g} s"
                        break
                    if len(line) > ANSWER_BYTES:
                        got.error, got.detail = "too_large", "a stream line over the cap"
                        break
    except httpx.HTTPError as exc:
        got.error, got.detail = error_kind(exc), one_line(str(exc)) or type(exc).__name__
    total = time.perf_counter() - t0
    if got.error is None and got.first is None:
        got.error, got.detail = "incomplete", "no token in the answer"
    return got, total


# -- the run ------------------------------------------------------------------------------------------------
QUERIES = (
    "What does the knowledge base say about this topic?",
    "知识库里关于这个问题是怎么说的？",
    "Summarise the most relevant passage in one sentence.",
    "列出与问题最相关的三条内容。",
)


def query(index: int) -> str:
    return f"[{index}] {QUERIES[index % len(QUERIES)]}"


def _split_kb(
    req: KbRequest,
    client: httpx.Client,
    index: int,
    run_start: float,
    embed_client: httpx.Client | None = None,
) -> tuple[Split, Sample]:
    s = req.settings
    q = query(index)
    search: float | None = None
    hits: int | None = None
    calls = s.layout.embed_calls_per_chat if s.layout.docs_first else s.layout.embed_calls_per_search
    try:
        embed_total = _embed_or_none(s, q, req.timeout, calls, embed_client)
        if not s.layout.docs_first:  # no documents frame: the search measured beside the chat stands for it
            search, hits = search_once(req.chatchat, s, q, req.timeout)
    except (httpx.HTTPError, ValueError) as exc:
        return _failed(index, run_start, one_line(str(exc)) or type(exc).__name__)
    trace = begin_trace()
    url = f"{req.chatchat}{s.layout.chat_route}"
    t_send = time.perf_counter()
    got, total = chat_once(client, url, chat_body(s, req.model, q, req.max_tokens), req.timeout)
    ok = got.error is None
    before_model = got.docs if got.docs is not None else search
    retrieval = (
        max(before_model - embed_total, 0.0)
        if before_model is not None and embed_total is not None
        else before_model
    )
    embed = embed_total / calls if embed_total is not None else None
    model = total - before_model if ok and before_model is not None else None
    split = Split(
        index=index,
        ok=ok,
        error=got.detail if not ok else None,
        embed=embed,
        embed_calls=calls,
        search=search,
        docs=got.docs,
        retrieval=retrieval,
        model=model,
        model_first_token=got.first - got.docs if got.first is not None and got.docs is not None else None,
        first_token=got.first,
        total=total,
        hits=got.hits if got.hits is not None else hits,
    )
    sample = Sample(
        index, t_send - run_start, ok, got.error, got.status, trace.new_connection, len(trace.attempts),
        trace.dns, trace.connect, got.ttfb, got.first, total, None, None, None, None, None, None, got.detail,
    )  # fmt: skip
    return split, sample


def _failed(index: int, run_start: float, detail: str) -> tuple[Split, Sample]:
    split = Split(
        index=index, ok=False, error=detail, embed=None, embed_calls=0, search=None, docs=None,
        retrieval=None, model=None, model_first_token=None, first_token=None, total=None, hits=None,
    )  # fmt: skip
    sample = Sample(
        index, time.perf_counter() - run_start, False, "embedding", None, False, 0, None, None, None, None,
        0.0, None, None, None, None, None, None, detail,
    )  # fmt: skip
    return split, sample


CHECK_TEXT = "this is a test"  # what 0.3.x's check_embed_model embeds before each search


def _embed_or_none(
    settings: KbSettings, text: str, timeout: float, calls: int = 1, client: httpx.Client | None = None
) -> float | None:
    """The embedding calls Chatchat makes before retrieval, made the same way (the checks, then the query):
    their total, seconds (None: this version does not embed over HTTP)."""
    if settings.embed is None:
        return None
    texts = [CHECK_TEXT] * (calls - 1) + [text]
    return sum(embed_once(settings, t, timeout, client) for t in texts)


def _split_search(
    req: KbRequest, index: int, run_start: float, embed_client: httpx.Client | None = None
) -> tuple[Split, Sample]:
    s = req.settings
    q = query(index)
    calls = s.layout.embed_calls_per_search
    try:
        embed_total = _embed_or_none(s, q, req.timeout, calls, embed_client)
    except (httpx.HTTPError, ValueError) as exc:
        return _failed(index, run_start, one_line(str(exc)) or type(exc).__name__)
    embed = embed_total / calls if embed_total is not None else None
    t_send = time.perf_counter()
    error: str | None = None
    try:
        search, hits = search_once(req.chatchat, s, q, req.timeout)
    except (httpx.HTTPError, ValueError) as exc:
        error, search, hits = one_line(str(exc)) or type(exc).__name__, None, None
    total = search if search is not None else time.perf_counter() - t_send
    retrieval = max(search - embed_total, 0.0) if search is not None and embed_total is not None else search
    split = Split(
        index=index, ok=error is None, error=error, embed=embed, embed_calls=calls, search=search, docs=None,
        retrieval=retrieval, model=None, model_first_token=None, first_token=None, total=total, hits=hits,
    )  # fmt: skip
    sample = Sample(
        index, t_send - run_start, error is None, None if error is None else "search", 200 if error is None
        else None, True, 1, None, None, None, None, total, None, None, None, None, None, None, error,
    )  # fmt: skip
    return split, sample


def run_kb(req: KbRequest, corpus: Corpus, *, on_split: Callable[[Split], None] | None = None) -> KbRun:
    """Warm up (uncounted), then measure ``req.requests`` answers one at a time."""
    splits: list[Split] = []
    samples: list[Sample] = []
    timeout = min(req.timeout, HARD_CAP_SECONDS)
    interrupted = False
    t_run = time.perf_counter()
    cpu0 = time.process_time()
    with (
        timed_client(
            timeout=timeout, max_connections=1, max_keepalive=0, keepalive_expiry=0.0, trust_env=False
        ) as client,
        fresh_connections(timeout) as embed_client,
    ):
        try:
            for i in range(req.warmup + req.requests):
                if req.path == "kb":
                    split, sample = _split_kb(req, client, i, t_run, embed_client)
                else:
                    split, sample = _split_search(req, i, t_run, embed_client)
                if i < req.warmup:
                    continue
                splits.append(split)
                samples.append(sample)
                if on_split is not None:
                    on_split(split)
        except KeyboardInterrupt:
            interrupted = True
    workload = Workload(
        path="kb" if req.path == "kb" else "search",
        model=req.model or "",
        requests=req.requests,
        max_tokens=req.max_tokens,
    )
    result = RunResult(
        url=req.chatchat,
        workload=workload,
        client=ClientSettings(timeout=timeout, max_connections=1, max_keepalive=0),
        samples=tuple(samples),
        wall=time.perf_counter() - t_run,
        cpu=time.process_time() - cpu0,
        interrupted=interrupted,
    )
    return KbRun(request=req, corpus=corpus, splits=tuple(splits), run=result)
