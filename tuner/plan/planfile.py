"""The plan file: what to set, and each target file's hash when the plan was made (stale plans refused)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tuner.errors import UserError
from tuner.i18n import _
from tuner.install.files import sha256
from tuner.plan.build import Plan
from tuner.plan.settings import Setting, checked, knob_named

FORMAT = "chatchat-tune-plan"


@dataclass(frozen=True)
class PlanFile:
    root: Path
    generation: str
    settings: tuple[Setting, ...]
    hashes: dict[str, str]  # absolute path -> sha256 at plan time
    python: Path | None = None  # set when the plan carries the code patch


def _shown(value: object) -> object:
    """A setting's value as saved: secrets (a proxy URL's password) masked. ``load`` then asks for them."""
    from tuner.redact import redact

    return redact(value) if isinstance(value, str) else value


def masked(value: object) -> bool:
    from tuner.redact import redact

    return isinstance(value, str) and ("****" in value or redact(value) != value)


def dumps(plan: Plan) -> str:
    data = {
        FORMAT: 1,
        "root": str(plan.root),
        "generation": plan.generation,
        "settings": [{"knob": s.knob, "entry": s.entry, "value": _shown(s.value)} for s in plan.settings],
        "files": [{"path": str(f.file.path), "sha256": sha256(f.before)} for f in plan.files],
        "code_patch": {"python": str(plan.python)} if plan.python is not None else None,
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def load(path: Path) -> PlanFile:
    from tuner.install.files import read_bytes

    if not path.exists() and not path.is_symlink():
        raise UserError(_("no such plan file"), path)
    raw = read_bytes(path)  # a regular file of bounded size, never a FIFO
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise UserError(_("cannot read the plan file (not UTF-8 text)"), path) from None
    except json.JSONDecodeError as exc:
        raise UserError(
            _("line {lineno}: malformed plan file ({msg})").format(lineno=exc.lineno, msg=exc.msg), path
        ) from None
    except ValueError as exc:  # e.g. an integer over Python's digit limit
        raise UserError(
            _("malformed plan file ({error})").format(error=str(exc).splitlines()[0]), path
        ) from None
    except RecursionError:
        raise UserError(_("malformed plan file (nested too deeply)"), path) from None
    if not isinstance(data, dict) or data.get(FORMAT) != 1:
        raise UserError(_('not a chatchat-tune plan file (no "{format}": 1)').format(format=FORMAT), path)
    try:
        return _parse(data)
    except UserError as exc:
        raise UserError(exc.message, path) from None


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value or "\x00" in value or len(value) > 4096:
        raise UserError(_("malformed plan file: {what} must be a non-empty string").format(what=what))
    return value


def _parse(data: dict[str, object]) -> PlanFile:
    """The plan's fields, each checked for its type before anything is built from it."""
    items = data.get("settings")
    if not isinstance(items, list) or not all(isinstance(s, dict) for s in items):
        raise UserError(_('malformed plan file: "settings" must be a list of objects'))
    settings = []
    for s in items:
        knob = _text(s.get("knob"), '"knob"')
        entry = s.get("entry")
        if entry is not None:
            entry = _text(entry, _("the entry of {knob}").format(knob=knob))
        if "value" not in s:
            raise UserError(_("malformed plan file: {knob} has no value").format(knob=knob))
        value = s["value"]
        if masked(value):  # a secret to give again (see with_secrets); the knob resolved all the same
            settings.append(Setting(knob_named(knob).name, entry, value))
            continue
        settings.append(checked(knob, entry, value))
    files = data.get("files", [])
    if not isinstance(files, list) or not all(
        isinstance(f, dict) and isinstance(f.get("path"), str) and isinstance(f.get("sha256"), str)
        for f in files
    ):
        raise UserError(_('malformed plan file: "files" must be a list of {"path", "sha256"} objects'))
    hashes = {f["path"]: f["sha256"] for f in files}
    code = data.get("code_patch")
    if code is not None and not isinstance(code, dict):
        raise UserError(_('malformed plan file: "code_patch" must be an object or null'))
    python = Path(_text(code["python"], "code_patch.python")) if code and code.get("python") else None
    root = Path(_text(data.get("root"), '"root"'))
    if not root.is_absolute():
        raise UserError(_("malformed plan file: root {root} is not an absolute path").format(root=root))
    generation = _text(data.get("generation"), '"generation"')
    return PlanFile(root, generation, tuple(settings), hashes, python)


def confirmed_python(planned: PlanFile, given: Path | None, plan_path: Path) -> Path | None:
    """The interpreter to run for a plan's code patch: only one the user names on the command line.

    A plan is data: it may say which interpreter it was made with, but it never chooses a program to run.
    """
    if planned.python is None:
        return given
    if given is None:
        raise UserError(
            _(
                "this plan patches Chatchat's code with the interpreter {python}; a plan never "
                "chooses a program to run: confirm it with --python {python}"
            ).format(python=planned.python),
            plan_path,
        )
    if given.absolute().resolve() != planned.python.absolute().resolve():
        raise UserError(
            _("this plan was made with the interpreter {python}, not {given}; make a new plan").format(
                python=planned.python, given=given
            ),
            plan_path,
        )
    return given


def confirmed_root(planned: PlanFile, given: Path | None, default: Path, plan_path: Path) -> Path:
    """The root a plan may write: the one the user names (``--root``, ``CHATCHAT_ROOT`` or the working
    directory), or the root whose state folder holds the plan file. Any other root is refused."""
    if given is not None:
        if given.resolve() != planned.root:
            raise UserError(
                _("this plan was made for {root}, not {given}").format(
                    root=planned.root, given=given.resolve()
                ),
                plan_path,
            )
        return planned.root
    home = plan_path.resolve().parent.parent
    if planned.root in (default.resolve(), home):
        return planned.root
    raise UserError(
        _("this plan is for {root}; confirm it with --root {root}").format(root=planned.root),
        plan_path,
    )


def with_secrets(planned: PlanFile, given: list[Setting], plan_path: Path) -> list[Setting]:
    """The plan's settings followed by the command line's (which win); a masked secret in the plan must be
    given again on the command line (the plan file never holds it)."""
    named = {(s.knob, s.entry) for s in given}
    for s in planned.settings:
        if masked(s.value) and (s.knob, s.entry) not in named:
            entry = f"[{s.entry}]" if s.entry else ""
            raise UserError(
                _(
                    "the plan holds a masked secret for {knob}{entry}; give it again with --set "
                    "{knob}{entry}=VALUE"
                ).format(knob=s.knob, entry=entry),
                plan_path,
            )
    kept = [s for s in planned.settings if (s.knob, s.entry) not in named]
    return [*kept, *given]


def check_fresh(planned: PlanFile, plan: Plan, plan_path: Path) -> None:
    """Refuse a plan whose files changed since it was made. A file that already holds the planned values
    (the plan was applied) is fine: applying a plan twice changes nothing the second time."""
    if planned.generation != plan.generation:
        raise UserError(
            _("this plan is for a {generation} install; this one is {found}").format(
                generation=planned.generation, found=plan.generation
            ),
            plan_path,
        )
    for f in plan.changed_files:
        recorded = planned.hashes.get(str(f.file.path))
        if recorded is None:
            raise UserError(
                _("stale plan: it does not cover {path}; make a new plan").format(path=f.file.path), plan_path
            )
        if recorded != sha256(f.before):
            raise UserError(
                _("stale plan: {path} changed since the plan was made; make a new plan").format(
                    path=f.file.path
                ),
                plan_path,
            )
