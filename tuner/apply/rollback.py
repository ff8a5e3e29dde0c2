"""Put the last backup set back, refusing (unless forced) when files were changed since the apply."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tuner.apply.writer import (
    BackupSet,
    FileWrite,
    backups_dir,
    clean_leftovers,
    install_lock,
    preflight,
    replace_all,
    sha256,
    write_json,
)
from tuner.errors import UserError


@dataclass(frozen=True)
class Restored:
    backup: BackupSet
    restored: tuple[Path, ...]
    unchanged: tuple[Path, ...]  # already held the old bytes


def backup_sets(root: Path) -> list[BackupSet]:
    """Backup sets not yet rolled back, newest last."""
    base = backups_dir(root)
    out = []
    folders = [f for f in base.iterdir() if f.is_dir()] if base.is_dir() else []
    for folder in sorted(folders, key=_set_order):
        manifest_path = folder / "manifest.json"
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(manifest, dict) and manifest.get("status") in ("pending", "applied"):
            out.append(BackupSet(folder, manifest))
    return out


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
            "backup manifest is damaged (an entry lacks path, blob or hashes); not restoring", folder
        )
    blob = entry["blob"]
    if not blob or Path(blob).name != blob:
        raise UserError(f"backup manifest is damaged (bad blob name {blob!r}); not restoring", folder)
    return _Entry(Path(entry["path"]), blob, entry["sha256_before"], entry["sha256_after"])


def _read_blob(folder: Path, name: str) -> bytes:
    try:
        return (folder / "files" / name).read_bytes()
    except FileNotFoundError:
        raise UserError(f"backup blob files/{name} is missing; not restoring", folder) from None
    except OSError as exc:
        raise UserError(
            f"cannot read backup blob files/{name} ({exc.strerror or exc}); not restoring", folder
        ) from None


def rollback(root: Path, *, force: bool = False, dry_run: bool = False) -> Restored:
    if dry_run:
        return _rollback(root, force=force, dry_run=True)
    with install_lock(root):
        return _rollback(root, force=force, dry_run=False)


def _rollback(root: Path, *, force: bool, dry_run: bool) -> Restored:
    sets = backup_sets(root)
    if not sets:
        raise UserError("no backup set to roll back to", backups_dir(root))
    backup = sets[-1]
    writes: list[FileWrite] = []
    unchanged: list[Path] = []
    files = backup.manifest.get("files")
    if not isinstance(files, list):
        raise UserError("backup manifest is damaged (no list of files); not restoring", backup.folder)
    entries = [_entry(e, backup.folder) for e in files]
    for entry in entries:
        path = entry.path
        old = _read_blob(backup.folder, entry.blob)
        if sha256(old) != entry.before:
            raise UserError("backup blob is damaged (hash mismatch); not restoring", backup.folder)
        if not dry_run:
            clean_leftovers(path)
        try:
            current = path.read_bytes()
        except FileNotFoundError:
            current = b""
        except OSError as exc:
            raise UserError(f"cannot read ({exc.strerror or exc}); nothing was restored", path) from None
        now = sha256(current)
        if now == entry.before:
            unchanged.append(path)
            continue
        if now != entry.after and not force:
            raise UserError(
                "changed since chatchat-tune wrote it; rollback would lose those edits "
                "(use --force to restore anyway)",
                path,
            )
        writes.append(FileWrite(path, current, old))
    if not dry_run:
        preflight(writes)
        replace_all(writes)
        write_json(backup.folder / "manifest.json", {**backup.manifest, "status": "rolled-back"})
    return Restored(backup, tuple(w.path for w in writes), tuple(unchanged))
