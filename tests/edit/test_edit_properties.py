"""Properties of both editors on generated settings files (YAML for 0.3.1+, Python for 0.2.x).

Files are small but varied: comments (Chinese and ASCII, whole-line and inline), blank lines, nested
sections, lists, every scalar type in several quoting styles, LF or CRLF, with or without a BOM. Values
are anything a setting can hold: ints of any size, floats (inf and nan too), bools, None, strings with
quotes, backslashes, control characters, Chinese and other unicode.

- An accepted edit re-parses to exactly the requested value, every other value is unchanged, and every
  byte outside the edited value's span is identical (the inserted text stays on its line).
- A refused edit raises EditError (never another exception) and leaves the text and its data as they were.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tuner.edit import pyconfig, textio, yamlconfig
from tuner.edit.paths import EditError, ValuePath
from tuner.edit.textio import TextFormat
from tuner.edit.verify import same

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies
settings = hypothesis.settings(max_examples=200, deadline=None, derandomize=True, database=None)

# --- generated files ---------------------------------------------------------------------------------------

TEXT_CHARS = "abcxyz XYZ019_-./:#'\"\\,{}[]&*!%@中文设置说明，。"
COMMENT_CHARS = "abc XYZ 019-_:'\"#中文注释说明，。"
SAFE_PLAIN = st.from_regex(r"s[a-z0-9_]{0,8}", fullmatch=True)  # never a YAML 1.1 bool/null/number
ORIGINAL = st.one_of(
    st.integers(-(10**6), 10**6),
    st.integers(-(10**6), 10**6).map(lambda n: n / 8),  # exact, and repr always has a dot
    st.booleans(),
    st.none(),
    st.text(TEXT_CHARS, max_size=12),
    SAFE_PLAIN,
)
NEW = st.one_of(
    st.integers(),
    st.integers(-(10**30), 10**30),
    st.floats(),
    st.booleans(),
    st.none(),
    st.text(max_size=20),  # all of unicode but surrogates
    st.text(
        st.sampled_from(list("\"'\\\n\t\r\x00\x1b\x7f\x85\u2028\ufeff中文#: -{}[],&*!|>%@`")), max_size=12
    ),
)
COMMENT = st.text(COMMENT_CHARS, max_size=20).map(lambda c: "# " + c.strip() if c.strip() else "#")


@dataclass(frozen=True)
class Entry:
    key: str
    value: object  # a scalar, a dict of scalars (a section) or a list of scalars
    comment: str | None  # whole-line comment above it
    inline: str | None  # comment after a scalar value
    style: int  # picks the quoting of strings


@dataclass(frozen=True)
class Spec:
    entries: tuple[Entry, ...]
    indent: int
    fmt: TextFormat
    blank_lines: bool


def entries(
    key: st.SearchStrategy[str], value: st.SearchStrategy[Any]
) -> st.SearchStrategy[tuple[Entry, ...]]:
    entry = st.builds(
        Entry,
        key=key,
        value=value,
        comment=st.none() | COMMENT,
        inline=st.none() | COMMENT,
        style=st.integers(0, 3),
    )
    return st.lists(entry, min_size=1, max_size=6, unique_by=lambda e: e.key).map(tuple)


SECTION = entries(st.from_regex(r"k_[a-z0-9_]{0,6}", fullmatch=True), ORIGINAL).map(
    lambda es: {e.key: (e.value, e.inline, e.style) for e in es}
)
TOP_VALUE = st.one_of(ORIGINAL, ORIGINAL, SECTION, st.lists(ORIGINAL, max_size=4))
SPECS = st.builds(
    Spec,
    entries=entries(st.from_regex(r"K_[A-Z0-9_]{0,6}", fullmatch=True), TOP_VALUE),
    indent=st.sampled_from([2, 4]),
    fmt=st.builds(TextFormat, bom=st.booleans(), newline=st.sampled_from(["\n", "\r\n"])),
    blank_lines=st.booleans(),
)


def yaml_scalar(value: object, style: int) -> str:
    if value is None:
        return ["null", "", "~", "null"][style]
    if isinstance(value, bool):
        return ["true", "false"][not value] if style != 1 else ["True", "False"][not value]
    if isinstance(value, int | float):
        return repr(value)
    assert isinstance(value, str)
    if style == 0 or not value:
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar
    if style == 1:
        return "'" + value.replace("'", "''") + "'"
    if style == 2 and re.fullmatch(r"s[a-z0-9_]*", value):
        return value  # plain: "s..." is never a bool, null or number
    return json.dumps(value, ensure_ascii=style == 3)


def yaml_text(spec: Spec) -> str:
    pad = " " * spec.indent
    lines: list[str] = ["# 模型配置 generated", ""]
    for e in spec.entries:
        if e.comment:
            lines.append(e.comment)
        if isinstance(e.value, dict):
            lines.append(f"{e.key}:")
            for key, (value, inline, style) in e.value.items():
                lines.append(
                    f"{pad}{key}: {yaml_scalar(value, style)}".rstrip() + (f"  {inline}" if inline else "")
                )
        elif isinstance(e.value, list):
            lines.append(f"{e.key}:" if e.value else f"{e.key}: []")
            lines.extend(f"{pad}- {yaml_scalar(v, e.style)}" for v in e.value if v is not None)
        else:
            text = f"{e.key}: {yaml_scalar(e.value, e.style)}".rstrip()
            lines.append(text + (f"  {e.inline}" if e.inline else ""))
        if spec.blank_lines:
            lines.append("")
    return "\n".join(lines) + "\n"


def py_scalar(value: object, style: int) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=style == 3) if style in (0, 3) else repr(value)
    return repr(value)


def py_text(spec: Spec) -> str:
    pad = " " * spec.indent
    lines: list[str] = ["# 服务器配置 generated", "import os", ""]
    for e in spec.entries:
        if e.comment:
            lines.append(e.comment)
        if isinstance(e.value, dict):
            lines.append(f"{e.key} = {{")
            items = list(e.value.items())
            for n, (key, (value, inline, style)) in enumerate(items):
                comma = "," if n < len(items) - 1 or style != 2 else ""
                quoted = json.dumps(key) if style % 2 == 0 else repr(key)
                lines.append(
                    f"{pad}{quoted}: {py_scalar(value, style)}{comma}" + (f"  {inline}" if inline else "")
                )
            lines.append("}")
        elif isinstance(e.value, list):
            lines.append(f"{e.key} = [" + ", ".join(py_scalar(v, e.style) for v in e.value) + "]")
        else:
            lines.append(f"{e.key} = {py_scalar(e.value, e.style)}" + (f"  {e.inline}" if e.inline else ""))
        if spec.blank_lines:
            lines.append("")
    return "\n".join(lines) + "\n"


def scalar_paths(spec: Spec) -> list[ValuePath]:
    out: list[ValuePath] = []
    for e in spec.entries:
        if isinstance(e.value, dict):
            out.extend((e.key, key) for key in e.value)
        elif not isinstance(e.value, list):
            out.append((e.key,))
    return out


# --- the properties ----------------------------------------------------------------------------------------


def span_yaml(doc: yamlconfig.Document, path: ValuePath) -> tuple[int, int]:
    loc = yamlconfig._walk(doc, path)
    start, end = loc.node.start_mark.index, loc.node.end_mark.index
    if start == end:  # an empty value (null): the edit goes right after "key:"
        start = end = doc.text.index(":", loc.key.end_mark.index) + 1
    return start, end


def span_py(doc: pyconfig.Document, path: ValuePath) -> tuple[int, int]:
    chain = pyconfig._lookup(doc, path)
    assert chain is not None
    return chain[-1].start, chain[-1].end


def expected_value(old: object, new: object, *, python: bool) -> object:
    """What the file holds after the edit: both editors keep a float setting a float; the Python one
    also keeps an int setting an int when the new float is whole."""
    if isinstance(old, bool) or isinstance(new, bool):
        return new
    if isinstance(old, float) and isinstance(new, int):
        return float(new)
    if python and isinstance(old, int) and isinstance(new, float) and new.is_integer():
        return int(new)
    return new


def check_edit(
    spec: Spec,
    path: ValuePath,
    new: object,
    *,
    render: Callable[[Spec], str],
    editor: Any,
    span: Callable[[Any, ValuePath], tuple[int, int]],
    python: bool,
) -> None:
    text = render(spec)
    raw = textio.encode(text, spec.fmt)
    decoded, fmt = textio.decode(raw)
    assert (decoded, fmt) == (text, spec.fmt)
    doc = editor.parse(text)
    found = doc.find(path)
    assert found is not None
    start, end = span(doc, path)
    try:
        after = editor.set_values(text, {path: new})
    except EditError as exc:  # refused: nothing changed, nothing else raised
        hypothesis.event(f"refused: {str(exc).split(':')[-1][:40]}")
        assert same(editor.parse(text).data, doc.data, numbers_by_value=python)
        return
    want = expected_value(found.value, new, python=python)
    if after == text:  # the file already held the value
        hypothesis.event("unchanged")
        assert same(found.value, want, numbers_by_value=python)
        return
    hypothesis.event(f"accepted: {type(found.value).__name__} -> {type(new).__name__}")
    # every byte outside the value's span is identical, and the new value stays on its line
    assert after.startswith(text[:start]) and after.endswith(text[end:])
    inserted = after[start : len(after) - (len(text) - end)]
    assert "\n" not in inserted
    # it re-parses to exactly the requested value; every other value is unchanged
    again = editor.parse(after)
    got = again.find(path)
    assert got is not None and got.literal
    assert same(got.value, want, numbers_by_value=False) or (
        python and same(got.value, want, numbers_by_value=True) and type(got.value) is type(want)
    ), (got.value, want)
    others_before, others_after = copy.deepcopy(doc.data), copy.deepcopy(again.data)
    for data in (others_before, others_after):
        target: Any = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = None
    assert same(others_after, others_before, numbers_by_value=False)
    # the bytes keep the file's BOM and line endings
    out = textio.encode(after, spec.fmt)
    assert out.startswith(b"\xef\xbb\xbf") == spec.fmt.bom
    assert out.count(b"\n") == raw.count(b"\n")
    if spec.fmt.newline == "\r\n":
        assert out.count(b"\r\n") == out.count(b"\n")


EDITS = SPECS.filter(lambda spec: bool(scalar_paths(spec))).flatmap(
    lambda spec: st.tuples(st.just(spec), st.sampled_from(scalar_paths(spec)), NEW)
)


@settings
@hypothesis.given(EDITS)
def test_yaml_edit_changes_only_its_value(case: tuple[Spec, ValuePath, object]) -> None:
    spec, path, new = case
    check_edit(spec, path, new, render=yaml_text, editor=yamlconfig, span=span_yaml, python=False)


@settings
@hypothesis.given(EDITS)
def test_python_edit_changes_only_its_value(case: tuple[Spec, ValuePath, object]) -> None:
    spec, path, new = case
    check_edit(spec, path, new, render=py_text, editor=pyconfig, span=span_py, python=True)


@settings
@hypothesis.given(SPECS)
def test_generated_files_parse_to_what_was_written(spec: Spec) -> None:
    """The generator itself: both renderings read back as the values they were written from."""
    for render, editor in ((yaml_text, yamlconfig), (py_text, pyconfig)):
        data = editor.parse(render(spec)).data
        for e in spec.entries:
            if isinstance(e.value, dict):
                assert same(data[e.key], {k: v for k, (v, _, _) in e.value.items()}, numbers_by_value=False)
            elif isinstance(e.value, list) and editor is yamlconfig:
                want = [v for v in e.value if v is not None] or ([] if not e.value else None)
                assert same(data[e.key], want, numbers_by_value=False)
            elif not isinstance(e.value, list):
                assert same(data[e.key], e.value, numbers_by_value=False), (e, data[e.key])


@settings
@hypothesis.given(SPECS, st.data())
def test_a_refused_edit_changes_nothing(spec: Spec, data: Any) -> None:
    """Edits that must be refused: a missing parent, a whole section replaced by a scalar, nan/inf in
    Python. Each raises EditError; parsing the text again gives the same data."""
    for render, editor, python in ((yaml_text, yamlconfig, False), (py_text, pyconfig, True)):
        text = render(spec)
        before = editor.parse(text).data
        sections = [e.key for e in spec.entries if isinstance(e.value, dict)]
        cases: list[tuple[ValuePath, object]] = [(("NO_SUCH_SECTION", "k_x"), 1)]
        if sections:
            cases.append(((data.draw(st.sampled_from(sections)),), data.draw(ORIGINAL)))
        scalars = [p for p in scalar_paths(spec) if len(p) == 1]
        if python and scalars:
            cases.append(
                (data.draw(st.sampled_from(scalars)), data.draw(st.sampled_from([math.inf, math.nan])))
            )
        for path, value in cases:
            with pytest.raises(EditError):
                editor.set_values(text, {path: value})
            assert same(editor.parse(text).data, before, numbers_by_value=python)
