"""Read an install's settings files: bytes, text, format and parsed document, with one-line errors."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from tuner.edit.api import Document, editor_for
from tuner.edit.paths import EditError
from tuner.edit.textio import TextFormat, decode
from tuner.errors import UserError
from tuner.i18n import _
from tuner.install.detect import Install, SettingsFile
from tuner.limits import MAX_NESTING_DEPTH, MAX_SETTINGS_BYTES, size_text

if TYPE_CHECKING:
    from tuner.codepatch import PatchState
    from tuner.install.entries import Entry
    from tuner.install.layout import Layout


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
        """A file's top-level settings (the 0.3.0 JSON workspace: its sections merged)."""
        loaded = self.files.get(role)
        if loaded is None:
            return {}
        if loaded.doc is not None:
            return loaded.doc.data
        return workspace_settings(loaded.json_data)

    @cached_property
    def layout(self) -> Layout:
        """What shape of Chatchat this is (where each setting lives): tuner.install.layout."""
        from tuner.install.layout import layout_for

        return layout_for(self)

    @cached_property
    def entries(self) -> tuple[Entry, ...]:
        """The OpenAI-compatible model entries, read once (tuner.install.entries)."""
        from tuner.install.entries import read_entries

        return read_entries(self)


def workspace_settings(data: object) -> dict[str, object]:
    """0.3.0's ``workspace_config.json`` as one mapping: a single ``{"type", "config"}`` object
    (0.3.0.20240610) or a list of them (later builds), each section's ``config`` merged in order."""
    sections = data if isinstance(data, list) else [data]
    out: dict[str, object] = {}
    for section in sections:
        config = section.get("config") if isinstance(section, dict) else None
        if isinstance(config, dict):
            out.update(config)
    return out


def sha256(data: bytes) -> str:
    """The hex digest plans and backup sets record for a file's bytes."""
    return hashlib.sha256(data).hexdigest()


def inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except (ValueError, OSError, RuntimeError):  # RuntimeError: a symlink loop (Python < 3.13)
        return False
    return True


_TOO_DEEP = _("nested more than {depth} levels deep; refused").format(depth=MAX_NESTING_DEPTH)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)


def read_bytes(path: Path, root: Path | None = None) -> bytes:
    """Read a file the tool may edit; refuse one that escapes the install through a symlink, one that is
    not a regular file (checked on the open descriptor, so a FIFO swapped in never blocks the read) and
    one over ``MAX_SETTINGS_BYTES`` (checked before reading)."""
    if root is not None and not inside(path, root):
        try:
            where = str(path.resolve())
        except (OSError, RuntimeError):
            where = _("a symbolic link loop")
        raise UserError(
            _("is a link that leaves the install ({where}); refusing to touch it").format(where=where), path
        )
    try:
        fd = os.open(path, os.O_RDONLY | _NONBLOCK)
    except FileNotFoundError:
        raise UserError(_("no such file"), path) from None
    except IsADirectoryError:
        raise UserError(_("is a folder, not a settings file"), path) from None
    except PermissionError:
        raise UserError(_("cannot read (permission denied)"), path) from None
    except OSError as exc:
        raise UserError(_("cannot read ({error})").format(error=exc.strerror or exc), path) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UserError(_("is not a regular file; refusing to read it"), path)
        limit = size_text(MAX_SETTINGS_BYTES)
        if info.st_size > MAX_SETTINGS_BYTES:
            raise UserError(
                _("is {size}; settings files over {limit} are refused").format(
                    size=size_text(info.st_size), limit=limit
                ),
                path,
            )
        chunks, size = [], 0
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_SETTINGS_BYTES:  # grew after the check
                raise UserError(
                    _("grew while being read; settings files over {limit} are refused").format(limit=limit),
                    path,
                )
        return b"".join(chunks)
    except OSError as exc:
        raise UserError(_("cannot read ({error})").format(error=exc.strerror or exc), path) from None
    finally:
        os.close(fd)


def load_file(file: SettingsFile, root: Path) -> LoadedFile:
    raw = read_bytes(file.path, root)
    try:
        text, fmt = decode(raw)
    except EditError as exc:
        raise UserError(str(exc), file.path) from None
    if file.kind == "json":
        try:
            data = json.loads(text)
            _check_json_depth(data, file.path)
            return LoadedFile(file, raw, text, fmt, None, data)
        except json.JSONDecodeError as exc:
            raise UserError(
                _("line {lineno}: malformed JSON ({msg})").format(lineno=exc.lineno, msg=exc.msg), file.path
            ) from None
        except RecursionError:
            raise UserError(_TOO_DEEP, file.path) from None
        except ValueError as exc:  # an integer over Python's 4,300-digit limit
            raise UserError(
                _("cannot read it as JSON ({error})").format(error=str(exc).splitlines()[0]), file.path
            ) from None
    try:
        doc = editor_for(file.kind).parse(text)
    except EditError as exc:
        raise UserError(str(exc), file.path) from None
    except (RecursionError, MemoryError):  # a last resort: the editors check nesting before parsing
        raise UserError(_TOO_DEEP, file.path) from None
    return LoadedFile(file, raw, text, fmt, doc)


def _check_json_depth(data: object, path: Path) -> None:
    """Refuse JSON nested deeper than MAX_NESTING_DEPTH (walked without recursion)."""
    stack: list[tuple[object, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if not isinstance(value, dict | list):
            continue
        if depth > MAX_NESTING_DEPTH:
            raise UserError(_TOO_DEEP, path)
        stack.extend((v, depth + 1) for v in (value.values() if isinstance(value, dict) else value))


def load_install(install: Install, environ: Mapping[str, str]) -> LoadedInstall:
    files = {f.role: load_file(f, install.root) for f in install.files}
    return LoadedInstall(install, files, dict(environ))
