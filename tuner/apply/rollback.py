"""Put the last backup set back, refusing (unless forced) when files were changed since the apply."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tuner.apply.writer import (
    STATE_DIR,
    BackupSet,
    FileWrite,
    backups_dir,
    clean_leftovers,
    install_lock,
    preflight,
    real_folder,
    replace_all,
    state_dir,
    write_json,
)
from tuner.errors import UserError
from tuner.i18n import _
from tuner.install.files import inside, read_bytes, sha256


@dataclass(frozen=True, kw_only=True)
class RollbackRequest:
    """``chatchat-tune rollback``'s options."""

    root: Path | None = None  # None: $CHATCHAT_ROOT, else the working directory
    force: bool = False  # restore even files changed since the apply
    dry_run: bool = False  # say what would be restored; write nothing


@dataclass(frozen=True, kw_only=True)
class Restored:
    backup: BackupSet
    restored: tuple[Path, ...]  # put back (on a dry run: would be)
    unchanged: tuple[Path, ...]  # already held the old bytes
    dry_run: bool = False


def run_rollback(request: RollbackRequest) -> Restored:
    """Roll back the last apply on the install ``request`` names (see :func:`rollback`)."""
    from tuner.install.detect import find_root

    return rollback(find_root(request.root).resolve(), force=request.force, dry_run=request.dry_run)


def backup_sets(root: Path) -> list[BackupSet]:
    """Backup sets not yet rolled back, newest last. A set whose manifest cannot be read is damaged: it is
    refused when it is the newest one left (rolling back past it would skip an apply)."""
    base = state_dir(root, "backups", create=False)
    folders = [f for f in base.iterdir() if f.is_dir() or f.is_symlink()] if base.is_dir() else []
    out: list[BackupSet] = []
    damaged: tuple[Path, str] | None = None
    for folder in sorted(folders, key=_set_order):
        try:
            manifest = _read_manifest(folder)
        except UserError as exc:
            damaged = (folder, exc.message)
            continue
        if manifest.get("status") in ("pending", "applied"):
            out.append(BackupSet(folder, manifest))
            damaged = None
        elif manifest.get("status") != "rolled-back":
            damaged = (
                folder,
                _("backup manifest is damaged (unknown status {status!r})").format(
                    status=manifest.get("status")
                ),
            )
    if damaged is not None:
        raise UserError(
            _("{why}; not restoring (move that folder away to roll back older sets)").format(why=damaged[1]),
            damaged[0],
        )
    return out


def _read_manifest(folder: Path) -> dict[str, object]:
    real_folder(folder, create=False)
    path = folder / "manifest.json"
    if path.is_symlink() or not path.is_file():
        raise UserError(_("backup manifest is damaged (manifest.json missing or not a file)"), folder)
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        raise UserError(_("backup manifest is damaged (not readable JSON)"), folder) from None
    if not isinstance(manifest, dict) or manifest.get("chatchat-tune-backup") != 1:
        raise UserError(_("backup manifest is damaged (not a chatchat-tune backup manifest)"), folder)
    return manifest


def _set_order(folder: Path) -> tuple[str, int, str]:
    """Backup sets are named ``<stamp>``, then ``<stamp>-2``, ``<stamp>-3``, ...: order by stamp, then
    by that number (a name sort would put ``-10`` before ``-2``)."""
    stamp, sep, suffix = folder.name.rpartition("-")
    if sep and suffix.isdigit() and stamp:
        return stamp, int(suffix), folder.name
    return folder.name, 1, folder.name


@dataclass(frozen=True)
class _Entry:
    path: Path
    blob: str
    before: str
    after: str


