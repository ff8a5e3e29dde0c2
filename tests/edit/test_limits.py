"""The editors' limits, in process: just under a limit works, just over it is one EditError, and inputs
that crash or hang a parser (50,000 levels, alias bombs) are refused quickly, never with a RecursionError."""

from __future__ import annotations

import time
import warnings
from typing import Any

import pytest

from tuner.edit import pyconfig, textio, yamlconfig
from tuner.edit.paths import EditError
from tuner.limits import (
    MAX_ALIAS_EXPANDED_NODES,
    MAX_INT_DIGITS,
    MAX_NESTING_DEPTH,
    MAX_SETTINGS_NODES,
)

N = MAX_NESTING_DEPTH


def nested_yaml(depth: int) -> str:
    return "T: 1\nDEEP: " + "[" * depth + "1" + "]" * depth + "\n"


def nested_python(depth: int) -> str:
    return "T = 1\nDEEP = " + "[" * depth + "1" + "]" * depth + "\n"


@pytest.mark.parametrize(
    ("editor", "nested", "old", "new"),
    [(yamlconfig, nested_yaml, "T: 1\n", "T: 2\n"), (pyconfig, nested_python, "T = 1\n", "T = 2\n")],
)
def test_nesting_up_to_the_limit_is_read_and_edited(editor: Any, nested: Any, old: str, new: str) -> None:
    text = nested(N)
    assert editor.parse(text).data["T"] == 1
    assert editor.set_values(text, {("T",): 2}) == text.replace(old, new, 1)


@pytest.mark.parametrize("depth", [N + 1, 1000, 50_000])
@pytest.mark.parametrize(("editor", "nested"), [(yamlconfig, nested_yaml), (pyconfig, nested_python)])
def test_nesting_over_the_limit_is_refused_quickly(editor: Any, nested: Any, depth: int) -> None:
    started = time.monotonic()
    with pytest.raises(EditError, match="nest"):
        editor.parse(nested(depth))
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    "expression",
    [
        "-" * 50_000 + "1",
        "not " * 50_000 + "x",
        "+".join(["1"] * 50_000),
        "**".join(["2"] * 50_000),
        "f" + "()" * 50_000,
        "a" + ".b" * 50_000,
        "a" + "[0]" * 50_000,
        "lambda: " * 50_000 + "1",
        " if c else ".join(["1"] * 50_000),
        "-(" * 50_000 + "1" + ")" * 50_000,
        "+".join(["1"] * (N + 5)),
    ],
    ids=[
        "unary",
        "not",
        "binop",
        "pow",
        "calls",
        "attrs",
        "subscripts",
        "lambdas",
        "ifexp",
        "mixed",
        "binop-105",
    ],
)
def test_deep_python_expressions_never_reach_libcst(expression: str) -> None:
    """libcst's native parser overflows the C stack (SIGSEGV) on these: CPython's parser sees them first."""
    with pytest.raises(EditError, match="nest"):
        pyconfig.parse(f"X = {expression}\n")


def test_deep_yaml_block_and_dash_nesting_are_refused() -> None:
    block = "".join(" " * i + f"k{i}:\n" for i in range(N + 5)) + " " * (N + 5) + "v: 1\n"
    with pytest.raises(EditError, match=rf"line \d+: nested more than {N} levels"):
        yamlconfig.parse(block)
    with pytest.raises(EditError, match="nested more than"):
        yamlconfig.parse("X:\n" + "- " * 50_000 + "x\n")


