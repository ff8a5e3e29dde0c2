"""Read an install's settings files: bytes, text, format and parsed document, with one-line errors."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from tuner.edit.api import Document, editor_for
from tuner.edit.paths import EditError
from tuner.edit.textio import TextFormat, decode
from tuner.errors import UserError
from tuner.install.detect import Install, SettingsFile

if TYPE_CHECKING:
    from tuner.codepatch import PatchState


@dataclass(frozen=True)
class LoadedFile:
    file: SettingsFile
    raw: bytes
    text: str
    fmt: TextFormat
    doc: Document | None  # None for the 0.3.0 JSON workspace (recognised, not edited)
    json_data: object = None


@dataclass(frozen=True)
class LoadedInstall:
    install: Install
    files: Mapping[str, LoadedFile]  # by role
    environ: Mapping[str, str]
    code: PatchState | None = (
        None  # the installed chatchat package's code-patch state, when --python is given
    )

    @property
    def patched(self) -> bool:
        return self.code is not None and self.code.state == "applied"

    def with_code(self, code: PatchState | None) -> LoadedInstall:
        return replace(self, code=code)

    def doc(self, role: str) -> Document | None:
        loaded = self.files.get(role)
        return loaded.doc if loaded else None

    def data(self, role: str) -> dict[str, object]:
        doc = self.doc(role)
        return doc.data if doc is not None else {}


def inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def read_bytes(path: Path, root: Path | None = None) -> bytes:
    """Read a file the tool may edit; refuse one that escapes the install through a symlink."""
    if root is not None and not inside(path, root):
        raise UserError(f"is a link that leaves the install ({path.resolve()}); refusing to touch it", path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UserError("no such file", path) from None
    except IsADirectoryError:
        raise UserError("is a folder, not a settings file", path) from None
    except PermissionError:
        raise UserError("cannot read (permission denied)", path) from None
    except OSError as exc:
        raise UserError(f"cannot read ({exc.strerror})", path) from None


def load_file(file: SettingsFile, root: Path) -> LoadedFile:
    raw = read_bytes(file.path, root)
    try:
        text, fmt = decode(raw)
    except EditError as exc:
        raise UserError(str(exc), file.path) from None
    if file.kind == "json":
        try:
            return LoadedFile(file, raw, text, fmt, None, json.loads(text))
        except json.JSONDecodeError as exc:
            raise UserError(f"line {exc.lineno}: malformed JSON ({exc.msg})", file.path) from None
    try:
        doc = editor_for(file.kind).parse(text)
    except EditError as exc:
        raise UserError(str(exc), file.path) from None
    return LoadedFile(file, raw, text, fmt, doc)


def load_install(install: Install, environ: Mapping[str, str]) -> LoadedInstall:
    files = {f.role: load_file(f, install.root) for f in install.files}
    return LoadedInstall(install, files, dict(environ))
