"""Put the last backup set back, refusing (unless forced) when files were changed since the apply."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tuner.apply.writer import (
    BackupSet,
    FileWrite,
    _write_json,
    backups_dir,
    clean_leftovers,
    preflight,
    replace_all,
    sha256,
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
    for folder in sorted(base.iterdir()) if base.is_dir() else []:
        manifest_path = folder / "manifest.json"
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(manifest, dict) and manifest.get("status") in ("pending", "applied"):
            out.append(BackupSet(folder, manifest))
    return out


def rollback(root: Path, *, force: bool = False, dry_run: bool = False) -> Restored:
    sets = backup_sets(root)
    if not sets:
        raise UserError("no backup set to roll back to", backups_dir(root))
    backup = sets[-1]
    writes: list[FileWrite] = []
    unchanged: list[Path] = []
    files = backup.manifest.get("files")
    for entry in files if isinstance(files, list) else []:
        path = Path(entry["path"])
        if not dry_run:
            clean_leftovers(path)
        old = (backup.folder / "files" / entry["blob"]).read_bytes()
        if sha256(old) != entry["sha256_before"]:
            raise UserError("backup blob is damaged (hash mismatch); not restoring", backup.folder)
        try:
            current = path.read_bytes()
        except FileNotFoundError:
            current = b""
        now = sha256(current)
        if now == entry["sha256_before"]:
            unchanged.append(path)
            continue
        if now != entry["sha256_after"] and not force:
            raise UserError(
                "changed since chatchat-tune wrote it; rollback would lose those edits "
                "(use --force to restore anyway)",
                path,
            )
        writes.append(FileWrite(path, current, old))
    if not dry_run:
        preflight(writes)
        replace_all(writes)
        _write_json(backup.folder / "manifest.json", {**backup.manifest, "status": "rolled-back"})
    return Restored(backup, tuple(w.path for w in writes), tuple(unchanged))
