"""Write a set of files all-or-none: temp file in the same folder, fsync, ``os.replace``, mode kept.

A backup set (the old bytes and a manifest) is on disk before the first file is replaced, so a process that
dies half-way leaves every file wholly old or wholly new, and ``rollback`` restores them.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tuner.errors import UserError
from tuner.i18n import _
from tuner.install.files import inside, read_bytes, sha256
from tuner.redact import redact

STATE_DIR = ".chatchat-tune"
_CRASH_ENV = "CHATCHAT_TUNE_CRASH_AT"  # test seam: "after-temp" or "after-first-replace" → the process dies


@dataclass(frozen=True)
class FileWrite:
    path: Path  # absolute, a real file (symlinks resolved by the caller)
    before: bytes  # what the file must hold now (else the write is stale and refused)
    after: bytes


def _crash_point(name: str) -> None:
    if os.environ.get(_CRASH_ENV) == name:
        os._exit(70)


def _fsync_dir(folder: Path) -> None:
    # Directories cannot be opened on Windows; there os.replace is already durable enough.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_temp(target: Path, data: bytes, mode: int | None) -> Path:
    temp = target.with_name(f".{target.name}.chatchat-tune-{os.getpid()}.tmp")
    with open(temp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    if mode is not None:
        os.chmod(temp, mode)
    return temp


def atomic_write(target: Path, data: bytes) -> None:
    """Replace one file atomically, keeping its permission bits."""
    mode = stat.S_IMODE(target.stat().st_mode) if target.exists() else None
    temp = _write_temp(target, data, mode)
    try:
        os.replace(temp, target)
    except OSError:
        temp.unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


def clean_leftovers(target: Path) -> None:
    """Remove temp files a killed run left beside ``target`` (the target itself is whole either way)."""
    for leftover in target.parent.glob(f".{target.name}.chatchat-tune-*.tmp"):
        leftover.unlink(missing_ok=True)


def preflight(writes: Sequence[FileWrite]) -> None:
    """Refuse before anything is written: stale content, read-only file or folder."""
    for w in writes:
        current = read_bytes(w.path)  # a regular file, read without blocking (never a FIFO swapped in)
        if current != w.before:
            raise UserError(_("changed since it was read; run the command again"), w.path)
        if not stat.S_IMODE(w.path.stat().st_mode) & 0o222 or not os.access(w.path, os.W_OK):
            raise UserError(_("is read-only; nothing was written"), w.path)
        if not os.access(w.path.parent, os.W_OK):
            raise UserError(
                _("its folder is read-only (a temp file is needed beside it); nothing was written"), w.path
            )
        clean_leftovers(w.path)


def replace_all(writes: Sequence[FileWrite]) -> None:
    """Write every file or, if one fails, put back the ones already replaced and raise."""
    temps: list[tuple[FileWrite, Path]] = []
    try:
        for w in writes:
            temps.append((w, _write_temp(w.path, w.after, stat.S_IMODE(w.path.stat().st_mode))))
    except OSError as exc:
        for _target, temp in temps:
            temp.unlink(missing_ok=True)
        raise UserError(
            _("cannot write a temp file ({error}); nothing was written").format(error=exc.strerror),
            writes[len(temps)].path,
        ) from None
    _crash_point("after-temp")
    done: list[FileWrite] = []
    for i, (w, temp) in enumerate(temps):
        try:
            if read_bytes(w.path) != w.before:  # edited by someone else since the preflight
                raise UserError(_("changed while chatchat-tune was writing; every file was put back"), w.path)
            os.replace(temp, w.path)
        except (OSError, UserError) as exc:
            for _target, rest in temps[i:]:
                rest.unlink(missing_ok=True)
            for old in reversed(done):
                atomic_write(old.path, old.before)
            if isinstance(exc, UserError):
                raise
            raise UserError(
                _("cannot replace ({error}); every file was put back").format(error=exc.strerror), w.path
            ) from None
        done.append(w)
        _crash_point("after-first-replace")
    for folder in {w.path.parent for w in writes}:
        _fsync_dir(folder)


# --- backup sets -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BackupSet:
    folder: Path
    manifest: dict[str, object]


def backups_dir(root: Path) -> Path:
    return root / STATE_DIR / "backups"


def real_folder(folder: Path, *, create: bool) -> Path:
    """``folder`` as a real directory of the tool's own state (``.chatchat-tune``, ``backups``, a set).

    A symbolic link (or a junction, or a file) there is refused rather than followed: anything the tool
    writes under it would land wherever the link points. Folders are created only when ``create`` (with
    owner-only permissions: backups hold settings, api keys included), and only inside an existing parent,
    so a missing install root is never created.
    """
    if folder.is_symlink() or (folder.exists() and _is_junction(folder)):
        raise UserError(
            _(
                "is a link; chatchat-tune keeps its state only in a real folder inside the "
                "install (remove the link, or move the folder back)"
            ),
            folder,
        )
    if folder.exists():
        if not folder.is_dir():
            raise UserError(_("is not a folder; chatchat-tune needs it for its state"), folder)
        return folder
    if not create:
        return folder
    if not folder.parent.is_dir():
        raise UserError(_("no such folder"), folder.parent)
    try:
        folder.mkdir(mode=0o700)
    except FileExistsError:
        return real_folder(folder, create=False)
    except OSError as exc:
        raise UserError(
            _("cannot create the folder ({error})").format(error=exc.strerror or exc), folder
        ) from None
    return folder


def _is_junction(path: Path) -> bool:
    is_junction = getattr(os.path, "isjunction", None)  # Python 3.12+; Windows junctions only
    return bool(is_junction(path)) if is_junction is not None else False


def state_dir(root: Path, *parts: str, create: bool = True) -> Path:
    """``ROOT/.chatchat-tune/PARTS...``, each level a real folder (see :func:`real_folder`)."""
    if not root.is_dir():
        raise UserError(_("no such folder (the install root)"), root)
    folder = real_folder(root / STATE_DIR, create=create)
    for part in parts:
        folder = real_folder(folder / part, create=create)
    return folder


def write_json(path: Path, data: object) -> None:
    """Write a state file (a manifest) atomically; its folder must exist and not be a link."""
    real_folder(path.parent, create=False)
    if path.is_symlink():
        raise UserError(_("is a link; refusing to write through it"), path)
    atomic_write(path, (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))


def make_backup(root: Path, writes: Sequence[FileWrite], label: str) -> BackupSet:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    base = state_dir(root, "backups")
    folder = base / stamp
    n = 1
    while folder.exists() or folder.is_symlink():
        n += 1
        folder = base / f"{stamp}-{n}"
    real_folder(folder, create=True)
    blobs = real_folder(folder / "files", create=True)
    files = []
    for i, w in enumerate(writes):
        blob = blobs / f"{i}.bak"
        _write_blob(blob, w.before, stat.S_IMODE(w.path.stat().st_mode))
        files.append(
            {
                "path": str(w.path),
                "blob": blob.name,
                "sha256_before": sha256(w.before),
                "sha256_after": sha256(w.after),
                "mode": stat.S_IMODE(w.path.stat().st_mode),
            }
        )
    manifest: dict[str, object] = {
        "chatchat-tune-backup": 1,
        "created": stamp,
        "label": redact(label),  # a --set proxy password is not kept here either
        "status": "pending",
        "files": files,
    }
    write_json(folder / "manifest.json", manifest)
    return BackupSet(folder, manifest)


def _write_blob(blob: Path, data: bytes, mode: int) -> None:
    """A backup copy: a new file (never through an existing name or link), the original's permission
    bits (a 0600 settings file gets a 0600 backup), durable before any original is replaced."""
    fd = os.open(blob, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(blob, mode)


@contextlib.contextmanager
def install_lock(root: Path) -> Iterator[None]:
    """One writer per install at a time (apply, rollback): an OS file lock, gone with a killed run."""
    from filelock import FileLock, Timeout

    path = state_dir(root) / "lock"
    if path.is_symlink():
        raise UserError(_("is a link; refusing to use it as the install lock"), path)
    lock = FileLock(path, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise UserError(_("another chatchat-tune is writing this install right now"), root) from None
    try:
        yield
    finally:
        lock.release()


def apply_writes(root: Path, writes: Sequence[FileWrite], label: str) -> BackupSet:
    """Preflight, back up, replace all-or-none, and mark the backup set complete."""
    with install_lock(root):
        return _apply_writes(root, writes, label)


def _apply_writes(root: Path, writes: Sequence[FileWrite], label: str) -> BackupSet:
    from tuner.codepatch.shapes import shapes_at

    preflight(writes)
    stray = [w.path for w in writes if not inside(w.path, root) and not shapes_at(w.path)]
    if stray:  # only the code patch's own file may lie outside the install
        raise UserError(_("is outside the install; refusing to write it"), stray[0])
    try:
        backup = make_backup(root, writes, label)
    except OSError as exc:
        raise UserError(
            _("cannot write the backup set ({error}); nothing was written").format(error=exc.strerror),
            backups_dir(root),
        ) from None
    replace_all(writes)
    manifest = {**backup.manifest, "status": "applied"}
    write_json(backup.folder / "manifest.json", manifest)
    return BackupSet(backup.folder, manifest)
