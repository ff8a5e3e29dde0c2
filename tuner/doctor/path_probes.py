"""The probes along the whole path of an answer: the embedding model (as Chatchat calls it), eviction between
it and the chat model (``/api/ps`` before and after), the knowledge base's retrieval, ingest, and Chatchat
under several users. I/O edge; every request bounded by what is left of the budget.

Nothing the user did not name is touched: the KB probed is the one named (or the install's default), read
by searching it; an ingest is measured only with ``allow_write``, into a temporary KB this probe creates and
deletes. Traffic goes only to the install's configured endpoints (its Ollama, its embedding platform, its
Chatchat API).
"""

from __future__ import annotations

import functools
import math
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from tuner.doctor.http import Got, request
from tuner.doctor.model import InstallFacts
from tuner.doctor.path_model import (
    EmbedProbe,
    EmbedStatus,
    EvictProbe,
    IngestEstimate,
    KbProbe,
    PathFacts,
    SerialProbe,
)
from tuner.doctor.probes import Budget
from tuner.i18n import _
from tuner.install.kb import Corpus, KbSettings
from tuner.measure.ollama import tagged
from tuner.ollama_ps import parse_ps

QUICK = 2.0  # an admin call (/api/ps, /api/tags, list_knowledge_bases) answers in milliseconds
SERIAL_N = 3
LONG_ANSWER_TOKENS = 64  # the answer during which list_knowledge_bases is timed
SEARCH_N = 2
PROBE_KB_PREFIX = "chatchat_tune_probe_"
INGEST_ROWS = 40
CHECK_TEXT = "this is a test"  # what 0.3.x's check_embed_model embeds before every search


def _names(got: Got) -> tuple[str, ...] | None:
    models = parse_ps(got.json() if got.status == 200 else None)
    return None if models is None else tuple(m.name for m in models)


def _same(a: str, b: str) -> bool:
    return tagged(a) == tagged(b)