def _entry(entry: object, folder: Path) -> _Entry:
    fields = ("path", "blob", "sha256_before", "sha256_after")
    if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str) for k in fields):
        raise UserError(
            _("backup manifest is damaged (an entry lacks path, blob or hashes); not restoring"), folder
        )
    blob = entry["blob"]
    if not blob or Path(blob).name != blob or blob in (".", ".."):
        raise UserError(
            _("backup manifest is damaged (bad blob name {blob!r}); not restoring").format(blob=blob), folder
        )
    path = Path(entry["path"])
    if not path.is_absolute() or ".." in path.parts:
        raise UserError(
            _(
                "backup manifest is damaged (path {path!r} is not a plain absolute path); not restoring"
            ).format(path=entry["path"]),
            folder,
        )
    return _Entry(path, blob, entry["sha256_before"], entry["sha256_after"])


def _confined(entry: _Entry, root: Path, old: bytes, current: bytes, folder: Path) -> None:
    """Refuse a manifest path that would write outside the install (its own state folder included)."""
    if inside(entry.path, root):
        if inside(entry.path, root / STATE_DIR):
            raise UserError(
                _(
                    "backup manifest is damaged (it names the tool's own state file {path}); not restoring"
                ).format(path=entry.path),
                folder,
            )
        return
    from tuner.codepatch.state import restore_refusal

    why = restore_refusal(entry.path.resolve(), old, current)
    if why is not None:
        raise UserError(
            _("backup manifest names {path}, which {why}; not restoring").format(path=entry.path, why=why),
            folder,
        )


def _read_blob(folder: Path, name: str) -> bytes:
    blob = real_folder(folder / "files", create=False) / name
    if blob.is_symlink():
        raise UserError(_("backup blob files/{name} is a link; not restoring").format(name=name), folder)
    try:
        return blob.read_bytes()
    except FileNotFoundError:
        raise UserError(
            _("backup blob files/{name} is missing; not restoring").format(name=name), folder
        ) from None
    except OSError as exc:
        raise UserError(
            _("cannot read backup blob files/{name} ({error}); not restoring").format(
                name=name, error=exc.strerror or exc
            ),
            folder,
        ) from None


def rollback(root: Path, *, force: bool = False, dry_run: bool = False) -> Restored:
    if not root.is_dir():
        raise UserError(_("no such folder (the install root); nothing to roll back"), root)
    if dry_run:
        return _rollback(root, force=force, dry_run=True)
    with install_lock(root):
        return _rollback(root, force=force, dry_run=False)


def _rollback(root: Path, *, force: bool, dry_run: bool) -> Restored:
    sets = backup_sets(root)
    if not sets:
        raise UserError(_("no backup set to roll back to"), backups_dir(root))
    backup = sets[-1]
    writes: list[FileWrite] = []
    unchanged: list[Path] = []
    files = backup.manifest.get("files")
    if not isinstance(files, list):
        raise UserError(_("backup manifest is damaged (no list of files); not restoring"), backup.folder)
    entries = [_entry(e, backup.folder) for e in files]
    for entry in entries:
        path = entry.path.resolve()
        if path.exists() and not path.is_file():
            raise UserError(_("is not a regular file; nothing was restored"), path)
        old = _read_blob(backup.folder, entry.blob)
        if sha256(old) != entry.before:
            raise UserError(_("backup blob is damaged (hash mismatch); not restoring"), backup.folder)
        current = read_bytes(path) if path.exists() else b""
        _confined(entry, root, old, current, backup.folder)
        if not dry_run:
            clean_leftovers(path)
        now = sha256(current)
        if now == entry.before:
            unchanged.append(path)
            continue
        if now != entry.after and not force:
            raise UserError(
                _(
                    "changed since chatchat-tune wrote it; rollback would lose those edits (use "
                    "--force to restore anyway)"
                ),
                path,
            )
        writes.append(FileWrite(path, current, old))
    if not dry_run:
        preflight(writes)
        replace_all(writes)
        write_json(backup.folder / "manifest.json", {**backup.manifest, "status": "rolled-back"})
    return Restored(
        backup=backup,
        restored=tuple(w.path for w in writes),
        unchanged=tuple(unchanged),
        dry_run=dry_run,
    )
