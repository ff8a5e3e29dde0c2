"""Read an installed package's files and say whether the patch is there, or plan it (reads, never writes)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tuner.codepatch.package import ChatchatPackage
from tuner.codepatch.shapes import SHAPES, FunctionShape
from tuner.errors import UserError

State = Literal["absent", "applied", "unknown-shape"]


@dataclass(frozen=True)
class FileState:
    path: Path
    function: str
    state: State
    detail: str


@dataclass(frozen=True)
class PatchState:
    """``absent``: every target is the shipped code (patchable); ``applied``: every target carries the
    patch; ``unknown-shape``: at least one target is neither (the patch refuses it)."""

    package: ChatchatPackage
    state: State
    files: tuple[FileState, ...]

    @property
    def summary(self) -> str:
        if self.state == "applied":
            return f"code patch v1 applied ({self.package.version})"
        if self.state == "absent":
            return f"code patch not applied ({self.package.version}; can be applied)"
        bad = next(f for f in self.files if f.state == "unknown-shape")
        return f"code patch cannot be applied: {bad.path}: {bad.detail}"


def _read_text(path: Path) -> tuple[bytes, str | None, str]:
    """(bytes, text or None, why not)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return b"", None, "file not found"
    except OSError as exc:
        return b"", None, f"cannot read ({exc.strerror})"
    try:
        return data, data.decode("utf-8"), ""
    except UnicodeDecodeError:
        return data, None, "not UTF-8 text"


def _file_state(pkg: ChatchatPackage, shape: FunctionShape) -> tuple[FileState, bytes, str | None]:
    from tuner.codepatch.transform import classify_text

    path = pkg.file(shape.file)
    data, text, why = _read_text(path)
    if text is None:
        return FileState(path, shape.function, "unknown-shape", why), data, None
    found = classify_text(text, shape)
    return FileState(path, shape.function, found.state, found.detail), data, text


def _overall(files: tuple[FileState, ...]) -> State:
    if any(f.state == "unknown-shape" for f in files):
        return "unknown-shape"
    if all(f.state == "applied" for f in files):
        return "applied"
    return "absent"


def patch_state(pkg: ChatchatPackage) -> PatchState:
    files = tuple(_file_state(pkg, shape)[0] for shape in SHAPES)
    return PatchState(pkg, _overall(files), files)


def plan_patch(pkg: ChatchatPackage) -> list[tuple[Path, bytes, bytes]]:
    """(file, before, after) for every file the patch changes; [] when already applied; UserError (one
    line naming the file and what was not recognised) when any target is not a known shape."""
    from tuner.codepatch.transform import patch_text

    out: list[tuple[Path, bytes, bytes]] = []
    pending: dict[Path, tuple[bytes, str]] = {}
    for shape in SHAPES:
        state, data, text = _file_state(pkg, shape)
        if state.state == "unknown-shape" or text is None:
            raise UserError(f"not patching {shape.function}(): {state.detail}", state.path)
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
    the patch changes (``.../chatchat/server/utils.py``), the backed-up bytes hold the shipped function,
    and the file holds either our patch or those bytes already. Any other outside path in a manifest is
    refused, whatever the manifest's hashes say: a manifest is data, and anyone who can write it can
    write its hashes too.
    """
    from tuner.codepatch.transform import classify_text

    parts = path.parts
    shape = next(
        (s for s in SHAPES if parts[-len(s.file.split("/")) - 1 :] == ("chatchat", *s.file.split("/"))),
        None,
    )
    if shape is None:
        return "is outside the install and not a file the code patch changes"
    try:
        old_text, now_text = old.decode("utf-8"), current.decode("utf-8")
    except UnicodeDecodeError:
        return "is outside the install and its backup or current content is not UTF-8 text"
    if classify_text(old_text, shape).state != "absent":
        return "is outside the install and its backup is not the shipped chatchat code"
    if current != old and classify_text(now_text, shape).state != "applied":
        return "is outside the install and no longer holds the chatchat-tune code patch"
    return None
