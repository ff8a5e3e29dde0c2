"""`chatchat-tune search`, `report` and `warm`: the Optuna study and what follows from it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer

from tuner.cli.app import PythonOpt, RootOpt, app, loaded_install
from tuner.cli.options import duration_option, keep_alive_option
from tuner.errors import UserError

StorageOpt = Annotated[
    str | None,
    typer.Option(help="Optuna storage URL (default: sqlite file in ROOT/.chatchat-tune/search.db)."),
]
StudyOpt = Annotated[str, typer.Option("--study-name", help="Study name; the same name resumes it.")]


def _storage(storage: str | None, root: Path) -> str:
    if storage:
        return storage
    from tuner.apply.writer import state_dir

    return "sqlite:///" + (state_dir(root) / "search.db").as_posix()


@app.command()
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
) -> int:
    """Optuna study over the knobs on real round-trips; the winner becomes a plan for `apply --plan`."""
    from tuner.cli import flow, render_search
    from tuner.measure.endpoints import endpoints
    from tuner.plan.build import build_plan
    from tuner.search.current import GAP_DISTRIBUTIONS, current_settings
    from tuner.search.session import SearchInputs, lab_time_scale
    from tuner.search.session import search as run_search
    from tuner.search.study import StudySpec
    from tuner.search.trial import Target

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
    loaded = loaded_install(root, python)
    ep = endpoints(loaded)
    ollama_root = url.rstrip("/") if url else ep.ollama_root
    model = model or ep.model
    if not ollama_root or not model:
        raise UserError("the install has no Ollama entry with a model; pass --url and --model")
    host = urlsplit(ollama_root).hostname or "127.0.0.1"
    keep = current_keep_alive or os.environ.get("OLLAMA_KEEP_ALIVE") or "5m"
    if gap_distribution not in GAP_DISTRIBUTIONS:
        raise UserError(f"--gap-distribution must be one of {', '.join(GAP_DISTRIBUTIONS)}")
    code: list[tuple[Path, bytes, bytes]] = []
    if patch_code:
        from tuner.plan.codeplan import code_patch_inputs

        code, _ = code_patch_inputs(loaded, python, [])
    now = current_settings(loaded, ep.ollama_entry)
    inputs = SearchInputs(
        Target(ollama_root, model, lab_time_scale(ollama_root)),
        loaded.install.generation,
        # Neither generation reuses connections as shipped; the code patch does (candidates with
        # --patch-code reuse them, the baseline keeps today's behaviour).
        reuse=loaded.patched or patch_code,
        reuse_now=loaded.patched,
        current_timeout=now.timeout,
        current_keep_alive=keep,
        current_expiry=now.keepalive_expiry,
        mean_gap=duration_option(idle_gap, "--idle-gap"),
        gap_distribution=gap_distribution,
        requests_per_trial=requests_per_trial,
        memory_free=memory_free,
        entry=ep.ollama_entry,
        configured_url=ep.ollama_url if not url else None,
        answer_tokens=now.max_tokens,
    )
    spec = StudySpec(
        _storage(storage, loaded.install.root),
        study_name,
        trials,
        seed,
        objective,  # type: ignore[arg-type]
        memory_budget,
    )
    with render_search.trial_progress(spec.trials) as on_trial:
        outcome = run_search(inputs, spec, host=host, on_trial=on_trial, on_stage=render_search.stage)
    render_search.outcome(outcome, multi=objective == "multi")
    chosen = list(outcome.recommendation.settings)
    if patch_code:  # the keys the patch reads, at their defaults where the search chose no value
        from tuner.plan.codeplan import code_patch_inputs

        chosen += code_patch_inputs(loaded, python, chosen)[1]
    plan = build_plan(loaded, chosen, code=code, python=python)
    if out is None:
        from tuner.apply.writer import state_dir

        out = state_dir(loaded.install.root) / "plan.json"
    flow.save_plan(plan, out)
    render_search.plan_written(out, plan)
    if apply_ and (plan.changed_files or plan.service):
        from tuner.cli import render

        render.plan(plan)
        flow.emit_service(plan, service_out, dry_run=False)
        if plan.changed_files and typer.confirm("Write these changes?", default=False):
            flow.write_plan(plan, f"search {study_name}")
    elif service_out is not None:
        flow.emit_service(plan, service_out, dry_run=False)
    return 0


@app.command()
def report(
    root: RootOpt = None,
    storage: StorageOpt = None,
    study_name: StudyOpt = "chatchat-tune",
    output: Annotated[Path, typer.Option("--output", "-o", help="HTML file to write.")] = Path("report.html"),
) -> int:
    """An HTML page with Optuna's plots and the before/after latency distributions."""
    from tuner.cli import flow
    from tuner.install.detect import find_root
    from tuner.search.report import build_report

    root_dir = find_root(root).resolve()
    flow.save_file(output, build_report(_storage(storage, root_dir), study_name))
    typer.echo(f"wrote {output}")
    return 0


@app.command()
def warm(
    root: RootOpt = None,
    keep_alive: Annotated[
        str, typer.Option(help="keep_alive the loaded model keeps (e.g. 30m, -1).")
    ] = "30m",
    url: Annotated[str | None, typer.Option(help="Ollama root (default: the install's).")] = None,
    model: Annotated[str | None, typer.Option(help="Model (default: the install's).")] = None,
) -> int:
    """Load the model now with this keep_alive; it sticks for Chatchat's /v1 requests until it unloads."""
    from tuner.knobs.values import keep_alive_body
    from tuner.measure import ollama
    from tuner.measure.endpoints import endpoints

    value = keep_alive_option(keep_alive)
    if url is None or model is None:
        ep = endpoints(loaded_install(root))
        url, model = url or ep.ollama_root, model or ep.model
    if not url or not model:
        raise UserError("the install has no Ollama entry with a model; pass --url and --model")
    seconds = ollama.preload(url, model, keep_alive=keep_alive_body(value))
    loaded = ollama.find_loaded(url, model)
    expires = loaded.expires_at if loaded is not None else "?"
    typer.echo(f"{model} loaded in {seconds:.2f} s with keep_alive {value}; expires at {expires}")
    typer.echo(
        "this lasts until the model unloads or Ollama restarts; the durable fix is OLLAMA_KEEP_ALIVE on "
        f"the service: chatchat-tune apply --set keep_alive={value}"
    )
    return 0
