"""The libcst transform on the real 0.3.1.3 ``server/utils.py`` (a private copy) and on small excerpts."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, PositionProvider

from tuner.codepatch import MARKER, NEW_PLATFORM_KEYS, ChatchatPackage, patch_state, plan_patch
from tuner.codepatch.shapes import GET_OPENAI_CLIENT, SHIPPED_FILE_SHA256
from tuner.codepatch.transform import ShapeError, classify_text, patch_text
from tuner.errors import UserError


def utils(pkg: ChatchatPackage) -> Path:
    return pkg.file("server/utils.py")


def write_patch(pkg: ChatchatPackage) -> None:
    for path, _before, after in plan_patch(pkg):
        path.write_bytes(after)


def function_lines(text: str, name: str) -> tuple[int, int]:
    """1-based first and last line of a top-level function (decorators and leading comments excluded)."""
    wrapper = MetadataWrapper(cst.parse_module(text))
    positions = wrapper.resolve(PositionProvider)
    for stmt in wrapper.module.body:
        if isinstance(stmt, cst.FunctionDef) and stmt.name.value == name:
            pos = positions[stmt]
            return pos.start.line, pos.end.line
    raise AssertionError(f"no {name}")


def test_shipped_file_is_the_known_wheel_file(shipped: ChatchatPackage) -> None:
    import hashlib

    data = shipped.file("server/utils.py").read_bytes()
    assert hashlib.sha256(data).hexdigest() == SHIPPED_FILE_SHA256["server/utils.py"]
    assert shipped.version == "0.3.1.3"


def test_shipped_package_is_patchable(pkg: ChatchatPackage) -> None:
    state = patch_state(pkg)
    assert state.state == "absent"
    assert [f.state for f in state.files] == ["absent"]
    assert state.files[0].path == utils(pkg)
    assert "can be applied" in state.summary


def test_plan_patch_reads_only_and_produces_valid_python(pkg: ChatchatPackage) -> None:
    before = utils(pkg).read_bytes()
    plan = plan_patch(pkg)
    assert utils(pkg).read_bytes() == before  # nothing written
    assert [(p, b) for p, b, _a in plan] == [(utils(pkg), before)]
    after = plan[0][2].decode("utf-8")
    compile(after, str(utils(pkg)), "exec")
    assert after.count(MARKER) == 2  # above the module-level cache and inside the function


def test_patch_is_idempotent(pkg: ChatchatPackage) -> None:
    write_patch(pkg)
    patched = utils(pkg).read_bytes()
    state = patch_state(pkg)
    assert state.state == "applied" and "applied" in state.summary
    assert plan_patch(pkg) == []
    text = patched.decode("utf-8")
    assert patch_text(text, GET_OPENAI_CLIENT) == text


def test_diff_touches_only_the_patched_function(pkg: ChatchatPackage) -> None:
    before = utils(pkg).read_text(encoding="utf-8")
    after = plan_patch(pkg)[0][2].decode("utf-8")
    first, last = function_lines(before, "get_OpenAIClient")
    matcher = difflib.SequenceMatcher(a=before.splitlines(), b=after.splitlines(), autojunk=False)
    changed = [(i1, i2) for tag, i1, i2, _j1, _j2 in matcher.get_opcodes() if tag != "equal"]
    assert changed
    for i1, i2 in changed:  # 0-based [i1, i2) in the old file; an insertion has i1 == i2
        assert first - 1 <= i1 and i2 <= last, (i1, i2, first, last)
    # Everything outside the function is byte-identical: the prefix and suffix around it.
    old_lines, new_lines = before.splitlines(True), after.splitlines(True)
    assert "".join(new_lines[: first - 1]) == "".join(old_lines[: first - 1])
    tail = "".join(old_lines[last:])
    assert after.endswith(tail)


def test_patched_function_reads_every_setting_it_documents(pkg: ChatchatPackage) -> None:
    after = plan_patch(pkg)[0][2].decode("utf-8")
    assert "Settings.basic_settings.HTTPX_DEFAULT_TIMEOUT" in after
    assert 'platform_info.get("api_concurrencies")' in after
    for key, default, comment in NEW_PLATFORM_KEYS:
        assert f'platform_info.get("{key}", {default!r})' in after, key
        assert re.search(r"[\u4e00-\u9fff]", comment) and re.search(r"[A-Za-z]{4}", comment)
    assert len({k for k, _d, _c in NEW_PLATFORM_KEYS}) == len(NEW_PLATFORM_KEYS)


def alter(pkg: ChatchatPackage, old: str, new: str) -> None:
    text = utils(pkg).read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    utils(pkg).write_text(text.replace(old, new), encoding="utf-8")


def test_an_altered_function_is_refused_with_one_line(pkg: ChatchatPackage) -> None:
    alter(
        pkg,
        '        "api_key": platform_info.get("api_key"),\n    }\n    httpx_params = {}',
        '        "api_key": platform_info.get("api_key"),\n        "timeout": 60,\n'
        "    }\n    httpx_params = {}",
    )
    state = patch_state(pkg)
    assert state.state == "unknown-shape"
    assert "not the shape chatchat-tune knows" in state.files[0].detail
    with pytest.raises(UserError) as err:
        plan_patch(pkg)
    message = str(err.value)
    assert "\n" not in message
    assert str(utils(pkg)) in message and "get_OpenAIClient" in message


def test_edits_elsewhere_in_the_file_do_not_block_the_patch(pkg: ChatchatPackage) -> None:
    alter(pkg, "class MsgType:\n", "# a local note\nclass MsgType:\n")
    assert patch_state(pkg).state == "absent"
    write_patch(pkg)
    assert patch_state(pkg).state == "applied"
    assert "# a local note\nclass MsgType:\n" in utils(pkg).read_text(encoding="utf-8")


def test_a_patched_function_edited_afterwards_is_unknown(pkg: ChatchatPackage) -> None:
    write_patch(pkg)
    alter(pkg, "max_retries = max(0, int(", "max_retries = min(9, int(")
    state = patch_state(pkg)
    assert state.state == "unknown-shape"
    assert "marked as patched but was changed" in state.files[0].detail
    with pytest.raises(UserError):
        plan_patch(pkg)


def test_a_missing_file_is_unknown(pkg: ChatchatPackage) -> None:
    utils(pkg).unlink()
    state = patch_state(pkg)
    assert state.state == "unknown-shape" and state.files[0].detail == "file not found"
    assert "cannot be applied" in state.summary


# --- small excerpts written here (no Chatchat source needed) -----------------------------------------------

OTHER_SHAPE = """\
import openai


