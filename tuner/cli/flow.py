"""The steps `apply` and `search --apply` share: save a plan, hand out the service artifact, write files."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tuner.cli import render
from tuner.errors import UserError

if TYPE_CHECKING:
    from tuner.plan.build import Plan


def save_file(path: Path, text: str, *, make_parents: bool = True) -> None:
    """Write a file the tool produces (plan, bench output, report) atomically, secrets masked (see
    tuner.redact); one-line error on failure."""
    from tuner.apply.writer import atomic_write
    from tuner.redact import redact

    text = redact(text)
    try:
        if make_parents:
            path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, text.encode("utf-8"))
    except OSError as exc:
        raise UserError(f"cannot write ({exc.strerror or exc})", path) from None


def save_plan(plan: Plan, path: Path) -> None:
    from tuner.plan import planfile

    save_file(path, planfile.dumps(plan))


def emit_service(plan: Plan, service_out: Path | None, *, dry_run: bool) -> None:
    """Ollama's service settings: written to ``service_out`` (never on a dry run), else printed."""
    if not plan.service:
        return
    if service_out is not None and not dry_run:
        from tuner.service.artifact import write_artifacts

        try:
            render.written(write_artifacts(service_out, dict(plan.service)))
        except OSError as exc:
            raise UserError(
                f"cannot write the service artifact ({exc.strerror or exc})", service_out
            ) from None
    else:
        render.service(dict(plan.service))


def write_plan(plan: Plan, label: str) -> None:
    """Write the plan's changed files all-or-none with a backup set, and say where the backup is."""
    if not plan.changed_files:
        return
    from tuner.apply.writer import FileWrite, apply_writes

    writes = [FileWrite(f.file.path.resolve(), f.before, f.after) for f in plan.changed_files]
    render.applied(plan, apply_writes(plan.root, writes, label).folder)
