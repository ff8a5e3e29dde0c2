"""Typer commands. Each one parses options, calls the core, and hands the result to tuner.cli.render."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tuner.errors import UserError

if TYPE_CHECKING:
    from tuner.install.files import LoadedInstall
from tuner.lab.cli import app as lab_app

app = typer.Typer(
    name="chatchat-tune",
    help="Measure, tune and safely patch a Langchain-Chatchat install that talks to Ollama.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(lab_app, name="lab", help="The bundled Ollama-compatible lab server.")

RootOpt = Annotated[
    Path | None,
    typer.Option("--root", help="Chatchat root (default: $CHATCHAT_ROOT, else the working directory)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


PythonOpt = Annotated[
    Path | None,
    typer.Option("--python", help="Python of Chatchat's environment (to read or patch its code)."),
]


def remember_secrets(loaded: LoadedInstall) -> None:
    """Register the install's secrets (files and environment) so that no output shows them in full."""
    import json

    from tuner.redact import register, secrets_in

    for file in loaded.files.values():
        register(secrets_in(file.doc.data if file.doc is not None else file.json_data))
    for var, value in loaded.environ.items():
        register(secrets_in({var: value}))
        if value.lstrip().startswith(("{", "[")):  # MODEL_PLATFORMS and other JSON overrides
            try:
                register(secrets_in(json.loads(value)))
            except ValueError:
                continue


def loaded_install(root: Path | None, python: Path | None = None) -> LoadedInstall:
    from tuner.install.detect import detect, find_root
    from tuner.install.files import load_install

    loaded = load_install(detect(find_root(root)), os.environ)
    remember_secrets(loaded)
    if python is not None and loaded.install.generation == "0.3.1":
        from tuner.codepatch import locate, patch_state

        loaded = loaded.with_code(patch_state(locate(python)))
    return loaded


@app.command()
def inspect(root: RootOpt = None, as_json: JsonOpt = False, python: PythonOpt = None) -> int:
    """What install this is, what its settings say (file:line), and which settings take effect."""
    from tuner.cli import render
    from tuner.install.report import inspect_install

    report = inspect_install(loaded_install(root, python))
    render.inspect(report, as_json=as_json)
    return 0


@app.command()
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
            help="Also patch Chatchat 0.3.1.3's code so it honours timeout, pool "
            "and concurrency settings (needs --python; reviewed, backed up, rolled back like the rest).",
        ),
    ] = False,
    service_out: Annotated[
        Path | None, typer.Option("--service-out", help="Write the Ollama service artifact to this folder.")
    ] = None,
) -> int:
    """Set knobs in the install's files: a diff with --dry-run, else an atomic, backed-up write."""
    from tuner.cli import flow, render
    from tuner.plan import planfile
    from tuner.plan.build import build_plan
    from tuner.plan.settings import parse_setting

    settings = [parse_setting(s) for s in set_ or []]
    planned = planfile.load(plan) if plan is not None else None
    if planned is not None and plan is not None:
        from tuner.install.detect import find_root

        root = planfile.confirmed_root(planned, root, find_root(None), plan)
        python = planfile.confirmed_python(planned, python, plan)
        settings = planfile.with_secrets(planned, settings, plan)
        patch_code = patch_code or planned.python is not None
    if not settings and not patch_code:
        raise UserError("nothing to apply: give --set KNOB=VALUE, --patch-code or --plan FILE")
    loaded = loaded_install(root, python)
    code: list[tuple[Path, bytes, bytes]] = []
    if patch_code:
        from tuner.plan.codeplan import code_patch_inputs

        code, extra = code_patch_inputs(loaded, python, settings)
        settings = [*settings, *extra]
    result = build_plan(loaded, settings, replace=replace, code=code, python=python)
    if planned is not None and plan is not None:
        planfile.check_fresh(planned, result, plan)
    if out is not None:
        flow.save_plan(result, out)
    render.plan(result)
    flow.emit_service(result, service_out, dry_run=dry_run)
    if dry_run:
        return 2 if result.changed_files else 0
    flow.write_plan(result, " ".join(str(s) for s in settings))
    return 0


@app.command()
def rollback(
    root: RootOpt = None,
    force: Annotated[
        bool, typer.Option("--force", help="Restore even files changed since the apply.")
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would be restored.")] = False,
) -> int:
    """Put back the files of the last apply (refused when they changed since, unless --force)."""
    from tuner.apply.rollback import rollback as do_rollback
    from tuner.cli import render
    from tuner.install.detect import find_root

    restored = do_rollback(find_root(root).resolve(), force=force, dry_run=dry_run)
    render.rolled_back(restored, dry_run=dry_run)
    return 0


@app.command()
def demo(
    root: RootOpt = None,
    trials: Annotated[int, typer.Option(help="Trials in the demo's search.")] = 30,
) -> int:
    """The main job on an embedded default: the bundled lab and sample install, doctor, search, diff."""
    from tuner.cli.demo import run_demo

    return run_demo(root, trials)


def main_commands(args: list[str]) -> int:
    """Run one command in this process (the demo chains them) with the CLI's own error handling."""
    from tuner.cli import main

    return main(args)


# Commands that live in their own modules register themselves on `app` when imported.
from tuner.cli import bench as _bench  # noqa: E402,F401
from tuner.cli import doctor as _doctor  # noqa: E402,F401
from tuner.cli import search as _search  # noqa: E402,F401
