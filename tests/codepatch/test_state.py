"""What ``code_state``/``patch_state`` say, what ``restore_refusal`` lets a rollback put back, and a
round trip through the writer and rollback (byte-identical) on a private copy of the real source."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tuner.apply.rollback import rollback
from tuner.apply.writer import FileWrite, apply_writes
from tuner.codepatch import ChatchatPackage, code_state, patch_state, plan_patch
from tuner.codepatch.shapes import GET_CHAT_OPENAI, GET_OPENAI_CLIENT
from tuner.codepatch.state import restore_refusal
from tuner.codepatch.transform import patch_text


def test_no_interpreter_is_a_state_not_an_error(tmp_path: Path) -> None:
    state = code_state(tmp_path / "nope" / "python")
    assert state.state == "unavailable" and state.package is None and state.files == ()
    assert state.summary == f"code patch not available: {tmp_path / 'nope' / 'python'}: no such interpreter"


def test_no_package_is_a_state_not_an_error() -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    state = code_state(Path(sys.executable), env=env)  # the project's own venv has no chatchat
    assert state.state == "unavailable"
    assert state.summary.startswith("code patch not available: ") and "no `chatchat` package" in state.summary
    assert "\n" not in state.summary


def fake_package(tmp_path: Path, version: str, utils_py: str | None) -> dict[str, str]:
    site = tmp_path / "site"
    (site / "chatchat" / "server").mkdir(parents=True)
    (site / "chatchat" / "__init__.py").write_text("raise SystemExit('imported')\n", encoding="utf-8")
    if utils_py is not None:
        (site / "chatchat" / "server" / "utils.py").write_text(utils_py, encoding="utf-8")
    dist = site / f"langchain_chatchat-{version}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: langchain-chatchat\nVersion: {version}\n", encoding="utf-8"
    )
    return {**os.environ, "PYTHONPATH": str(site)}


OLDER = """\
import openai


def get_OpenAIClient(platform_name=None, model_name=None, is_async=True):
    return openai.AsyncClient(base_url="http://127.0.0.1:11434/v1", api_key="EMPTY")
"""


def test_another_version_is_located_and_its_shape_decides(tmp_path: Path) -> None:
    env = fake_package(tmp_path, "0.3.0.20240625.1", OLDER)
    state = code_state(Path(sys.executable), env=env)
    assert state.state == "unknown-shape"
    assert state.package is not None and state.package.version == "0.3.0.20240625.1"
    assert state.summary.startswith(
        "code patch not available for this version (langchain-chatchat 0.3.0.20240625.1: "
        "get_OpenAIClient() is not a shape chatchat-tune knows (sha256 "
    )


def test_a_known_shape_under_another_version_string_is_patchable(
    tmp_path: Path, shipped: ChatchatPackage
) -> None:
    """The hash decides: the 0.3.1.3 source under a version string nobody shipped is still the shape."""
    env = fake_package(tmp_path, "0.3.1.4.dev0", shipped.file("server/utils.py").read_text(encoding="utf-8"))
    state = code_state(Path(sys.executable), env=env)
    assert state.state == "absent", state.summary
    assert state.summary == "code patch not applied (langchain-chatchat 0.3.1.4.dev0; can be applied)"


@pytest.fixture
def texts(shipped: ChatchatPackage) -> dict[str, bytes]:
    text = shipped.file("server/utils.py").read_text(encoding="utf-8")
    partial = patch_text(text, GET_OPENAI_CLIENT)  # what an apply made when the patch had one function
    full = patch_text(partial, GET_CHAT_OPENAI)
    return {
        "shipped": text.encode(),
        "partial": partial.encode(),
        "full": full.encode(),
        "edited": full.replace("max_retries = max(0, int(", "max_retries = min(9, int(").encode(),
        "foreign": OLDER.encode(),
    }


TARGET = Path("/venv/lib/python3.11/site-packages/chatchat/server/utils.py")


@pytest.mark.parametrize(
    ("old", "current", "refused"),
    [
        ("shipped", "full", None),
        ("shipped", "shipped", None),  # already restored
        ("shipped", "partial", None),
        ("partial", "full", None),  # the second apply over an earlier, one-function patch
        ("full", "full", "its backup is not the shipped chatchat code"),
        ("foreign", "full", "its backup is not the shipped chatchat code"),
        ("shipped", "edited", "no longer holds the chatchat-tune code patch"),
        ("shipped", "foreign", "no longer holds the chatchat-tune code patch"),
    ],
)
def test_restore_refusal(texts: dict[str, bytes], old: str, current: str, refused: str | None) -> None:
    why = restore_refusal(TARGET, texts[old], texts[current])
    assert why == (None if refused is None else f"is outside the install and {refused}")


def test_restore_refusal_of_other_files(texts: dict[str, bytes]) -> None:
    other = TARGET.with_name("api.py")
    assert restore_refusal(other, texts["shipped"], texts["full"]) == (
        "is outside the install and not a file the code patch changes"
    )
    assert "not UTF-8" in (restore_refusal(TARGET, b"\xff", texts["full"]) or "")


def test_apply_and_rollback_through_the_writer_are_byte_identical(
    pkg: ChatchatPackage, tmp_path: Path
) -> None:
    utils = pkg.file("server/utils.py")
    shipped = utils.read_bytes()
    root = tmp_path / "install"
    root.mkdir()
    writes = [FileWrite(path, before, after) for path, before, after in plan_patch(pkg)]
    assert [w.path for w in writes] == [utils]
    apply_writes(root, writes, "chatchat code patch")
    assert patch_state(pkg).state == "applied"
    rollback(root)
    assert utils.read_bytes() == shipped
    assert patch_state(pkg).state == "absent"
