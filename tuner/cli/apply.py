"""`chatchat-tune apply` and `rollback`: options in, one call to tuner.apply, the outcome rendered."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated, Any

import typer

from tuner.cli.options import JsonOpt, PythonOpt, RootOpt


def apply(
    root: RootOpt = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", "-s", metavar="KNOB[entry]=VALUE", help="A value to set; repeat for several."),
    ] = None,
    plan: Annotated[
        Path | None, typer.Option("--plan", help="Apply a plan file (refused when stale).")
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Show the diff; write nothing. Exit 2 when changes are pending, 0 when none."
        ),
    ] = False,
    out: Annotated[Path | None, typer.Option("--out", help="Also save the plan to this file.")] = None,
    replace: Annotated[
        bool,
        typer.Option("--replace", help="Allow overwriting a value that is an expression, not a literal."),
    ] = False,
    python: PythonOpt = None,
    patch_code: Annotated[
        bool,
        typer.Option(
            "--patch-code",
            help="Also patch Chatchat 0.3.1.x's code so it honours timeout, pool "
            "and concurrency settings (needs --python; reviewed, backed up, rolled back like the rest).",
        ),
    ] = False,
    service_out: Annotated[
        Path | None, typer.Option("--service-out", help="Write the Ollama service artifact to this folder.")
    ] = None,
    all_systems: Annotated[
        bool,
        typer.Option("--all-systems", help="Show the Ollama service commands for Linux, macOS and Windows."),
    ] = False,
    as_json: JsonOpt = False,
) -> int:
    """Set knobs in the install's files: a diff with --dry-run, else an atomic, backed-up write."""
    from tuner.apply.run import ApplyRequest, run_apply
    from tuner.cli import render
    from tuner.plan.settings import parse_setting

    request = ApplyRequest(
        root=root,
        settings=tuple(parse_setting(s) for s in set_ or []),
        plan_file=plan,
        dry_run=dry_run,
        out=out,
        replace=replace,
        python=python,
        patch_code=patch_code,
        service_out=service_out,
    )
    if as_json:  # the diff goes into the JSON: nothing else on stdout
        outcome = run_apply(request, show=lambda o: None)
        from tuner.cli.jsonmodels import apply_json

        diffs = {
            f.file.path: render.diff_text(_one_file(outcome.plan, f)) for f in outcome.plan.changed_files
        }
        render.print_json(apply_json(outcome, diffs))
        return outcome.exit_code
    outcome = run_apply(request, show=functools.partial(render.apply_preview, all_systems=all_systems))
    render.applied(outcome.plan, outcome.backup)
    return outcome.exit_code


def _one_file(plan: Any, changed: Any) -> Any:
    """The plan reduced to one changed file (its diff alone)."""
    import dataclasses

    return dataclasses.replace(plan, files=(changed,))


def rollback(
    root: RootOpt = None,
    force: Annotated[
        bool, typer.Option("--force", help="Restore even files changed since the apply.")
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Say what would be restored. Exit 2 when a file would be restored, 0 when none."
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> int:
    """Put back the files of the last apply (refused when they changed since, unless --force)."""
    from tuner.apply.rollback import RollbackRequest, run_rollback
    from tuner.cli import OK, PENDING, render

    restored = run_rollback(RollbackRequest(root=root, force=force, dry_run=dry_run))
    if as_json:
        from tuner.cli.jsonmodels import rollback_json

        render.print_json(rollback_json(restored))
    else:
        render.rolled_back(restored)
    return PENDING if restored.dry_run and restored.restored else OK
