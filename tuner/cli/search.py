"""`chatchat-tune search`, `report` and `warm`: the Optuna study and what follows from it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer

from tuner.cli.options import PythonOpt, RootOpt, duration_option, keep_alive_option
from tuner.errors import UserError

if TYPE_CHECKING:
    from tuner.search.study import Objective

StorageOpt = Annotated[
    str | None,
    typer.Option(help="Optuna storage URL (default: sqlite file in ROOT/.chatchat-tune/search.db)."),
]
StudyOpt = Annotated[str, typer.Option("--study-name", help="Study name; the same name resumes it.")]


def search(
    root: RootOpt = None,
    trials: Annotated[int, typer.Option(help="Trials in the study (a resumed study runs the rest).")] = 30,
    url: Annotated[str | None, typer.Option(help="Ollama root to measure (default: the install's).")] = None,
    model: Annotated[
        str | None, typer.Option(help="Model (default: the install's first Ollama model).")
    ] = None,
    idle_gap: Annotated[
        str, typer.Option(help="Your typical idle gap between requests (mean), e.g. 10m.")
    ] = "10m",
    gap_distribution: Annotated[str, typer.Option(help="exponential, fixed or uniform.")] = "exponential",
    requests_per_trial: Annotated[int, typer.Option(help="Requests per trial (one per idle gap).")] = 10,
    current_keep_alive: Annotated[
        str | None,
        typer.Option(help="The Ollama service's keep_alive today (default: $OLLAMA_KEEP_ALIVE or 5m)."),
    ] = None,
    objective: Annotated[
        str, typer.Option(help="p95, or multi for the latency/memory Pareto front.")
    ] = "p95",
    memory_free: Annotated[
        bool, typer.Option(help="Memory costs nothing: the fastest wins outright.")
    ] = False,
    memory_budget: Annotated[float | None, typer.Option(help="Constraint: average resident GB.")] = None,
    storage: StorageOpt = None,
    study_name: StudyOpt = "chatchat-tune",
    seed: Annotated[int, typer.Option(help="Sampler and gap seed.")] = 0,
    out: Annotated[
        Path | None, typer.Option(help="Plan file (default ROOT/.chatchat-tune/plan.json).")
    ] = None,
    service_out: Annotated[Path | None, typer.Option(help="Write the Ollama service artifact here.")] = None,
    apply_: Annotated[bool, typer.Option("--apply", help="Show the diff and ask before writing it.")] = False,
    python: PythonOpt = None,
    patch_code: Annotated[
        bool, typer.Option("--patch-code", help="Search as if the code patch is in, and put it in the plan.")
    ] = False,
    users: Annotated[
        int | None,
        typer.Option(
            help="Several users at once (closed loop), each with the --idle-gap profile; each sends "
            "--requests-per-trial requests. Adds api_concurrencies, num_parallel (and max_loaded_models "
            "with --embed-model) to the space."
        ),
    ] = None,
    rate: Annotated[
        float | None, typer.Option(help="Open loop: Poisson arrivals, requests per second.")
    ] = None,
    traffic: Annotated[
        Path | None,
        typer.Option(help="Open loop: arrival times from a file (one per line, or CSV with a time column)."),
    ] = None,
    embed_model: Annotated[
        str | None,
        typer.Option(
            help="With several users: each request embeds its question with this model first (kb_chat)."
        ),
    ] = None,
    max_tokens: Annotated[int | None, typer.Option(help="Tokens per answer in trials (default 16).")] = None,
    slo: Annotated[
        str | None,
        typer.Option(
            help="Size the box: the most users (or the highest --rate) served at p95 <= this (e.g. 5s), "
            "with the tuned settings."
        ),
    ] = None,
) -> int:
    """Optuna study over the knobs on real round-trips; the winner becomes a plan for `apply --plan`."""
    from tuner.apply.run import write_plan
    from tuner.cli import render, render_search
    from tuner.measure.workload import GAP_DISTRIBUTIONS
    from tuner.search.run import SearchRequest, plan_search, run_search

    try:
        import optuna  # noqa: F401
    except ImportError:
        raise UserError("search needs Optuna: pip install 'chatchat-tune[search]'") from None
    if storage:  # before anything else: a storage this Python cannot open is refused in one line, at once
        from tuner.search.study import check_storage

        check_storage(storage)
    if objective not in ("p95", "multi"):
        raise UserError("--objective must be p95 or multi")
    if not 1 <= trials <= 500 or not 3 <= requests_per_trial <= 200:
        raise UserError("--trials must be 1..500 and --requests-per-trial 3..200")
    if gap_distribution not in GAP_DISTRIBUTIONS:
        raise UserError(f"--gap-distribution must be one of {', '.join(GAP_DISTRIBUTIONS)}")
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
        objective=cast("Objective", objective),
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
    with render_search.trial_progress(trials) as on_trial:
        searched = run_search(request, on_trial=on_trial, on_stage=render_search.stage)
    render_search.outcome(searched.outcome, multi=objective == "multi")
    from tuner.cli.render_users import users_outcome

    users_outcome(searched)
    planned = plan_search(searched, out=out, service_out=service_out)
    render_search.planned(planned, review=apply_)
    if apply_ and planned.plan.changed_files and typer.confirm("Write these changes?", default=False):
        render.applied(planned.plan, write_plan(planned.plan, f"search {study_name}"))
    return 0


def report(
    root: RootOpt = None,
    storage: StorageOpt = None,
    study_name: Annotated[
        str, typer.Option("--study-name", help="The study to report on (as named by `search --study-name`).")
    ] = "chatchat-tune",
    output: Annotated[Path, typer.Option("--output", "-o", help="HTML file to write.")] = Path("report.html"),
) -> int:
    """An HTML page with Optuna's plots and the before/after latency distributions."""
    from tuner.search.report import write_report

    typer.echo(f"wrote {write_report(output, root=root, storage=storage, study_name=study_name)}")
    return 0


def warm(
    root: RootOpt = None,
    keep_alive: Annotated[
        str, typer.Option(help="keep_alive the loaded model keeps (e.g. 30m, -1).")
    ] = "30m",
    url: Annotated[str | None, typer.Option(help="Ollama root (default: the install's).")] = None,
    model: Annotated[str | None, typer.Option(help="Model (default: the install's).")] = None,
) -> int:
    """Load the model now with this keep_alive; it sticks for Chatchat's /v1 requests until it unloads."""
    from tuner.install.endpoints import endpoints
    from tuner.install.loading import open_install
    from tuner.knobs.values import keep_alive_body
    from tuner.measure import ollama

    value = keep_alive_option(keep_alive)
    if url is None or model is None:
        ep = endpoints(open_install(root))
        url, model = url or ep.ollama_root, model or ep.model
    if not url or not model:
        raise UserError("the install has no Ollama entry with a model; pass --url and --model")
    from tuner.shell import set_command

    seconds = ollama.preload(url, model, keep_alive=keep_alive_body(value))
    loaded = ollama.find_loaded(url, model)
    expires = loaded.expires_at if loaded is not None else "?"
    typer.echo(f"{model} loaded in {seconds:.2f} s with keep_alive {value}; expires at {expires}")
    typer.echo(
        "this lasts until the model unloads or Ollama restarts; the durable fix is OLLAMA_KEEP_ALIVE on "
        f"the service: {set_command(f'keep_alive={value}')}"
    )
    return 0
