"""`chatchat-tune bench`: options → Workload/ClientSettings → runner → table, JSON, CSV, compare."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tuner.cli.options import (
    GapChoice,
    JsonOpt,
    PathChoice,
    RootOpt,
    duration_option,
    keep_alive_option,
    no_install_url,
)
from tuner.errors import UserError
from tuner.i18n import _

if TYPE_CHECKING:
    from tuner.measure.runner import RunResult


def bench(
    root: RootOpt = None,
    url: Annotated[
        str | None,
        typer.Option(
            help=_("Server root to measure (default: the install's; with no install, $OLLAMA_HOST).")
        ),
    ] = None,
    path: Annotated[
        PathChoice,
        typer.Option(
            help=_(
                "native (/api/chat), openai (/v1, what Chatchat calls), chatchat "
                "(Chatchat's /chat/chat/completions), kb (its knowledge-base chat) or search (search_docs)."
            )
        ),
    ] = "openai",
    kb: Annotated[
        str | None, typer.Option(help=_("Knowledge base for --path kb|search (default: the install's)."))
    ] = None,
    model: Annotated[str | None, typer.Option(help=_("Model name (default: from the install)."))] = None,
    requests: Annotated[int, typer.Option("--requests", "-n", help=_("Requests to measure."))] = 20,
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", help=_("Concurrent clients."))] = 1,
    rate: Annotated[float | None, typer.Option(help=_("Open loop: requests per second."))] = None,
    idle_gap: Annotated[
        str | None, typer.Option(help=_("Mean idle gap between requests: seconds or a duration (10m)."))
    ] = None,
    gap_distribution: Annotated[
        GapChoice, typer.Option(help=_("How idle gaps vary around their mean."))
    ] = "exponential",
    stream: Annotated[bool, typer.Option("--stream/--no-stream")] = True,
    max_tokens: Annotated[int, typer.Option(help=_("Cap on generated tokens per request."))] = 32,
    prompts: Annotated[
        Path | None, typer.Option(help=_("Prompt file, one per line (default: built-in set)."))
    ] = None,
    warmup: Annotated[int, typer.Option(help=_("Uncounted requests sent first."))] = 0,
    timeout: Annotated[
        float | None, typer.Option(help=_("Client timeout, seconds (default 600, openai's)."))
    ] = 600.0,
    max_connections: Annotated[int, typer.Option(help=_("Pool size."))] = 100,
    max_keepalive: Annotated[int, typer.Option(help=_("Idle connections kept."))] = 20,
    keepalive_expiry: Annotated[float, typer.Option(help=_("Seconds an idle connection is kept."))] = 5.0,
    new_client_per_request: Annotated[
        bool,
        typer.Option(help=_("A new client per request, as Chatchat 0.3.1.3 does (no connection reuse).")),
    ] = False,
    keep_alive: Annotated[
        str | None, typer.Option(help=_("Model keep_alive sent on the native path."))
    ] = None,
    trust_env: Annotated[
        bool, typer.Option(help=_("Honour HTTP(S)_PROXY/NO_PROXY like httpx's default."))
    ] = False,
    seed: Annotated[int, typer.Option(help=_("Seed for prompt order and idle gaps."))] = 0,
    json_out: Annotated[
        Path | None, typer.Option("--json-out", help=_("Write every sample as JSON."))
    ] = None,
    csv_out: Annotated[Path | None, typer.Option("--csv", help=_("Write every sample as CSV."))] = None,
    as_json: JsonOpt = False,
    compare: Annotated[
        list[Path] | None, typer.Option(help=_("Compare saved runs side by side (repeat)."))
    ] = None,
    users: Annotated[
        int | None,
        typer.Option(
            help=_(
                "Several users at once (closed loop): each waits an idle gap (--idle-gap, its own draws) "
                "before each of its requests."
            )
        ),
    ] = None,
    traffic: Annotated[
        Path | None,
        typer.Option(
            help=_(
                "Replay arrival times from a file: one per line, or CSV with a time column (e.g. from a "
                "gateway log); the first --requests of them."
            )
        ),
    ] = None,
) -> int:
    """Round-trip latency phase by phase: name resolution, connect, first byte, first token, total."""
    from tuner.cli import render

    if compare:
        from tuner.measure.files import load_summary

        render.compare([(p.name, *load_summary(p)) for p in compare])
        return 0
    from tuner.install.endpoints import endpoints
    from tuner.install.loading import open_install
    from tuner.knobs.values import keep_alive_body
    from tuner.measure.runner import run
    from tuner.measure.workload import (
        BUILTIN_PROMPTS,
        ClientSettings,
        Workload,
        load_prompts,
    )

    if path in ("kb", "search"):
        from tuner.cli.bench_kb import bench_kb

        return bench_kb(
            root=root, path=path, kb=kb, url=url, model=model, requests=requests, max_tokens=max_tokens,
            timeout=timeout, warmup=warmup, as_json=as_json, json_out=json_out,
        )  # fmt: skip
    _check_limits(max_connections, max_keepalive, timeout, rate)
    gap = duration_option(idle_gap, "--idle-gap") if idle_gap is not None else None
    body_keep_alive = keep_alive_body(keep_alive_option(keep_alive)) if keep_alive is not None else None
    for out_path, option in ((json_out, "--json-out"), (csv_out, "--csv")):
        if out_path is not None and not out_path.parent.is_dir():
            raise UserError(_("{option}: no such folder to write into").format(option=option), out_path)
    fallback = no_install_url(root) if path != "chatchat" and (url is None or model is None) else None
    if fallback is not None:  # no install here: Ollama's own address, and the model must be named
        url = url or fallback
        if model is None:
            raise UserError(_("no Chatchat install here to read the model from; pass --model (and --root)"))
    if url is None or model is None:
        ep = endpoints(open_install(root))
        if path == "chatchat":
            url = url or ep.chatchat_api
            model = model or ep.chatchat_model
        else:
            url = url or ep.ollama_root
            model = model or ep.model
        if url is None or model is None:
            raise UserError(_("cannot tell the endpoint or model from the install; pass --url and --model"))
    if gap_distribution not in ("exponential", "fixed", "uniform"):
        raise UserError(_("--gap-distribution must be exponential, fixed or uniform"))
    dist = gap_distribution
    from tuner.measure.users import arrival_for

    arrival, concurrency = arrival_for(
        users=users, rate=rate, traffic=traffic, mean_gap=gap, distribution=dist, concurrency=concurrency,
        requests=requests,
    )  # fmt: skip
    workload = Workload(
        path=path,
        model=model,
        prompts=load_prompts(prompts) if prompts else BUILTIN_PROMPTS,
        requests=requests,
        concurrency=concurrency,
        arrival=arrival,
        stream=stream,
        max_tokens=max_tokens,
        seed=seed,
        warmup=warmup,
    )
    client = ClientSettings(
        timeout=timeout,
        max_connections=max_connections,
        max_keepalive=max_keepalive,
        keepalive_expiry=keepalive_expiry,
        reuse_client=not new_client_per_request,
        trust_env=trust_env,
        keep_alive=body_keep_alive,
    )
    with render.progress(requests, f"{path} {url}") as advance:
        result = run(url, workload, client, on_sample=lambda s: advance())
    from tuner.apply.outputs import save_output
    from tuner.measure import files

    if json_out is not None:
        save_output(json_out, files.to_json(result), make_parents=False)
    if csv_out is not None:
        save_output(csv_out, files.to_csv(result), make_parents=False)
    render.bench(result, as_json=as_json)
    return _verdict(result, as_json=as_json)


def _verdict(result: RunResult, *, as_json: bool) -> int:
    """Print why requests failed (text mode) and give the exit code: 130 interrupted, 1 when no request
    succeeded (a one-line error naming the server's reason), else 0."""
    from tuner.measure.reasons import describe, failure_reasons

    reasons = failure_reasons(result.samples)
    if reasons and not as_json:
        from tuner.cli.layout import prose
        from tuner.cli.render import out

        prose(out, _("failures:"))
        for r in reasons:
            prose(out, f"{r.count} × {r.kind}: {r.reason}", indent="  ")
    if result.interrupted:
        return 130
    failed = len(result.samples)
    if result.samples and not any(s.ok for s in result.samples):
        raise UserError(
            _("no request succeeded ({failed} of {failed} failed): {reasons}").format(
                failed=failed, reasons=describe(reasons)
            )
        )
    return 0


def _check_limits(
    max_connections: int, max_keepalive: int, timeout: float | None, rate: float | None
) -> None:
    if max_connections < 1:
        raise UserError(_("--max-connections must be >= 1, not {n}").format(n=max_connections))
    if max_keepalive < 0:
        raise UserError(_("--max-keepalive must be >= 0, not {n}").format(n=max_keepalive))
    if timeout is not None and not (timeout > 0 and math.isfinite(timeout)):
        raise UserError(
            _("--timeout must be a finite number of seconds > 0, not {timeout:g}").format(timeout=timeout)
        )
    if rate is not None and not (rate > 0 and math.isfinite(rate)):
        raise UserError(
            _("--rate must be a finite number of requests per second > 0, not {rate:g}").format(rate=rate)
        )