@pytest.mark.parametrize(
    ("editor", "template"),
    [(yamlconfig, "X: [{items}]\n"), (pyconfig, "X = [{items}]\n")],
)
def test_files_with_too_many_values_are_refused(editor: Any, template: str) -> None:
    editor.parse(template.format(items=",".join(["1"] * (MAX_SETTINGS_NODES // 2))))
    with pytest.raises(EditError, match=f"more than {MAX_SETTINGS_NODES:,} values"):
        editor.parse(template.format(items=",".join(["1"] * MAX_SETTINGS_NODES)))


@pytest.mark.parametrize(
    ("editor", "template"),
    [(yamlconfig, "X: {number}\n"), (pyconfig, "X = {number}\n")],
)
def test_integers_over_the_digit_limit_are_refused(editor: Any, template: str) -> None:
    ok = int("9" * MAX_INT_DIGITS)
    assert editor.parse(template.format(number=ok)).data["X"] == ok
    for number in ("9" * (MAX_INT_DIGITS + 1), "9" * 5000, "0x" + "f" * 5000):
        with pytest.raises(EditError, match="integer"):
            editor.parse(template.format(number=number))


def test_an_edit_that_would_write_a_too_long_integer_is_refused() -> None:
    for editor, text in ((yamlconfig, "X: 1\n"), (pyconfig, "X = 1\n")):
        with pytest.raises(EditError):
            editor.set_values(text, {("X",): 10 ** (MAX_INT_DIGITS + 5)})


# --- YAML specifics ----------------------------------------------------------------------------------------


def test_alias_bomb_is_refused_without_expanding_it() -> None:
    lines = ['a0: &a0 "lol"'] + [f"a{n}: &a{n} [" + ", ".join([f"*a{n - 1}"] * 9) + "]" for n in range(1, 10)]
    started = time.monotonic()
    with pytest.raises(EditError, match="aliases"):
        yamlconfig.parse("\n".join(lines) + "\n")
    assert time.monotonic() - started < 2


def test_a_few_aliases_are_fine_but_an_edit_through_one_is_refused() -> None:
    text = "base: &b {port: 1, host: h}\nserver: *b\nT: 1\n"
    doc = yamlconfig.parse(text)
    assert doc.data["server"] == {"port": 1, "host": "h"}
    assert yamlconfig.set_values(text, {("T",): 2}) == text.replace("T: 1", "T: 2")
    with pytest.raises(EditError, match="anchor"):
        yamlconfig.set_values(text, {("server", "port"): 2})
    wide = (
        "a: &a ["
        + ", ".join(["1"] * 100)
        + "]\nb: ["
        + ", ".join(["*a"] * (MAX_ALIAS_EXPANDED_NODES // 100))
        + "]\n"
    )
    with pytest.raises(EditError, match="aliases"):
        yamlconfig.parse(wide)


@pytest.mark.parametrize("text", ["a: &x [*x]\n", "a: &x {b: *x}\n", "a: &x [1, [2, *x]]\n"])
def test_an_alias_inside_its_own_anchor_is_refused(text: str) -> None:
    with pytest.raises(EditError, match="refers to its own anchor"):
        yamlconfig.parse(text)


@pytest.mark.parametrize(
    ("text", "what"),
    [("? [a, b]\n: 1\n", "list"), ("{a: 1}: 2\n", "mapping"), ("x:\n  ? {a: 1}\n  : 2\n", "mapping")],
)
def test_complex_keys_are_refused(text: str, what: str) -> None:
    with pytest.raises(EditError, match=f"a {what} used as a mapping key"):
        yamlconfig.parse(text)


def test_duplicate_keys_and_platforms_are_refused() -> None:
    with pytest.raises(EditError, match="duplicate key"):
        yamlconfig.parse("a: 1\nb: 2\na: 3\n")
    from tuner.edit.paths import Match

    text = "P:\n  - name: x\n    url: a\n  - name: x\n    url: b\n"
    with pytest.raises(EditError, match=r"ambiguous: 2 entries have name: x \(lines 2, 4\)"):
        yamlconfig.set_values(text, {("P", Match("name", "x"), "url"): "c"})


def test_parsing_emits_no_warnings() -> None:
    """ruamel warns on stderr about reused anchors and floats without a dot: a refusal must stay one line."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yamlconfig.parse("a: &x 1\nb: &x 2\nc: 1e3\n")
        pyconfig.parse('import re\nA = "\\d"\nif A is "x":\n    pass\n')


def test_nul_bytes_are_refused_before_decoding() -> None:
    with pytest.raises(EditError, match=r"line 2: holds a NUL byte \(byte 5\)"):
        textio.decode(b"a: 1\n\x00\n")


# --- Python: a second assignment that would shadow the edited one ------------------------------------------

SHADOWS = [
    (
        'import sys\nT = 300.0\nif sys.platform == "win32":\n    T = 60.0\n',
        "assigned again on line 4 (inside an if block)",
    ),
    ("T = 300.0\nT, U = 1, 2\n", "assigned again on line 2"),
    ("T = 300.0\nfor T in range(3):\n    pass\n", "assigned again on line 2"),
    ("T = 300.0\ntry:\n    pass\nexcept OSError as T:\n    pass\n", "bound by an except clause on line 4"),
    ("T = 300.0\nfrom os import sep as T\n", "imported again on line 2"),
    ("T = 300.0\nprint((T := 2))\n", "assigned again on line 2"),
    ("T = 300.0\ndel T\n", "deleted on line 2"),
    ("T = 300.0\nwith open('x') as T:\n    pass\n", "assigned again on line 2"),
    ("T = 300.0\ndef f():\n    global T\n    T = 5\n", "inside function f, declared global"),
    ("T = 300.0\ndef T():\n    pass\n", "defined again on line 2"),
    ("T = 300.0\nwhile False:\n    if True:\n        T = 1\n", "line 4 (inside an if block)"),
    ('D = {"t": 1}\nD.update(t=2)\n', "changed by .update() on line 2"),
    ('D = {"t": {"u": 1}}\nD["t"]["u"] = 2\n', "changed in place on line 2"),
    ('D = {"t": 1}\nif x:\n    D["t"] = 2\n', "changed in place on line 3 (inside an if block)"),
]


@pytest.mark.parametrize(("text", "problem"), SHADOWS)
def test_a_later_binding_makes_the_name_uneditable(text: str, problem: str) -> None:
    doc = pyconfig.parse(text)
    name = "T" if "T" in doc.data else "D"
    path = (name,) if name == "T" else ("D", "t")
    found = doc.find(path)
    assert found is not None and found.problem is not None and problem in found.problem, found
    with pytest.raises(EditError, match="edit it by hand"):
        pyconfig.set_values(text, {path: 7})


@pytest.mark.parametrize(
    "text",
    [
        'import sys\nif sys.platform == "win32":\n    T = 60.0\nT = 300.0\n',  # the later plain one wins
        "T = 300.0\nT = 1.0\n",  # the later plain one is the one read and edited
        "T = 300.0\nX = [T for T in range(3)]\n",  # a comprehension variable has its own scope
        "T = 300.0\nU = T.is_integer()\n",  # a method call on a number changes nothing
        'D = {"t": 1}\nD["t"] = 2\n',  # read as the new value of D["t"]
        'D = {"t": 1}\nE = D.get("t")\n',
        "T = 300.0\nclass C:\n    T = 1\n",  # a class attribute
        "T = 300.0\ndef f():\n    T = 1\n",  # a local
    ],
)
def test_bindings_that_cannot_shadow_the_edited_one_are_fine(text: str) -> None:
    doc = pyconfig.parse(text)
    name = "T" if "T" in doc.data else "D"
    path = (name,) if name == "T" else ("D", "t")
    found = doc.find(path)
    assert found is not None and found.problem is None
    after = pyconfig.set_values(text, {path: 7})
    again = pyconfig.parse(after).find(path)
    assert again is not None and again.value == 7


def test_a_name_bound_only_inside_a_block_is_not_added_at_the_top_level() -> None:
    with pytest.raises(
        EditError, match=r"cannot add it: API_TIMEOUT is assigned on line 2 \(inside an if block\)"
    ):
        pyconfig.set_values("if x:\n    API_TIMEOUT = 5\n", {("API_TIMEOUT",): 60})


def test_a_dict_with_a_key_twice_is_not_edited() -> None:
    text = 'M = {\n    "a": {"u": 1},\n    "b": 2,\n    "a": {"u": 3},\n}\n'
    found = pyconfig.parse(text).find(("M", "a", "u"))
    assert found is not None and found.value == 3
    assert found.problem == "M has the key 'a' twice (lines 2 and 4); edit it by hand"
    with pytest.raises(EditError, match=r"^M\.b: M has the key 'a' twice"):
        pyconfig.set_values(text, {("M", "b"): 5})