def get_OpenAIClient(platform_name=None, model_name=None, is_async=True):
    return openai.AsyncClient(base_url="http://127.0.0.1:11434/v1", api_key="EMPTY")
"""


def test_excerpt_with_another_shape_is_refused() -> None:
    found = classify_text(OTHER_SHAPE, GET_OPENAI_CLIENT)
    assert found.state == "unknown-shape" and "sha256" in found.detail
    with pytest.raises(ShapeError):
        patch_text(OTHER_SHAPE, GET_OPENAI_CLIENT)


def test_excerpt_without_the_function_or_with_two_is_refused() -> None:
    assert (
        classify_text("import openai\n", GET_OPENAI_CLIENT).detail
        == "no top-level function get_OpenAIClient()"
    )
    twice = OTHER_SHAPE + "\n\n" + OTHER_SHAPE.split("\n\n\n", 1)[1]
    assert "defined 2 times" in classify_text(twice, GET_OPENAI_CLIENT).detail
    nested = "class C:\n    def get_OpenAIClient(self):\n        pass\n"
    assert classify_text(nested, GET_OPENAI_CLIENT).state == "unknown-shape"


def test_excerpt_that_is_not_python_is_refused() -> None:
    found = classify_text("def get_OpenAIClient(:\n", GET_OPENAI_CLIENT)
    assert found.state == "unknown-shape" and found.detail.startswith("not valid Python")


def test_replacement_compiles_on_its_own() -> None:
    compile(GET_OPENAI_CLIENT.replacement, "replacement", "exec")
    assert GET_OPENAI_CLIENT.replacement.startswith(MARKER)
