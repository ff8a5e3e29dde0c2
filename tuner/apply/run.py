"""`apply` from start to end: the request in, the plan made and checked, files written, the outcome out.

    outcome = run_apply(ApplyRequest(root=root, settings=(Setting("api_timeout", None, 120.0),)))
    outcome.plan.changed_files, outcome.backup, outcome.exit_code

The order is the guarantee: a plan file is confirmed (its root, its interpreter, its masked secrets) before
the install is read; the plan is checked fresh before anything is saved; the plan (``out``) and the Ollama
service artifacts are saved before the install's files; those are written last, all-or-none with a backup
set (:func:`tuner.apply.writer.apply_writes`), and never on a dry run. Nothing here prints: the caller
renders the outcome (``show`` sees it before the install is written, so a refused write still shows the
diff it refused).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from tuner.errors import UserError
from tuner.i18n import _

if TYPE_CHECKING:
    from tuner.plan.build import Plan
    from tuner.plan.planfile import PlanFile
    from tuner.plan.settings import Setting

PENDING = 2
"""The exit code of a dry run that found changes to make (0: the install already has the values)."""


@dataclass(frozen=True, kw_only=True)
class ApplyRequest:
    """What to apply, as the user asked it (``chatchat-tune apply``'s options)."""

    root: Path | None = None  # None: $CHATCHAT_ROOT, else the working directory
    settings: tuple[Setting, ...] = ()  # --set, parsed; with a plan file these win over the plan's
    plan_file: Path | None = None
    dry_run: bool = False
    out: Path | None = None  # also save the plan here
    replace: bool = False  # overwrite a value that is an expression
    python: Path | None = None  # Chatchat's interpreter: only ever the one the user names
    patch_code: bool = False
    service_out: Path | None = None  # folder for the Ollama service artifacts (else they are shown)


@dataclass(frozen=True, kw_only=True)
class ApplyOutcome:
    plan: Plan
    dry_run: bool
    plan_saved: Path | None = None
    service_written: tuple[Path, ...] = ()  # the service artifacts written (none on a dry run)
    backup: Path | None = None  # the backup set of the files written; None when nothing was written

    @property
    def written(self) -> tuple[Path, ...]:
        """The install's files replaced by this apply."""
        return tuple(f.file.path for f in self.plan.changed_files) if self.backup is not None else ()

    @property
    def exit_code(self) -> int:
        """:data:`PENDING` when a dry run found changes to make, else 0."""
        return PENDING if self.dry_run and self.plan.changed_files else 0


def run_apply(request: ApplyRequest, *, show: Callable[[ApplyOutcome], None] | None = None) -> ApplyOutcome:
    """Plan, check, save and write as ``request`` says (see the module's docstring for the order)."""
    from tuner.apply.outputs import save_plan
    from tuner.install.loading import open_install
    from tuner.plan import planfile
    from tuner.plan.build import build_plan

    root, python, settings, patch_code, planned = _with_plan_file(request)
    if not settings and not patch_code:
        raise UserError(_("nothing to apply: give --set KNOB=VALUE, --patch-code or --plan FILE"))
    loaded = open_install(root, python)
    code: list[tuple[Path, bytes, bytes]] = []
    if patch_code:
        from tuner.plan.codeplan import code_patch_inputs

        code, extra = code_patch_inputs(loaded, python, settings)
        settings = [*settings, *extra]
    plan = build_plan(loaded, settings, replace=request.replace, code=code, python=python)
    if planned is not None and request.plan_file is not None:
        planfile.check_fresh(planned, plan, request.plan_file)
    if request.out is not None:
        save_plan(plan, request.out)
    service: tuple[Path, ...] = ()
    if request.service_out is not None and (plan.service or plan.models) and not request.dry_run:
        from tuner.apply.outputs import write_service_artifacts

        service = write_service_artifacts(request.service_out, dict(plan.service), plan.models)
    outcome = ApplyOutcome(
        plan=plan, dry_run=request.dry_run, plan_saved=request.out, service_written=service
    )
    if show is not None:
        show(outcome)
    if request.dry_run:
        return outcome
    return replace(outcome, backup=write_plan(plan, " ".join(str(s) for s in settings)))


def _with_plan_file(
    request: ApplyRequest,
) -> tuple[Path | None, Path | None, list[Setting], bool, PlanFile | None]:
    """(root, python, settings, patch_code, the plan file): a plan file's, each confirmed by the user.

    A plan is data: it never picks the root to write, the interpreter to run, or a secret to set (see
    :func:`tuner.plan.planfile.confirmed_root`, ``confirmed_python`` and ``with_secrets``).
    """
    settings = list(request.settings)
    if request.plan_file is None:
        return request.root, request.python, settings, request.patch_code, None
    from tuner.install.detect import find_root
    from tuner.plan import planfile

    path = request.plan_file
    planned = planfile.load(path)
    root = planfile.confirmed_root(planned, request.root, find_root(None), path)
    python = planfile.confirmed_python(planned, request.python, path)
    settings = planfile.with_secrets(planned, settings, path)
    return root, python, settings, request.patch_code or planned.python is not None, planned


def write_plan(plan: Plan, label: str) -> Path | None:
    """Write the plan's changed files all-or-none with a backup set labelled ``label``; the set's folder,
    or None when the install already has every value (nothing written)."""
    if not plan.changed_files:
        return None
    from tuner.apply.writer import FileWrite, apply_writes

    writes = [FileWrite(f.file.path.resolve(), f.before, f.after) for f in plan.changed_files]
    return apply_writes(plan.root, writes, label).folder