class PathProber:
    def __init__(
        self,
        install: InstallFacts,
        settings: KbSettings | None,
        corpus: Corpus | None,
        budget: Budget,
        *,
        allow_write: bool = False,
        ingest_bytes: int | None = None,
    ) -> None:
        self.install = install
        self.s = settings
        self.corpus = corpus
        self.budget = budget
        self.allow_write = allow_write
        self.ingest_bytes = ingest_bytes
        self.skipped: list[str] = []
        self.chatchat = (install.chatchat_api or "").rstrip("/")
        self.chatchat_up: bool | None = None

    def _t(self, cap: float = math.inf) -> float | None:
        return self.budget.timeout(cap)

    def _ps(self, root: str) -> tuple[str, ...] | None:
        t = self._t(QUICK)
        return _names(request("GET", f"{root}/api/ps", timeout=t)) if t else None

    def _embed_call(self, text: str) -> Got | None:
        assert self.s is not None and self.s.embed is not None
        ep = self.s.embed
        t = self._t()
        if t is None:
            return None
        body: dict[str, Any] = (
            {"model": ep.model, "prompt": text}
            if ep.protocol == "ollama-embeddings"
            else {"model": ep.model, "input": [text]}
        )
        return request("POST", ep.url, timeout=t, body=body)  # a new connection, as Chatchat makes

    # -- the embedding model, and eviction ------------------------------------------------------------------
    def embed_and_evict(self) -> tuple[EmbedProbe | None, EvictProbe | None]:
        s = self.s
        if s is not None and s.embed_unlisted:
            return EmbedProbe(
                model=s.embed_model, url="", protocol="", status="missing", listed=None, resident_before=None,
                first=None, load=None, query=None, chunk=None,
                detail=_("no model platform lists it in its embed_models"),
            ), None  # fmt: skip
        if s is None or s.embed is None:
            self.skipped.append("embedding: not reached over HTTP in this version")
            return None, None
        ep = s.embed
        make = functools.partial(
            EmbedProbe, model=ep.model, url=ep.url, protocol=ep.protocol, bounded_by=_embed_bound(s)
        )
        listed: bool | None = None
        if ep.root:
            t = self._t(QUICK)
            tags = request("GET", f"{ep.root}/api/tags", timeout=t) if t else None
            if tags is not None and tags.status is None and tags.kind in ("connect", "connect_timeout"):
                return make(
                    status="down", listed=None, resident_before=None, first=None, load=None,
                    query=None, chunk=None, detail=tags.detail,
                ), None  # fmt: skip
            names = _names(tags) if tags is not None else None
            listed = None if names is None else any(_same(n, ep.model) for n in names)
        chat = self.install.model
        before = self._ps(ep.root) if ep.root else None
        if before is not None and chat and ep.root and not any(_same(n, chat) for n in before):
            t = self._t()  # load the chat model first, so that eviction can be seen
            if t is not None and t > 1.0:
                request("POST", f"{ep.root}/api/generate", timeout=t, body={"model": chat, "stream": False})
                before = self._ps(ep.root)
        resident_before = None if before is None else any(_same(n, ep.model) for n in before)
        first = self._embed_call(CHECK_TEXT)
        if first is None:
            self.skipped.append("embedding: no time left")
            return None, None
        if first.status is None:
            status: EmbedStatus = "down" if first.kind in ("connect", "connect_timeout") else "error"
            return make(
                status=status, listed=listed, resident_before=resident_before, first=None,
                load=None, query=None, chunk=None, detail=first.detail or str(first.kind),
            ), None  # fmt: skip
        if first.status != 200:
            missing = first.status == 404 or listed is False
            return make(
                status="missing" if missing else "error", listed=listed,
                resident_before=resident_before, first=None, load=None, query=None, chunk=None,
                detail=f"HTTP {first.status}: {first.text()}",
            ), None  # fmt: skip
        after = self._ps(ep.root) if ep.root else None
        warm = [g.seconds for g in (self._embed_call(f"query {i}: what does it say?") for i in range(2)) if g]
        query = statistics.median(warm) if warm else None
        chunk_chars = min(s.chunk_size, 4000)
        chunk_got = self._embed_call(_chunk_text(chunk_chars))
        chunk = chunk_got.seconds if chunk_got is not None and chunk_got.status == 200 else None
        load = first.seconds - query if resident_before is False and query is not None else None
        embed = make(
            status="ok", listed=listed, resident_before=resident_before, first=first.seconds,
            load=max(load, 0.0) if load is not None else None, query=query, chunk=chunk,
            chunk_chars=chunk_chars,
        )  # fmt: skip
        evict = self._evict(chat, ep.model, ep.root, before, after) if chat and ep.root else None
        return embed, evict

    def _evict(
        self, chat: str, model: str, root: str, before: tuple[str, ...] | None, after: tuple[str, ...] | None
    ) -> EvictProbe | None:
        if before is None or after is None:
            return None
        chat_before = any(_same(n, chat) for n in before)
        chat_after = any(_same(n, chat) for n in after)
        reload: float | None = None
        if chat_before and not chat_after:
            t = self._t()
            if t is not None:
                body = {
                    "model": chat,
                    "messages": [{"role": "user", "content": "one word"}],
                    "stream": False,
                    "options": {"num_predict": 1},
                }
                got = request("POST", f"{root}/api/chat", timeout=t, body=body)
                data = got.json() if got.status == 200 else None
                if isinstance(data, dict) and isinstance(data.get("load_duration"), int | float):
                    reload = data["load_duration"] / 1e9
        return EvictProbe(
            chat_model=chat,
            embed_model=model,
            chat_before=chat_before,
            chat_after=chat_after,
            embed_after=any(_same(n, model) for n in after),
            reload=reload,
            resident_before=before,
            resident_after=after,
        )

    # -- the knowledge base ---------------------------------------------------------------------------------
    def _chatchat_alive(self) -> bool:
        if self.chatchat_up is None:
            t = self._t(QUICK)
            s = self.s
            if not self.chatchat or t is None or s is None:
                self.chatchat_up = False
            else:
                got = request("GET", f"{self.chatchat}{s.layout.list_route}", timeout=t)
                self.chatchat_up = got.status == 200
        return self.chatchat_up

    def kb(self) -> KbProbe | None:
        from tuner.measure import kb as measure

        s, c = self.s, self.corpus
        if s is None or c is None:
            return None
        if not self._chatchat_alive():
            self.skipped.append("knowledge base: Chatchat's API does not answer")
            return None
        if not c.exists:
            self.skipped.append(f"knowledge base {s.kb!r}: not found on disk")
            return None
        splits: list[measure.Split] = []
        with httpx.Client(trust_env=False) as client, measure.fresh_connections(QUICK * 30) as embed_client:
            for i in range(2):  # the first one also loads the vector store: the second is what stays
                t = self._t()
                if t is None or (splits and splits[-1].total is not None and splits[-1].total > t):
                    break
                one = measure.KbRequest(
                    path="kb", chatchat=self.chatchat, model=self.install.model, settings=s, max_tokens=8,
                    timeout=t,
                )  # fmt: skip
                split, _sample = measure._split_kb(one, client, i, time.perf_counter(), embed_client)
                splits.append(split)
        good = [x for x in splits if x.ok]
        last = good[-1] if good else None
        return KbProbe(
            kb=s.kb, exists=True, documents=c.documents, chunks=c.chunks, index_bytes=c.index_bytes,
            vs_type=s.vs_type, bm25=s.bm25, top_k=s.top_k, embed=last.embed if last else None,
            embed_calls=last.embed_calls if last else 0,
            before_model=(last.docs if last.docs is not None else last.search) if last else None,
            retrieval=last.retrieval if last else None, model=last.model if last else None,
            total=last.total if last else None, n=len(good),
            detail="" if good else (splits[-1].error or "") if splits else _("no time left"),
        )  # fmt: skip

    # -- ingest ----------------------------------------------------------------------------------------------
    def ingest(self, embed: EmbedProbe | None) -> IngestEstimate | None:
        s, c = self.s, self.corpus
        if s is None or embed is None or embed.chunk is None:
            return None
        if self.ingest_bytes is not None:
            name, size = None, self.ingest_bytes
        elif c is not None and c.largest_document_bytes:
            name, size = c.largest_document, c.largest_document_bytes
        else:
            return None
        measured = self._measured_ingest() if self.allow_write else None
        per_chunk = max(embed.chunk, measured or 0.0)
        chunks = max(1, math.ceil(size / max(embed.chunk_chars, 1)))
        timeout = self.install.timeout
        return IngestEstimate(
            document=name, document_bytes=size, chunk_chars=embed.chunk_chars, chunks=chunks,
            per_chunk=per_chunk, seconds=chunks * per_chunk, timeout=timeout,
            timeout_source=self.install.timeout_source, measured_ingest=measured,
        )  # fmt: skip

    def _measured_ingest(self) -> float | None:
        """Seconds per chunk of a real upload into a temporary KB (created, then deleted)."""
        s = self.s
        if s is None or not self._chatchat_alive():
            return None
        name = f"{PROBE_KB_PREFIX}{time.time_ns() % 10**9}"
        lay = s.layout
        rows = ["topic,text"] + [
            f"t{i},row {i} of the chatchat-tune ingest probe" for i in range(INGEST_ROWS)
        ]
        data = ("\n".join(rows) + "\n").encode()
        t = self._t()
        if t is None:
            return None
        with httpx.Client(trust_env=False, timeout=t) as client:
            try:
                made = client.post(
                    f"{self.chatchat}{lay.create_route}",
                    json={
                        "knowledge_base_name": name,
                        "vector_store_type": s.vs_type,
                        "embed_model": s.embed_model,
                    },
                )
                if made.status_code != 200:
                    return None
                t0 = time.perf_counter()
                up = client.post(
                    f"{self.chatchat}{lay.upload_route}",
                    files=[("files", ("probe.csv", data, "text/csv"))],
                    data={"knowledge_base_name": name, "to_vector_store": "true", "override": "true"},
                )
                seconds = time.perf_counter() - t0
                return seconds / INGEST_ROWS if up.status_code == 200 else None
            except httpx.HTTPError:
                return None
            finally:
                try:
                    client.post(f"{self.chatchat}{lay.delete_route}", json=name, timeout=QUICK * 5)
                except httpx.HTTPError:
                    self.skipped.append(f"could not delete the temporary knowledge base {name}")

    # -- several users ---------------------------------------------------------------------------------------
    def serial(self, kb: KbProbe | None) -> SerialProbe | None:
        i = self.install
        if not i.ollama_root or not i.model or not self._chatchat_alive():
            return None
        direct_url = f"{i.ollama_root.rstrip('/')}/v1/chat/completions"
        via_url = f"{self.chatchat}/chat/chat/completions" if self.s and self.s.layout.docs_first else None

        def body(k: int) -> dict[str, Any]:
            prompt = f"[chatchat-tune doctor serial {k} {time.time_ns() % 10**9}] one word"
            return {"model": i.model, "messages": [{"role": "user", "content": prompt}], "max_tokens": 8}

        def one(url: str, k: int) -> float | None:
            t = self._t()
            if t is None:
                return None
            got = request("POST", url, timeout=t, body=body(k))
            return got.seconds if got.status == 200 else None

        def many(url: str, n: int) -> float | None:
            t0 = time.perf_counter()
            with ThreadPoolExecutor(n) as pool:
                results = list(pool.map(lambda k: one(url, k), range(n)))
            return time.perf_counter() - t0 if all(r is not None for r in results) else None

        direct_single = one(direct_url, 0)
        direct_wall = many(direct_url, SERIAL_N) if direct_single is not None else None
        via_single = one(via_url, 0) if via_url else None
        via_wall = many(via_url, SERIAL_N) if via_url and via_single is not None else None
        search_single = search_wall = list_idle = list_busy = list_answer = None
        s = self.s
        if s is not None and via_url and via_single is not None:
            list_idle = self._list(s)
            t = self._t()
            if t is not None and list_idle is not None:
                long = {**body(SERIAL_N), "max_tokens": LONG_ANSWER_TOKENS}
                with ThreadPoolExecutor(1) as pool:
                    answer = pool.submit(request, "POST", via_url, timeout=t, body=long)
                    time.sleep(min(via_single / 2, 0.5))
                    list_answer = self._list(s)
                    answer.result()
        if s is not None and kb is not None and kb.n and s.layout.search_route:
            search_single, search_wall, idle, list_busy = self._search_serial(s)
            list_idle = list_idle if list_idle is not None else idle
        return SerialProbe(
            n=SERIAL_N, direct_single=direct_single, direct_wall=direct_wall, via_single=via_single,
            via_wall=via_wall, search_single=search_single, search_wall=search_wall, list_idle=list_idle,
            list_busy=list_busy, list_answer=list_answer,
        )  # fmt: skip

    def _list(self, s: KbSettings) -> float | None:
        """``GET list_knowledge_bases``: a cheap endpoint, seconds (None: no answer)."""
        t = self._t(QUICK * 5)
        got = request("GET", f"{self.chatchat}{s.layout.list_route}", timeout=t) if t else None
        return got.seconds if got is not None and got.status == 200 else None

    def _search_serial(self, s: KbSettings) -> tuple[float | None, float | None, float | None, float | None]:
        from tuner.measure.kb import search_once

        def search(k: int) -> float | None:
            t = self._t()
            if t is None:
                return None
            try:
                return search_once(self.chatchat, s, f"serial search {k}", t)[0]
            except (httpx.HTTPError, ValueError):
                return None

        single = search(0)
        idle = self._list(s)
        if single is None or (self._t() or 0) < single * (SEARCH_N + 0.5):
            self.skipped.append("concurrent searches: not enough budget left")
            return single, None, idle, None
        t0 = time.perf_counter()
        with ThreadPoolExecutor(SEARCH_N + 1) as pool:
            futures = [pool.submit(search, k + 1) for k in range(SEARCH_N)]
            time.sleep(min(single / 2, 1.0))
            busy = self._list(s)
            results = [f.result() for f in futures]
        wall = time.perf_counter() - t0 if all(r is not None for r in results) else None
        return single, wall, idle, busy


