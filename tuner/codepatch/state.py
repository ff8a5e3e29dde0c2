"""Read an installed package's files and say whether the patch is there, or plan it (reads, never writes)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tuner.codepatch.package import ChatchatPackage, locate
from tuner.codepatch.shapes import SHAPES, FunctionShape, shapes_at
from tuner.errors import UserError
from tuner.i18n import _

FunctionState = Literal["absent", "applied", "unknown-shape"]
State = Literal["absent", "applied", "unknown-shape", "unavailable"]


@dataclass(frozen=True)
class FileState:
    path: Path
    function: str
    state: FunctionState
    detail: str
    foreign: bool = False  # unknown-shape because it is another version's code, not a damaged file


@dataclass(frozen=True)
class PatchState:
    """``absent``: every target is a shipped form or already patched, at least one is not patched yet
    (patchable); ``applied``: every target carries the patch; ``unknown-shape``: at least one target is
    neither (the patch refuses the whole package); ``unavailable``: no package to look at (``reason``)."""

    package: ChatchatPackage | None
    state: State
    files: tuple[FileState, ...]
    reason: str = ""  # for "unavailable": why (one line)

    @property
    def summary(self) -> str:
        if self.package is None:
            return _("code patch not available: {reason}").format(reason=self.reason)
        label = self.package.label
        names = ", ".join(f.function for f in self.files)
        if self.state == "applied":
            return _("code patch v1 applied ({label}: {functions})").format(label=label, functions=names)
        if self.state == "absent":
            done = [f.function for f in self.files if f.state == "applied"]
            if done:
                todo = ", ".join(f.function for f in self.files if f.state != "applied")
                return _("code patch partly applied ({label}: {done}); {todo} can be patched too").format(
                    label=label, done=", ".join(done), todo=todo
                )
            return _("code patch not applied ({label}; can be applied)").format(label=label)
        bad = next(f for f in self.files if f.state == "unknown-shape")
        if bad.foreign:
            return _("code patch not available for this version ({label}: {detail})").format(
                label=label, detail=bad.detail
            )
        return _("code patch cannot be applied: {path}: {detail}").format(path=bad.path, detail=bad.detail)


def _read_text(path: Path) -> tuple[bytes, str | None, str]:
    """(bytes, text or None, why not)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return b"", None, _("file not found")
    except OSError as exc:
        return b"", None, _("cannot read ({error})").format(error=exc.strerror)
    try:
        return data, data.decode("utf-8"), ""
    except UnicodeDecodeError:
        return data, None, _("not UTF-8 text")


def _file_state(pkg: ChatchatPackage, shape: FunctionShape) -> tuple[FileState, bytes, str | None]:
    from tuner.codepatch.transform import classify_text

    path = pkg.file(shape.file)
    data, text, why = _read_text(path)
    if text is None:
        if why == _("file not found"):  # another layout: this version has no such file
            return (
                FileState(path, shape.function, "unknown-shape", f"no {shape.file}", foreign=True),
                data,
                None,
            )
        return FileState(path, shape.function, "unknown-shape", why), data, None
    found = classify_text(text, shape)
    return FileState(path, shape.function, found.state, found.detail, found.foreign), data, text


def _overall(files: tuple[FileState, ...]) -> State:
    if any(f.state == "unknown-shape" for f in files):
        return "unknown-shape"
    if all(f.state == "applied" for f in files):
        return "applied"
    return "absent"


def patch_state(pkg: ChatchatPackage) -> PatchState:
    files = tuple(_file_state(pkg, shape)[0] for shape in SHAPES)
    return PatchState(pkg, _overall(files), files)


def code_state(python: Path, *, env: Mapping[str, str] | None = None) -> PatchState:
    """``patch_state`` of ``python``'s package; never raises for a missing package or interpreter: that is
    the state ``unavailable`` (for ``inspect``; ``apply --patch-code`` refuses it with ``summary``)."""
    try:
        pkg = locate(python, env=env)
    except UserError as err:
        return PatchState(None, "unavailable", (), reason=str(err))
    return patch_state(pkg)


def plan_patch(pkg: ChatchatPackage) -> list[tuple[Path, bytes, bytes]]:
    """(file, before, after) for every file the patch changes; [] when already applied; UserError (one
    line naming the file and what was not recognised) when any target is not a known shape."""
    from tuner.codepatch.transform import patch_text

    out: list[tuple[Path, bytes, bytes]] = []
    pending: dict[Path, tuple[bytes, str]] = {}
    for shape in SHAPES:
        state, data, text = _file_state(pkg, shape)
        if state.state == "unknown-shape" or text is None:
            raise UserError(
                _("not patching {function}() of {label}: {detail}").format(
                    function=shape.function, label=pkg.label, detail=state.detail
                ),
                state.path,
            )
        if state.state == "applied":
            continue
        before_bytes, current = pending.get(state.path, (data, text))
        pending[state.path] = (before_bytes, patch_text(current, shape))
    for path, (before, after_text) in pending.items():
        after = after_text.encode("utf-8")
        if after != before:
            out.append((path, before, after))
    return out


def restore_refusal(path: Path, old: bytes, current: bytes) -> str | None:
    """Why a backup may not restore ``old`` over ``path``, a file outside the install root; None if it may.

    A backup set restores a file outside the root only when it is the code patch's own: the path is a file
    the patch changes (``.../chatchat/server/utils.py``), the backed-up bytes hold, for every function the
    patch rewrites there, a shipped form or our patch (a backup taken when an earlier apply had patched
    some of them) but not our patch in all of them, and the file holds either our patch (in at least one
    of them, every other one shipped or patched) or those bytes already. Any other outside path in a manifest
    is refused, whatever the manifest's hashes say: a manifest is data, and anyone who can write it can
    write its hashes too.
    """
    from tuner.codepatch.transform import classify_text

    shapes = shapes_at(path)
    if not shapes:
        return _("is outside the install and not a file the code patch changes")
    try:
        old_text, now_text = old.decode("utf-8"), current.decode("utf-8")
    except UnicodeDecodeError:
        return _("is outside the install and its backup or current content is not UTF-8 text")
    was = [classify_text(old_text, s).state for s in shapes]
    if "unknown-shape" in was or "absent" not in was:
        return _("is outside the install and its backup is not the shipped chatchat code")
    now = [classify_text(now_text, s).state for s in shapes]
    if current != old and ("unknown-shape" in now or "applied" not in now):
        return _("is outside the install and no longer holds the chatchat-tune code patch")
    return None
