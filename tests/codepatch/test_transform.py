"""The libcst transform on the real 0.3.1.3 ``server/utils.py`` (a private copy) and on small excerpts.

Byte-exact: the patched file is the shipped file with each target function's lines (``def`` to its last
line) swapped for the shape's replacement text, and nothing else; computed here from line numbers, not by
the transform. Each shipped form (sha256) of each function is recognised: the 0.3.1/0.3.1.1 form of
``get_ChatOpenAI`` is made from the 0.3.1.3 source by undoing the one line 0.3.1.2 changed, and its hash
is checked against the one read in the 0.3.1 and 0.3.1.1 wheels (docs/versions.md §3).
"""

from __future__ import annotations

import difflib
import hashlib
import re
from pathlib import Path

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, PositionProvider

from tuner.codepatch import MARKER, NEW_PLATFORM_KEYS, ChatchatPackage, patch_state, plan_patch
from tuner.codepatch.shapes import (
    GET_CHAT_OPENAI,
    GET_OPENAI_CLIENT,
    SHAPES,
    SHIPPED_FILE_SHA256,
    FunctionShape,
)
from tuner.codepatch.transform import ShapeError, classify_text, function_sha256, patch_text
from tuner.errors import UserError

# The one line 0.3.1.2 changed in get_ChatOpenAI (0.3.1.3 form, then the 0.3.1/0.3.1.1 form).
LOGGER_0313 = '        logger.exception(f"failed to create ChatOpenAI for model: {model_name}.")\n'
LOGGER_031 = (
    "        logger.error(\n"
    '            f"failed to create ChatOpenAI for model: {model_name}.", exc_info=True\n'
    "        )\n"
)


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


def expected_patch(text: str, shapes: tuple[FunctionShape, ...] = SHAPES) -> str:
    """``text`` with each shape's function lines replaced by its replacement text, by line numbers."""
    lines = text.splitlines(True)
    spans = sorted((function_lines(text, s.function), s) for s in shapes)
    for (first, last), shape in reversed(spans):
        lines[first - 1 : last] = shape.replacement.splitlines(True)
    return "".join(lines)


def form_031(text: str) -> str:
    """The 0.3.1/0.3.1.1 ``get_ChatOpenAI`` in an otherwise 0.3.1.3 file."""
    assert text.count(LOGGER_0313) == 1
    return text.replace(LOGGER_0313, LOGGER_031)


def sha(text: str, name: str) -> str:
    module = cst.parse_module(text)
    (node,) = (s for s in module.body if isinstance(s, cst.FunctionDef) and s.name.value == name)
    return function_sha256(module, node)


def test_shipped_file_is_the_known_wheel_file(shipped: ChatchatPackage) -> None:
    data = shipped.file("server/utils.py").read_bytes()
    assert shipped.version == "0.3.1.3"
    assert hashlib.sha256(data).hexdigest() == SHIPPED_FILE_SHA256["server/utils.py"]["0.3.1.3"]


def test_every_shipped_hash_is_recognised(shipped: ChatchatPackage) -> None:
    text = shipped.file("server/utils.py").read_text(encoding="utf-8")
    forms = {"0.3.1.3": text, "0.3.1": form_031(text)}
    seen = {(shape.function, sha(t, shape.function)) for shape in SHAPES for t in forms.values()}
    assert seen == {(shape.function, digest) for shape in SHAPES for digest, _v in shape.shipped}
    assert sha(forms["0.3.1"], "get_ChatOpenAI").startswith("897feb90")
    assert sha(forms["0.3.1.3"], "get_ChatOpenAI").startswith("63f9ef15")
    assert sha(text, "get_OpenAIClient").startswith("31a552b1")
    for version, form in forms.items():
        for shape in SHAPES:
            found = classify_text(form, shape)
            assert found.state == "absent", (version, found)
            assert version in found.detail
        patched = patch_text(patch_text(form, GET_OPENAI_CLIENT), GET_CHAT_OPENAI)
        assert patched == expected_patch(form), version
    # Both forms patch to the same file: the one line that differs was inside get_ChatOpenAI.
    assert expected_patch(forms["0.3.1"]) == expected_patch(text)


def test_shipped_package_is_patchable(pkg: ChatchatPackage) -> None:
    state = patch_state(pkg)
    assert state.state == "absent"
    assert [(f.function, f.state) for f in state.files] == [
        ("get_OpenAIClient", "absent"),
        ("get_ChatOpenAI", "absent"),
    ]
    assert {f.path for f in state.files} == {utils(pkg)}
    assert state.summary == "code patch not applied (langchain-chatchat 0.3.1.3; can be applied)"


