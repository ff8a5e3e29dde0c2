"""Files the tool produces for the user (plans, bench output, reports): one save, atomic, secrets masked.

The install's own files are written by :mod:`tuner.apply.writer` alone, with their real values; what the
tool saves beside them goes through :func:`save_output`, which masks every secret (see :mod:`tuner.redact`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tuner.errors import UserError
from tuner.i18n import _

if TYPE_CHECKING:
    from tuner.plan.build import Plan


def save_output(path: Path, text: str, *, make_parents: bool = True) -> None:
    """Write ``text`` (secrets masked) to ``path`` atomically; a one-line UserError naming it on failure.

    ``make_parents``: create missing folders first (a plan's default place); off where the caller has
    already checked that the folder exists (bench's ``--json-out`` and ``--csv``).
    """
    from tuner.apply.writer import atomic_write
    from tuner.redact import redact

    text = redact(text)
    try:
        if make_parents:
            path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, text.encode("utf-8"))
    except OSError as exc:
        raise UserError(_("cannot write ({error})").format(error=exc.strerror or exc), path) from None


def write_service_artifacts(
    folder: Path, env: Mapping[str, str], models: Sequence[tuple[str, str, str]] = ()
) -> tuple[Path, ...]:
    """The Ollama service artifacts (tuner.service.artifact) and the derived models' Modelfiles
    (tuner.service.modelfile) written into ``folder`` (created when missing); a one-line UserError on
    failure. They hold only ``OLLAMA_*`` values and model parameters: nothing to mask."""
    from tuner.apply.writer import atomic_write
    from tuner.service.artifact import artifacts
    from tuner.service.modelfile import modelfile_artifacts

    written = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for art in (*artifacts(env), *modelfile_artifacts(models)):
            atomic_write(folder / art.filename, art.text.encode("utf-8"))
            written.append(folder / art.filename)
    except OSError as exc:
        raise UserError(
            _("cannot write the service artifact ({error})").format(error=exc.strerror or exc), folder
        ) from None
    return tuple(written)


def save_plan(plan: Plan, path: Path) -> None:
    """Save a plan file (tuner.plan.planfile; secrets masked, atomically)."""
    from tuner.plan import planfile

    save_output(path, planfile.dumps(plan))
