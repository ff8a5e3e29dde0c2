"""The writer: all-or-none, mode kept, backups, crash between temp write and replace, rollback."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tuner.apply.rollback import backup_sets, rollback
from tuner.apply.writer import FileWrite, apply_writes, backups_dir
from tuner.errors import UserError
from tuner.install.files import sha256


def _files(tmp_path: Path) -> tuple[Path, Path]:
    a = tmp_path / "a.yaml"
    b = tmp_path / "b.yaml"
    a.write_bytes(b"x: 1\r\n# \xe4\xb8\xad\xe6\x96\x87\r\n")
    b.write_bytes(b"y: 2\n")
    return a, b


def test_writes_all_keeps_mode_and_backs_up(tmp_path: Path) -> None:
    a, b = _files(tmp_path)
    os.chmod(a, 0o640)
    backup = apply_writes(
        tmp_path, [FileWrite(a, a.read_bytes(), b"x: 3\r\n"), FileWrite(b, b"y: 2\n", b"y: 4\n")], "test"
    )
    assert a.read_bytes() == b"x: 3\r\n" and b.read_bytes() == b"y: 4\n"
    if os.name == "posix":
        assert stat.S_IMODE(a.stat().st_mode) == 0o640
    assert backup.manifest["status"] == "applied"
    assert not list(tmp_path.glob(".*.tmp"))
    restored = rollback(tmp_path)
    assert set(restored.restored) == {a, b}
    assert a.read_bytes() == b"x: 1\r\n# \xe4\xb8\xad\xe6\x96\x87\r\n" and b.read_bytes() == b"y: 2\n"
    assert backup_sets(tmp_path) == []


def test_stale_content_is_refused_and_nothing_written(tmp_path: Path) -> None:
    a, b = _files(tmp_path)
    with pytest.raises(UserError, match="changed since"):
        apply_writes(tmp_path, [FileWrite(a, b"other", b"new"), FileWrite(b, b"y: 2\n", b"y: 9\n")], "t")
    assert b.read_bytes() == b"y: 2\n"
    assert backup_sets(tmp_path) == []


def test_read_only_file_is_refused(tmp_path: Path) -> None:
    a, b = _files(tmp_path)
    os.chmod(b, 0o444)
    with pytest.raises(UserError, match="read-only"):
        apply_writes(tmp_path, [FileWrite(a, a.read_bytes(), b"n"), FileWrite(b, b"y: 2\n", b"m")], "t")
    assert a.read_bytes().startswith(b"x: 1")


def test_rollback_refuses_files_changed_since_unless_forced(tmp_path: Path) -> None:
    a, _ = _files(tmp_path)
    old = a.read_bytes()
    apply_writes(tmp_path, [FileWrite(a, old, b"x: 3\n")], "t")
    a.write_bytes(b"x: hand edit\n")
    with pytest.raises(UserError, match="changed since"):
        rollback(tmp_path)
    assert a.read_bytes() == b"x: hand edit\n"
    rollback(tmp_path, force=True)
    assert a.read_bytes() == old


_CRASHER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from tuner.apply.writer import FileWrite, apply_writes
    root = Path(sys.argv[1])
    a, b = root / "a.yaml", root / "b.yaml"
    writes = [FileWrite(a, a.read_bytes(), b"x: NEW\\n"), FileWrite(b, b.read_bytes(), b"y: NEW\\n")]
    apply_writes(root, writes, "t")
    """
)


@pytest.mark.parametrize("point", ["after-temp", "after-first-replace"])
def test_process_dying_mid_write_leaves_whole_files_and_rollback_restores(tmp_path: Path, point: str) -> None:
    a, b = _files(tmp_path)
    old_a, old_b = a.read_bytes(), b.read_bytes()
    env = {**os.environ, "CHATCHAT_TUNE_CRASH_AT": point}
    proc = subprocess.run(
        [sys.executable, "-c", _CRASHER, str(tmp_path)], env=env, capture_output=True, timeout=60
    )
    assert proc.returncode == 70, proc.stderr
    assert a.read_bytes() in (old_a, b"x: NEW\n") and b.read_bytes() in (old_b, b"y: NEW\n")
    if point == "after-temp":
        assert (a.read_bytes(), b.read_bytes()) == (old_a, old_b)
    else:
        assert a.read_bytes() == b"x: NEW\n" and b.read_bytes() == old_b
    (s,) = backup_sets(tmp_path)
    assert s.manifest["status"] == "pending"
    rollback(tmp_path)
    assert (sha256(a.read_bytes()), sha256(b.read_bytes())) == (sha256(old_a), sha256(old_b))
    assert not list(tmp_path.glob(".*.tmp"))


def test_one_writer_at_a_time(tmp_path: Path) -> None:
    from tuner.apply.writer import install_lock

    a, _ = _files(tmp_path)
    with install_lock(tmp_path), pytest.raises(UserError, match="another chatchat-tune is writing"):
        apply_writes(tmp_path, [FileWrite(a, a.read_bytes(), b"x: 9\n")], "t")
    apply_writes(tmp_path, [FileWrite(a, a.read_bytes(), b"x: 9\n")], "t")
    assert a.read_bytes() == b"x: 9\n"


def _applied(tmp_path: Path) -> Path:
    a, _ = _files(tmp_path)
    backup = apply_writes(tmp_path, [FileWrite(a, a.read_bytes(), b"x: 5\n")], "t")
    return backup.folder


def test_missing_backup_blob_is_a_user_error_naming_the_backup(tmp_path: Path) -> None:
    folder = _applied(tmp_path)
    (folder / "files" / "0.bak").unlink()
    with pytest.raises(UserError, match=r"blob files/0\.bak is missing") as caught:
        rollback(tmp_path)
    assert caught.value.path == folder
    assert (tmp_path / "a.yaml").read_bytes() == b"x: 5\n"


@pytest.mark.parametrize("drop", ["path", "blob", "sha256_before", "sha256_after"])
def test_manifest_entry_without_a_field_is_a_user_error(tmp_path: Path, drop: str) -> None:
    folder = _applied(tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    del manifest["files"][0][drop]
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(UserError, match="backup manifest is damaged") as caught:
        rollback(tmp_path)
    assert caught.value.path == folder and "\n" not in str(caught.value)


def test_manifest_entry_that_is_not_an_object_is_a_user_error(tmp_path: Path) -> None:
    folder = _applied(tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["files"] = ["a.yaml"]
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(UserError, match="backup manifest is damaged") as caught:
        rollback(tmp_path)
    assert caught.value.path == folder


def test_backup_sets_are_ordered_by_stamp_then_number(tmp_path: Path) -> None:
    base = backups_dir(tmp_path)
    names = ["20250101T000000Z", *(f"20250101T000000Z-{n}" for n in range(2, 12)), "20250101T000001Z"]
    for name in reversed(names):
        (base / name).mkdir(parents=True)
        manifest = {"chatchat-tune-backup": 1, "status": "applied", "files": []}
        (base / name / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert [s.folder.name for s in backup_sets(tmp_path)] == names
    rolled = rollback(tmp_path)
    assert rolled.backup.folder.name == "20250101T000001Z"
    rolled = rollback(tmp_path)
    assert rolled.backup.folder.name == "20250101T000000Z-11"  # not -9, as a name sort would pick