def test_patched_file_is_byte_exact(pkg: ChatchatPackage) -> None:
    before = utils(pkg).read_bytes()
    plan = plan_patch(pkg)
    assert utils(pkg).read_bytes() == before  # nothing written
    assert [(p, b) for p, b, _a in plan] == [(utils(pkg), before)]
    after = plan[0][2]
    assert after == expected_patch(before.decode("utf-8")).encode("utf-8")
    compile(after, str(utils(pkg)), "exec")
    # above each module-level addition and inside each patched function
    assert after.decode("utf-8").count(MARKER) == 4


def test_patch_is_idempotent(pkg: ChatchatPackage) -> None:
    write_patch(pkg)
    patched = utils(pkg).read_bytes()
    state = patch_state(pkg)
    assert state.state == "applied"
    assert state.summary == (
        "code patch v1 applied (langchain-chatchat 0.3.1.3: get_OpenAIClient, get_ChatOpenAI)"
    )
    assert plan_patch(pkg) == []
    text = patched.decode("utf-8")
    for shape in SHAPES:
        assert patch_text(text, shape) == text


def test_diff_touches_only_the_patched_functions(pkg: ChatchatPackage) -> None:
    before = utils(pkg).read_text(encoding="utf-8")
    after = plan_patch(pkg)[0][2].decode("utf-8")
    spans = [function_lines(before, s.function) for s in SHAPES]
    matcher = difflib.SequenceMatcher(a=before.splitlines(), b=after.splitlines(), autojunk=False)
    changed = [(i1, i2) for tag, i1, i2, _j1, _j2 in matcher.get_opcodes() if tag != "equal"]
    assert changed
    for i1, i2 in changed:  # 0-based [i1, i2) in the old file; an insertion has i1 == i2
        assert any(first - 1 <= i1 and i2 <= last for first, last in spans), (i1, i2, spans)


def test_patched_functions_read_every_setting_they_document(pkg: ChatchatPackage) -> None:
    after = plan_patch(pkg)[0][2].decode("utf-8")
    assert "Settings.basic_settings.HTTPX_DEFAULT_TIMEOUT" in after
    assert 'platform_info.get("api_concurrencies")' in after
    for key, default, comment in NEW_PLATFORM_KEYS:
        assert f'platform_info.get("{key}", {default!r})' in after, key
        assert re.search(r"[\u4e00-\u9fff]", comment) and re.search(r"[A-Za-z]{4}", comment)
    assert len({k for k, _d, _c in NEW_PLATFORM_KEYS}) == len(NEW_PLATFORM_KEYS)
    # get_ChatOpenAI takes its clients from get_OpenAIClient: one pool per platform for both paths.
    chat = GET_CHAT_OPENAI.replacement
    assert "get_OpenAIClient(platform_name=platform_name, is_async=False).chat.completions" in chat
    assert "get_OpenAIClient(platform_name=platform_name, is_async=True).chat.completions" in chat


def test_get_chat_openai_keeps_the_shipped_signature_and_body(shipped: ChatchatPackage) -> None:
    """The patched function is the 0.3.1.3 one plus the marker comment and one added line."""
    text = shipped.file("server/utils.py").read_text(encoding="utf-8")
    first, last = function_lines(text, "get_ChatOpenAI")
    old = "".join(text.splitlines(True)[first - 1 : last])
    new = GET_CHAT_OPENAI.replacement[GET_CHAT_OPENAI.replacement.index("def get_ChatOpenAI(") :]
    added = [
        line for line in difflib.ndiff(old.splitlines(), new.splitlines()) if line.startswith(("+ ", "- "))
    ]
    assert added == [
        "+     # chatchat-tune patch v1: pooled clients, timeout and retries (_tuned_chat_clients)",
        "+             params.update(_tuned_chat_clients(model_info, kwargs))",
    ]


def alter(pkg: ChatchatPackage, old: str, new: str) -> None:
    text = utils(pkg).read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    utils(pkg).write_text(text.replace(old, new), encoding="utf-8")