def _chunk_text(chars: int) -> str:
    words = ("retrieval", "context", "answer", "chunk", "vector", "store", "知识库", "文档")
    out: list[str] = []
    size = 0
    k = 0
    while size < chars:
        word = words[k % len(words)]
        out.append(word)
        size += len(word) + 1
        k += 1
    return " ".join(out)


def _embed_bound(s: KbSettings) -> str:
    return "" if s.embed is not None and s.embed.protocol == "ollama-embeddings" else "openai's 600 s"


def probe_path(
    install: InstallFacts,
    settings: KbSettings | None,
    corpus: Corpus | None,
    *,
    budget: float,
    allow_write: bool = False,
    ingest_bytes: int | None = None,
) -> PathFacts:
    """Walk the hops a chat or KB answer uses, within ``budget`` seconds."""
    b = Budget(budget)
    p = PathProber(install, settings, corpus, b, allow_write=allow_write, ingest_bytes=ingest_bytes)
    embed, evict = p.embed_and_evict()
    ok = embed is None or embed.status == "ok"
    kb = p.kb() if ok else None
    ingest = p.ingest(embed) if ok else None
    serial = p.serial(kb)
    return PathFacts(
        budget=budget,
        elapsed=b.elapsed(),
        embed=embed,
        evict=evict,
        kb=kb,
        ingest=ingest,
        serial=serial,
        skipped=tuple(p.skipped),
    )
