"""Nothing is written outside the install root and its own state folder, whatever a backup set says.

Each case makes a real apply (so a real backup set exists), then tampers with the state the way an attacker
with write access to the folder (or a bad sync tool) could, and runs the real CLI: one line, exit 1, and
every byte under the install's parent folder as it was.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import assert_refused, run_cli, tree_digest

posix_only = pytest.mark.skipif(os.name != "posix", reason="symlinks and FIFOs as POSIX makes them")


def _applied(install, tmp_path: Path) -> tuple[Path, Path, Path]:  # type: ignore[no-untyped-def]
    """(root, the backup set folder, a precious file beside the install)."""
    root = install("chatchat-0.3.1")
    run = run_cli("apply", "--root", str(root), "--set", "api_timeout=77")
    assert run.code == 0, run.err
    (folder,) = (root / ".chatchat-tune" / "backups").iterdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n", encoding="utf-8")
    return root, folder, victim


def _manifest(folder: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))


def _save(folder: Path, manifest: object) -> None:
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


def _point_entry(path_of: Callable[[Path, Path], str]) -> Callable[[Path, Path, Path], None]:
    """Point the manifest's first entry at another path (its blob and hashes made to match the victim,
    as an attacker would)."""

    def tamper(root: Path, folder: Path, victim: Path) -> None:
        import hashlib

        m = _manifest(folder)
        entry = m["files"][0]
        blob = folder / "files" / entry["blob"]
        blob.write_bytes(b"owned\n")
        entry["sha256_before"] = hashlib.sha256(b"owned\n").hexdigest()
        entry["sha256_after"] = hashlib.sha256(victim.read_bytes()).hexdigest()
        entry["path"] = path_of(root, victim)
        _save(folder, m)

    return tamper


def _link_inside(root: Path, victim: Path) -> str:
    link = root / "innocent.yaml"
    link.symlink_to(victim)
    return str(link)


def _fifo_inside(root: Path, victim: Path) -> str:
    fifo = root / "pipe.yaml"
    os.mkfifo(fifo)
    return str(fifo)


def _set_field(key: str, value: object) -> Callable[[Path, Path, Path], None]:
    def tamper(root: Path, folder: Path, victim: Path) -> None:
        m = _manifest(folder)
        m[key] = value
        _save(folder, m)

    return tamper


def _entry_field(key: str, value: object) -> Callable[[Path, Path, Path], None]:
    def tamper(root: Path, folder: Path, victim: Path) -> None:
        m = _manifest(folder)
        if value is None:
            del m["files"][0][key]
        else:
            m["files"][0][key] = value
        _save(folder, m)

    return tamper


def _write_manifest(text: str) -> Callable[[Path, Path, Path], None]:
    def tamper(root: Path, folder: Path, victim: Path) -> None:
        (folder / "manifest.json").write_text(text, encoding="utf-8")

    return tamper


def _remove_manifest(root: Path, folder: Path, victim: Path) -> None:
    (folder / "manifest.json").unlink()


def _blob_link(root: Path, folder: Path, victim: Path) -> None:
    blob = folder / "files" / _manifest(folder)["files"][0]["blob"]
    blob.unlink()
    blob.symlink_to(victim)


def _files_link(root: Path, folder: Path, victim: Path) -> None:
    files = folder / "files"
    elsewhere = victim.parent / "elsewhere-files"
    files.rename(elsewhere)
    files.symlink_to(elsewhere)


def _set_link(root: Path, folder: Path, victim: Path) -> None:
    elsewhere = victim.parent / "elsewhere-set"
    folder.rename(elsewhere)
    folder.symlink_to(elsewhere)


def _blob_damaged(root: Path, folder: Path, victim: Path) -> None:
    (folder / "files" / _manifest(folder)["files"][0]["blob"]).write_bytes(b"not what was saved\n")


def _newest_damaged(root: Path, folder: Path, victim: Path) -> None:
    newer = folder.parent / "29991231T000000Z"
    newer.mkdir()
    (newer / "manifest.json").write_text("{ not json", encoding="utf-8")


def _outside_code_path(root: Path, victim: Path) -> str:
    fake = victim.parent / "site-packages" / "chatchat" / "server" / "utils.py"
    fake.parent.mkdir(parents=True)
    fake.write_text(victim.read_text(encoding="utf-8"), encoding="utf-8")
    return str(fake)


MANIFEST_CASES = {
    "dotdot path": (_point_entry(lambda r, v: str(r / ".." / v.name)), "not a plain absolute path"),
    "absolute path outside": (_point_entry(lambda r, v: str(v)), "outside the install"),
    "relative path": (_point_entry(lambda r, v: v.name), "not a plain absolute path"),
    "link inside pointing out": (_point_entry(_link_inside), "outside the install"),
    "own lock file": (_point_entry(lambda r, v: str(r / ".chatchat-tune" / "lock")), "state file"),
    "outside chatchat-looking file": (_point_entry(_outside_code_path), "not the shipped chatchat code"),
    "fifo inside": (_point_entry(_fifo_inside), "not a regular file"),
    "blob name escapes": (_entry_field("blob", "../../victim.txt"), "bad blob name"),
    "blob name empty": (_entry_field("blob", ""), "bad blob name"),
    "path missing": (_entry_field("path", None), "damaged"),
    "path is a list": (_entry_field("path", ["a", "b"]), "damaged"),
    "hash is a number": (_entry_field("sha256_before", 7), "damaged"),
    "files not a list": (_set_field("files", {"path": "x"}), "no list of files"),
    "status unknown": (_set_field("status", "yolo"), "unknown status"),
    "not a manifest": (_set_field("chatchat-tune-backup", 99), "not a chatchat-tune backup manifest"),
    "manifest not json": (_write_manifest("{ nope"), "damaged"),
    "manifest a list": (_write_manifest("[1, 2]"), "damaged"),
    "manifest deeply nested": (_write_manifest("[" * 100_000 + "]" * 100_000), "damaged"),
    "manifest missing": (_remove_manifest, "damaged"),
    "blob is a link": (_blob_link, "is a link"),
    "files folder is a link": (_files_link, "is a link"),
    "backup set is a link": (_set_link, "is a link"),
    "blob content damaged": (_blob_damaged, "hash mismatch"),
    "newest set damaged": (_newest_damaged, "damaged"),
}


@posix_only
@pytest.mark.parametrize("case", sorted(MANIFEST_CASES))
@pytest.mark.parametrize("force", [False, True], ids=["plain", "force"])
def test_rollback_refuses_a_tampered_backup_set(install, tmp_path: Path, case: str, force: bool) -> None:  # type: ignore[no-untyped-def]
    root, folder, victim = _applied(install, tmp_path)
    tamper, needle = MANIFEST_CASES[case]
    tamper(root, folder, victim)
    before = tree_digest(tmp_path)
    args = ["rollback", "--root", str(root), *(["--force"] if force else [])]
    assert_refused(run_cli(*args), needle)
    assert tree_digest(tmp_path) == before
    assert victim.read_text(encoding="utf-8") == "precious\n"


@posix_only
@pytest.mark.parametrize("level", [".chatchat-tune", ".chatchat-tune/backups"])
@pytest.mark.parametrize("command", ["apply", "rollback"])
def test_a_linked_state_folder_is_refused(install, tmp_path: Path, level: str, command: str) -> None:  # type: ignore[no-untyped-def]
    root, _, _ = _applied(install, tmp_path)
    state = root / level
    elsewhere = tmp_path / "elsewhere-state"
    state.rename(elsewhere)
    state.symlink_to(elsewhere, target_is_directory=True)
    before = tree_digest(tmp_path)
    args = ["--set", "api_timeout=88"] if command == "apply" else []
    assert_refused(run_cli(command, "--root", str(root), *args), "is a link", level.split("/")[-1])
    assert tree_digest(tmp_path) == before


def test_rollback_on_a_missing_root_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-install"
    before = tree_digest(tmp_path)
    assert_refused(run_cli("rollback", "--root", str(missing)), "no such folder", str(missing))
    assert_refused(run_cli("rollback", "--root", str(missing), "--dry-run"), "no such folder")
    assert not missing.exists()
    assert tree_digest(tmp_path) == before


def test_an_older_damaged_set_does_not_block_the_newest(install, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root, folder, _ = _applied(install, tmp_path)
    older = folder.parent / "20000101T000000Z"
    older.mkdir()
    (older / "manifest.json").write_text("garbage", encoding="utf-8")
    run = run_cli("rollback", "--root", str(root))
    assert run.code == 0, run.err


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_backups_keep_the_settings_files_permission_bits(install) -> None:  # type: ignore[no-untyped-def]
    root = install("chatchat-0.3.1")
    model = root / "model_settings.yaml"
    os.chmod(model, 0o600)
    old_umask = os.umask(0o022)
    try:
        run = run_cli("apply", "--root", str(root), "--set", "ollama_url=http://127.0.0.1:11435/v1")
    finally:
        os.umask(old_umask)
    assert run.code == 0, run.err
    (folder,) = (root / ".chatchat-tune" / "backups").iterdir()
    (blob,) = (folder / "files").iterdir()
    assert stat.S_IMODE(blob.stat().st_mode) == 0o600
    assert stat.S_IMODE(model.stat().st_mode) == 0o600
    for state in (root / ".chatchat-tune", folder.parent, folder, folder / "files"):
        assert stat.S_IMODE(state.stat().st_mode) & 0o077 == 0, state