@pytest.mark.parametrize(
    ("function", "old", "new"),
    [
        (
            "get_OpenAIClient",
            '        "api_key": platform_info.get("api_key"),\n    }\n    httpx_params = {}',
            '        "api_key": platform_info.get("api_key"),\n        "timeout": 60,\n'
            "    }\n    httpx_params = {}",
        ),
        (
            "get_ChatOpenAI",
            '                openai_proxy=model_info.get("api_proxy"),\n            )\n'
            "        model = ChatOpenAI",
            '                openai_proxy=model_info.get("api_proxy"),\n                request_timeout=60,\n'
            "            )\n        model = ChatOpenAI",
        ),
    ],
)
def test_an_altered_function_is_refused_with_one_line(
    pkg: ChatchatPackage, function: str, old: str, new: str
) -> None:
    alter(pkg, old, new)
    state = patch_state(pkg)
    assert state.state == "unknown-shape"
    (bad,) = (f for f in state.files if f.state == "unknown-shape")
    assert bad.function == function and "not a shape chatchat-tune knows" in bad.detail and bad.foreign
    assert state.summary.startswith("code patch not available for this version (langchain-chatchat 0.3.1.3: ")
    with pytest.raises(UserError) as err:
        plan_patch(pkg)  # the whole patch is refused, the other (known) function included
    message = str(err.value)
    assert "\n" not in message
    assert str(utils(pkg)) in message and function in message and "0.3.1.3" in message


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
    assert "marked as patched but was changed" in state.files[0].detail and not state.files[0].foreign
    assert state.summary.startswith("code patch cannot be applied: ")
    with pytest.raises(UserError):
        plan_patch(pkg)


def test_an_earlier_apply_of_get_openaiclient_alone_is_completed(pkg: ChatchatPackage) -> None:
    """A package patched when the patch had one function: the other is patched, the first left as is."""
    shipped_text = utils(pkg).read_text(encoding="utf-8")
    utils(pkg).write_text(patch_text(shipped_text, GET_OPENAI_CLIENT), encoding="utf-8")
    state = patch_state(pkg)
    assert state.state == "absent"
    assert [f.state for f in state.files] == ["applied", "absent"]
    assert state.summary == (
        "code patch partly applied (langchain-chatchat 0.3.1.3: get_OpenAIClient); "
        "get_ChatOpenAI can be patched too"
    )
    ((_path, _before, after),) = plan_patch(pkg)
    assert after.decode("utf-8") == expected_patch(shipped_text)


def test_a_missing_file_is_unknown(pkg: ChatchatPackage) -> None:
    utils(pkg).unlink()
    state = patch_state(pkg)
    assert state.state == "unknown-shape" and state.files[0].detail == "no server/utils.py"
    assert (
        state.summary
        == "code patch not available for this version (langchain-chatchat 0.3.1.3: no server/utils.py)"
    )


# --- small excerpts written here (no Chatchat source needed) -----------------------------------------------

OTHER_SHAPE = """\
import openai


def get_OpenAIClient(platform_name=None, model_name=None, is_async=True):
    return openai.AsyncClient(base_url="http://127.0.0.1:11434/v1", api_key="EMPTY")
"""


def test_excerpt_with_another_shape_is_refused() -> None:
    found = classify_text(OTHER_SHAPE, GET_OPENAI_CLIENT)
    assert found.state == "unknown-shape" and found.foreign
    assert found.detail.startswith("get_OpenAIClient() is not a shape chatchat-tune knows (sha256 ")
    assert "known: 31a552b1442d…" in found.detail
    with pytest.raises(ShapeError):
        patch_text(OTHER_SHAPE, GET_OPENAI_CLIENT)
    assert (
        "known: 897feb90cac9…, 63f9ef153253…"
        in classify_text(OTHER_SHAPE.replace("get_OpenAIClient", "get_ChatOpenAI"), GET_CHAT_OPENAI).detail
    )


def test_excerpt_without_the_function_or_with_two_is_refused() -> None:
    for shape in SHAPES:
        found = classify_text("import openai\n", shape)
        assert found.detail == f"no top-level function {shape.function}()" and found.foreign
    twice = OTHER_SHAPE + "\n\n" + OTHER_SHAPE.split("\n\n\n", 1)[1]
    assert "defined 2 times" in classify_text(twice, GET_OPENAI_CLIENT).detail
    nested = "class C:\n    def get_OpenAIClient(self):\n        pass\n"
    assert classify_text(nested, GET_OPENAI_CLIENT).state == "unknown-shape"


def test_excerpt_that_is_not_python_is_refused() -> None:
    found = classify_text("def get_OpenAIClient(:\n", GET_OPENAI_CLIENT)
    assert found.state == "unknown-shape" and found.detail.startswith("not valid Python")


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.function)
def test_replacement_compiles_on_its_own(shape: FunctionShape) -> None:
    compile(shape.replacement, "replacement", "exec")
    assert shape.replacement.startswith(MARKER)
    module = cst.parse_module(shape.replacement)
    last = module.body[-1]
    assert isinstance(last, cst.FunctionDef) and last.name.value == shape.function
    assert MARKER in module.code_for_node(last)
