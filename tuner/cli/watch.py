"""`chatchat-tune watch`: rounds of read-only probes, served as Prometheus metrics; --once; --emit."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tuner.cli.options import JsonOpt, RootOpt, duration_option


def watch(
    root: RootOpt = None,
    interval: Annotated[
        str,
        typer.Option(
            help="Time between rounds, e.g. 60s or 5m (at least 5 s; the lab's time when watching the lab)."
        ),
    ] = "60s",
    listen: Annotated[
        str, typer.Option(help="Where to serve /metrics, HOST:PORT (loopback only unless --allow-remote).")
    ] = "127.0.0.1:9464",
    allow_remote: Annotated[
        bool,
        typer.Option(
            "--allow-remote", help="Allow a --listen address beyond loopback (the metrics name the install)."
        ),
    ] = False,
    probe_chat: Annotated[
        str | None,
        typer.Option(
            "--probe-chat",
            metavar="EVERY",
            help="Also send one short chat request every EVERY (e.g. 10m): measures first token and total, "
            "but KEEPS THE MODEL LOADED (it resets Ollama's idle timer). Off by default.",
        ),
    ] = None,
    once: Annotated[
        bool, typer.Option("--once", help="Run one round, print it, exit 3 when an alert condition holds.")
    ] = False,
    as_json: JsonOpt = False,
    emit: Annotated[
        Path | None,
        typer.Option(
            "--emit", metavar="DIR", help="Write the Prometheus alert rules and a Grafana dashboard here."
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="With --emit: replace files that differ.")] = False,
    cold_loads_per_hour: Annotated[
        float,
        typer.Option(help="With --emit: alert when the model loads cold more often than this per hour."),
    ] = 6.0,
    plan: Annotated[
        Path | None, typer.Option("--plan", help="The applied plan (default: ROOT/.chatchat-tune/plan.json).")
    ] = None,
    storage: Annotated[
        str | None, typer.Option(help="The search's study storage (default: ROOT/.chatchat-tune/search.db).")
    ] = None,
    study_name: Annotated[str, typer.Option(help="The search's study name.")] = "chatchat-tune",
    name: Annotated[
        str | None, typer.Option(help="The install label on every series (default: folder name + path hash).")
    ] = None,
) -> int:
    """Keep measuring: Prometheus metrics, drift against the tuned baseline, alert rules.

    Reads only what has no side effect (/api/ps, /api/version, connect timings, Chatchat's /docs) unless
    --probe-chat. Runs until Ctrl-C (exit 130) or SIGTERM (exit 0)."""
    from tuner.cli import FINDINGS, OK, render_watch
    from tuner.errors import UserError
    from tuner.i18n import _

    if emit is not None:
        from tuner.watch.run import emit as write

        if not 0 < cold_loads_per_hour < 1e6:
            raise UserError(_("--cold-loads-per-hour must be more than 0"))
        render_watch.emitted(
            write(emit, force=force, cold_loads_per_hour=cold_loads_per_hour), as_json=as_json
        )
        return OK
    from tuner.watch.run import Watcher, WatchRequest, exporter_class, parse_listen, serve

    request = WatchRequest(
        root=root,
        interval=duration_option(interval, "--interval"),
        probe_chat=duration_option(probe_chat, "--probe-chat") if probe_chat is not None else None,
        plan=plan,
        storage=storage,
        study_name=study_name,
        name=name,
    )
    address = None if once else parse_listen(listen, allow_remote=allow_remote)
    if not once:
        exporter_class()  # the watch extra, checked before anything is read or sent
    watcher = Watcher.open(request)
    if once:
        try:
            report = watcher.round()
        finally:
            watcher.close()
        render_watch.summary(report, watcher.baseline, as_json=as_json)
        return FINDINGS if report.alerts else OK
    assert address is not None
    render_watch.started(watcher)
    serve(watcher, listen=address, on_ready=render_watch.ready, on_round=render_watch.progress)
    return OK
