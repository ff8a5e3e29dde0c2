"""`chatchat-tune search`, `report` and `warm`: the Optuna study and what follows from it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tuner.cli.options import (
    GapChoice,
    JsonOpt,
    ObjectiveChoice,
    PythonOpt,
    RootOpt,
    duration_option,
    keep_alive_option,
    no_install_url,
    require_extra,
)
from tuner.errors import UserError
from tuner.i18n import _

StorageOpt = Annotated[
    str | None,
    typer.Option(
        help=_(
            "Optuna storage URL, or journal:FILE for several workers on one machine "
            "(default: sqlite file in ROOT/.chatchat-tune/search.db, one process)."
        )
    ),
]
StudyOpt = Annotated[str, typer.Option("--study-name", help=_("Study name; the same name resumes it."))]


def search(
    root: RootOpt = None,
    trials: Annotated[
        int, typer.Option(help=_("New trials to run (a resumed study keeps the trials it holds)."))
    ] = 30,
    url: Annotated[
        str | None, typer.Option(help=_("Ollama root to measure (default: the install's)."))
    ] = None,
    model: Annotated[
        str | None, typer.Option(help=_("Model (default: the install's first Ollama model)."))
    ] = None,
    idle_gap: Annotated[
        str, typer.Option(help=_("Your typical idle gap between requests (mean), e.g. 10m."))
    ] = "10m",
    gap_distribution: Annotated[
        GapChoice, typer.Option(help=_("How idle gaps vary around their mean."))
    ] = "exponential",
    requests_per_trial: Annotated[
        int, typer.Option(help=_("Requests per trial (one per idle gap; 21 or more for a real p95)."))
    ] = 40,
    current_keep_alive: Annotated[
        str | None,
        typer.Option(help=_("The Ollama service's keep_alive today (default: $OLLAMA_KEEP_ALIVE or 5m).")),
    ] = None,
    objective: Annotated[
        ObjectiveChoice, typer.Option(help=_("p95, or multi for the latency/memory Pareto front."))
    ] = "p95",
    memory_free: Annotated[
        bool, typer.Option(help=_("Memory costs nothing: the fastest wins outright."))
    ] = False,
    memory_budget: Annotated[float | None, typer.Option(help=_("Constraint: average resident GB."))] = None,
    storage: StorageOpt = None,
    study_name: StudyOpt = "chatchat-tune",
    seed: Annotated[int, typer.Option(help=_("Sampler and gap seed."))] = 0,
    out: Annotated[
        Path | None,
        typer.Option(
            help=_("Plan file (default ROOT/.chatchat-tune/plans/STUDY.json, copied to plan.json).")
        ),
    ] = None,
    service_out: Annotated[
        Path | None, typer.Option(help=_("Write the Ollama service artifact here."))
    ] = None,
    apply_: Annotated[
        bool, typer.Option("--apply", help=_("Show the diff and ask before writing it."))
    ] = False,
    python: PythonOpt = None,
    patch_code: Annotated[
        bool,
        typer.Option("--patch-code", help=_("Search as if the code patch is in, and put it in the plan.")),
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help=_("With --apply: write without asking (no terminal needed)."))
    ] = False,
    as_json: JsonOpt = False,
    users: Annotated[
        int | None,
        typer.Option(
            help=_(
                "Several users at once (closed loop), each with the --idle-gap profile; each sends "
                "--requests-per-trial requests. Adds api_concurrencies, num_parallel (and max_loaded_models "
                "with --embed-model) to the space."
            )
        ),
    ] = None,
    rate: Annotated[
        float | None, typer.Option(help=_("Open loop: Poisson arrivals, requests per second."))
    ] = None,
    traffic: Annotated[
        Path | None,
        typer.Option(
            help=_("Open loop: arrival times from a file (one per line, or CSV with a time column).")
        ),
    ] = None,
    embed_model: Annotated[
        str | None,
        typer.Option(
            help=_("With several users: each request embeds its question with this model first (kb_chat).")
        ),
    ] = None,
    max_tokens: Annotated[
        int | None, typer.Option(help=_("Tokens per answer in trials (default 16)."))
    ] = None,
    slo: Annotated[
        str | None,
        typer.Option(
            help=_(
                "Size the box: the most users (or the highest --rate) served at p95 <= this (e.g. 5s), "
                "with the tuned settings."
            )
        ),
    ] = None,
) -> int:
    """Optuna study over the knobs on real round-trips; the winner becomes a plan for `apply --plan`."""
    import sys

    from tuner.apply.run import write_plan
    from tuner.cli import render, render_search
    from tuner.measure.workload import GAP_DISTRIBUTIONS
    from tuner.search.run import SearchRequest, plan_search, run_search

    if apply_ and not yes and not sys.stdin.isatty():  # before anything runs: no one could answer
        raise UserError(_("--apply asks before writing and there is no terminal to ask: add --yes"))
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise UserError(_("search needs Optuna: pip install 'chatchat-tune[search]'")) from None
    if storage:  # before anything else: a storage this Python cannot open is refused in one line, at once
        from tuner.search.study import check_storage

        check_storage(storage)
    if objective not in ("p95", "multi"):
        raise UserError(_("--objective must be p95 or multi"))
    if not 1 <= trials <= 500 or not 3 <= requests_per_trial <= 200:
        raise UserError(_("--trials must be 1..500 and --requests-per-trial 3..200"))
    if gap_distribution not in GAP_DISTRIBUTIONS:
        raise UserError(
            _("--gap-distribution must be one of {choices}").format(choices=", ".join(GAP_DISTRIBUTIONS))
        )
    from tuner.search.workload import check_workload

    many = check_workload(users=users, rate=rate, traffic=traffic, max_tokens=max_tokens, slo=slo)
    request = SearchRequest(
        root=root,
        python=python,
        url=url,
        model=model,
        mean_gap=duration_option(idle_gap, "--idle-gap"),
        gap_distribution=gap_distribution,
        requests_per_trial=requests_per_trial,
        current_keep_alive=current_keep_alive,
        objective=objective,
        memory_free=memory_free,
        memory_budget=memory_budget,
        storage=storage,
        study_name=study_name,
        trials=trials,
        seed=seed,
        patch_code=patch_code,
        users=users,
        rate=rate,
        traffic=many.traffic,
        embed_model=embed_model,
        max_tokens=max_tokens,
        slo=many.slo,
    )
    with render_search.progress(trials) as shown:
        searched = run_search(
            request, on_trial=shown.on_trial, on_stage=shown.on_stage, on_progress=shown.on_progress
        )
    planned = plan_search(searched, out=out, service_out=service_out)
    if as_json:
        from tuner.cli.jsonmodels import search_json

        render.print_json(search_json(searched.outcome, planned, study_name))
        return 0
    render_search.outcome(searched.outcome, multi=objective == "multi")
    from tuner.cli.render_users import users_outcome

    users_outcome(searched)
    render_search.planned(planned, review=apply_)
    if (
        apply_
        and planned.plan.changed_files
        and (yes or typer.confirm(_("Write these changes?"), default=False))
    ):
        render.applied(planned.plan, write_plan(planned.plan, f"search {study_name}"))
    return 0


def report(
    root: RootOpt = None,
    storage: StorageOpt = None,
    study_name: Annotated[
        str,
        typer.Option("--study-name", help=_("The study to report on (as named by `search --study-name`).")),
    ] = "chatchat-tune",
    output: Annotated[Path, typer.Option("--output", "-o", help=_("HTML file to write."))] = Path(
        "report.html"
    ),
) -> int:
    """An HTML page: the verdict and settings first, then the trials, before/after and memory."""
    require_extra("report", "report", "optuna", "plotly")
    if storage:  # a storage this Python cannot open: one line, before anything is read
        from tuner.search.study import check_storage

        check_storage(storage)
    from tuner.search.report import write_report

    written = write_report(output, root=root, storage=storage, study_name=study_name)
    typer.echo(_("wrote {path}").format(path=written))
    return 0


def warm(
    root: RootOpt = None,
    keep_alive: Annotated[
        str, typer.Option(help=_("keep_alive the loaded model keeps (e.g. 30m, -1)."))
    ] = "30m",
    url: Annotated[str | None, typer.Option(help=_("Ollama root (default: the install's)."))] = None,
    model: Annotated[str | None, typer.Option(help=_("Model (default: the install's)."))] = None,
    as_json: JsonOpt = False,
) -> int:
    """Load the model now with this keep_alive; it sticks for Chatchat's /v1 requests until it unloads."""
    from tuner.install.endpoints import endpoints
    from tuner.install.loading import open_install
    from tuner.knobs.values import keep_alive_body
    from tuner.measure import ollama

    value = keep_alive_option(keep_alive)
    fallback = no_install_url(root) if url is None or model is None else None
    if fallback is not None:  # no install here: Ollama's own address, and the model must be named
        url = url or fallback
        if model is None:
            raise UserError(_("no Chatchat install here to read the model from; pass --model (and --root)"))
    if url is None or model is None:
        ep = endpoints(open_install(root))
        url, model = url or ep.ollama_root, model or ep.model
    if not url or not model:
        raise UserError(_("the install has no Ollama entry with a model; pass --url and --model"))
    from tuner.shell import set_command

    seconds = ollama.preload(url, model, keep_alive=keep_alive_body(value))
    loaded = ollama.find_loaded(url, model)
    if as_json:
        from tuner.cli import render
        from tuner.cli.jsonmodels import SCHEMA_VERSION, WarmJson
        from tuner.jsonout import ms

        render.print_json(
            WarmJson(
                schema_version=SCHEMA_VERSION,
                url=url,
                model=model,
                keep_alive=value,
                load_ms=ms(seconds),
                expires_at=loaded.expires_at if loaded is not None else None,
                service_command=set_command(f"keep_alive={value}"),
            )
        )
        return 0
    from tuner.cli.layout import prose
    from tuner.cli.render import out

    expires = loaded.expires_at if loaded is not None else "?"
    prose(
        out,
        _("{model} loaded in {seconds} s with keep_alive {keep_alive}; expires at {expires}").format(
            model=model, seconds=f"{seconds:.2f}", keep_alive=value, expires=expires
        ),
    )
    prose(
        out,
        _(
            "this lasts until the model unloads or Ollama restarts; the durable fix is OLLAMA_KEEP_ALIVE on "
            "the service: {command}"
        ).format(command=set_command(f"keep_alive={value}")),
    )
    return 0
