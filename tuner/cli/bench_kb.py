"""`bench --path kb|search`: the knowledge-base answer, split (called by ``tuner.cli.bench``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tuner.errors import UserError
from tuner.i18n import _

if TYPE_CHECKING:
    from tuner.measure.kb import KbRun


def bench_kb(
    *,
    root: Path | None,
    path: str,
    kb: str | None,
    url: str | None,
    model: str | None,
    requests: int,
    max_tokens: int,
    timeout: float | None,
    warmup: int,
    as_json: bool,
    json_out: Path | None,
) -> int:
    from tuner.install.endpoints import endpoints
    from tuner.install.kb import kb_settings, read_corpus
    from tuner.install.loading import open_install
    from tuner.measure.kb import KbRequest, run_kb

    if not 1 <= requests <= 1000:
        raise UserError(_("--requests must be 1..1000 on the {path} path").format(path=path))
    loaded = open_install(root)
    settings = kb_settings(loaded, kb)
    if settings is None:
        raise UserError(
            _("{label}: chatchat-tune does not know this version's knowledge-base routes").format(
                label=loaded.layout.label
            )
        )
    if path == "search" and not settings.layout.search_route:
        raise UserError(_("{label} has no search_docs route").format(label=loaded.layout.label))
    ep = endpoints(loaded)
    chatchat = (url or ep.chatchat_api or "").rstrip("/")
    if not chatchat:
        raise UserError(_("cannot tell Chatchat's API address from the install; pass --url"))
    corpus = read_corpus(settings)
    request = KbRequest(
        path=path,
        chatchat=chatchat,
        model=model or ep.chatchat_model,
        settings=settings,
        requests=requests,
        max_tokens=max_tokens,
        timeout=timeout or 600.0,
        warmup=warmup,
    )
    from tuner.cli import render

    with render.progress(requests, f"{path} {chatchat}") as advance:
        result = run_kb(request, corpus, on_split=lambda s: advance())
    from tuner.measure.benchkbjson import bench_kb_json

    data = bench_kb_json(result)
    if json_out is not None:
        from tuner.apply.outputs import save_output
        from tuner.jsonout import dumps

        save_output(json_out, dumps(data), make_parents=False)
    if as_json:
        render.print_json(data)
    else:
        show(result)
    if result.run.interrupted:
        return 130
    if not any(s.ok for s in result.splits):
        reasons = sorted({s.error or "-" for s in result.splits})
        raise UserError(
            _("no {path} request succeeded: {reason}").format(path=path, reason="; ".join(reasons[:2]))
        )
    return 0


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.1f}"


def show(r: KbRun) -> None:
    from rich.table import Table
    from rich.text import Text

    from tuner.cli.render import out, summary_table
    from tuner.measure.stats import summarize

    s, c = r.request.settings, r.corpus
    route = s.layout.chat_route if r.request.path == "kb" else s.layout.search_route
    head = f"{r.request.path} {r.request.chatchat}{route}  kb {s.kb}  model {r.request.model or '-'}"
    out.print(Text(head))
    chunks = "?" if c.chunks is None else str(c.chunks)
    corpus = (
        _("corpus: {docs} documents ({bytes} bytes), {chunks} chunks, index {index} bytes").format(
            docs=c.documents, bytes=c.document_bytes, chunks=chunks, index=c.index_bytes
        )
        if c.exists
        else _("corpus: not found under {root}").format(root=s.kb_root)
    )
    out.print(Text(corpus))
    retriever = "BM25 + faiss ensemble" if s.bm25 else s.vs_type
    out.print(
        Text(
            _("vector store {vs}, retriever {retriever}, top_k {k}, score_threshold {t:g}").format(
                vs=s.vs_type, retriever=retriever, k=s.top_k, t=s.score_threshold
            )
        )
    )
    out.print(summary_table(summarize(r.run), "latency"))
    title = _("split of each answer (ms, median)")
    table = Table(title=title, title_justify="left", box=None, pad_edge=False)
    table.add_column("part")
    table.add_column("median", justify="right")
    table.add_column("how", justify="left")
    calls = r.splits[0].embed_calls if r.splits else 0
    rows = [
        ("embed", _("one query embedding, straight to {url}").format(url=s.embed.url if s.embed else "-")),
        ("search", _("search_docs round trip")),
        ("docs", _("send → documents frame (Chatchat's embeddings + retrieval)")),
        ("retrieval", _("documents frame (or search) − {n} × embed").format(n=calls)),
        ("model", _("documents frame → end of the answer")),
        ("model_first_token", _("documents frame → first token")),
        ("first_token", _("send → first token")),
        ("total", _("round trip")),
    ]
    for part, how in rows:
        value = r.median(part)
        if value is not None:
            table.add_row(part, _ms(value), how)
    out.print(table)
    ok = sum(sp.ok for sp in r.splits)
    out.print(Text(_("ok {ok}/{n}").format(ok=ok, n=len(r.splits))))
    for sp in r.splits:
        if not sp.ok:
            out.print(Text(_("  request {i} failed: {why}").format(i=sp.index, why=sp.error)))
