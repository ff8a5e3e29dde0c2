"""The libcst transform: recognise a known function shape, replace it, or say why not (pure, text → text).

``classify`` tells what a module holds for one ``FunctionShape``; ``patch_module`` is the codemod-style
``Module → Module`` transform, which refuses (``ShapeError``) anything but the exact shipped function and
leaves an already-patched module as it is.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

import libcst as cst

from tuner.codepatch.shapes import MARKER, FunctionShape
from tuner.i18n import _

State = Literal["absent", "applied", "unknown-shape"]


class ShapeError(Exception):
    """The module does not hold the function shape the patch knows; the message says what differs."""


@dataclass(frozen=True)
class Found:
    state: State
    detail: str  # one line: what was recognised, or what was not
    # unknown-shape because this is another form of the code (another version: a different hash, or no
    # such function), as opposed to a damaged or hand-edited file
    foreign: bool = False


def _lf(text: str) -> str:
    return text.replace("\r\n", "\n")


def _code(module: cst.Module, node: cst.CSTNode) -> str:
    """A statement's source, LF newlines, without the blank lines/comments libcst attaches before it."""
    if isinstance(node, cst.FunctionDef | cst.SimpleStatementLine):
        node = node.with_changes(leading_lines=())
    return _lf(module.code_for_node(node))


def function_sha256(module: cst.Module, node: cst.FunctionDef) -> str:
    return hashlib.sha256(_code(module, node).encode("utf-8")).hexdigest()


def _replacement(shape: FunctionShape) -> list[cst.BaseStatement]:
    # A leading `pass` makes libcst attach the replacement's opening comments to its first statement
    # (at the top of a module they would go to the module header and be lost).
    return list(cst.parse_module("pass\n" + shape.replacement).body[1:])


def _defs(module: cst.Module, name: str) -> list[int]:
    return [i for i, s in enumerate(module.body) if isinstance(s, cst.FunctionDef) and s.name.value == name]


def _comments(node: cst.CSTNode) -> list[str]:
    lines = node.leading_lines if isinstance(node, cst.FunctionDef | cst.SimpleStatementLine) else ()
    return [line.comment.value for line in lines if line.comment is not None]


def _is_patched(module: cst.Module, index: int, shape: FunctionShape) -> bool:
    """Whether the statements ending at ``index`` are exactly the replacement (its comments included)."""
    wanted = _replacement(shape)
    start = index - len(wanted) + 1
    if start < 0:
        return False
    have = module.body[start : index + 1]
    if [_code(module, s) for s in have] != [_code(cst.Module(body=[]), s) for s in wanted]:
        return False
    return all(
        _comments(h)[-len(_comments(w)) :] == _comments(w)
        for h, w in zip(have, wanted, strict=True)
        if _comments(w)
    )


def classify(module: cst.Module, shape: FunctionShape) -> Found:
    """absent (a shipped form of the function: patchable), applied (exactly our replacement), or
    unknown-shape. The hash decides, never a version string."""
    where = f"{shape.function}()"
    found = _defs(module, shape.function)
    if not found:
        return Found(
            "unknown-shape", _("no top-level function {function}").format(function=where), foreign=True
        )
    if len(found) > 1:
        return Found(
            "unknown-shape", _("{function} is defined {count} times").format(function=where, count=len(found))
        )
    index = found[0]
    node = module.body[index]
    assert isinstance(node, cst.FunctionDef)
    if MARKER in _code(module, node):
        if _is_patched(module, index, shape):
            return Found("applied", _("{function} carries chatchat-tune patch v1").format(function=where))
        return Found(
            "unknown-shape", _("{function} is marked as patched but was changed since").format(function=where)
        )
    digest = function_sha256(module, node)
    versions = shape.versions_of(digest)
    if versions is None:
        known = ", ".join(f"{d[:12]}…" for d, _v in shape.shipped)
        return Found(
            "unknown-shape",
            _("{function} is not a shape chatchat-tune knows (sha256 {digest}…; known: {known})").format(
                function=where, digest=digest[:12], known=known
            ),
            foreign=True,
        )
    return Found(
        "absent",
        _("{function} is the function shipped in {versions} (not patched)").format(
            function=where, versions=versions
        ),
    )


def patch_module(module: cst.Module, shape: FunctionShape) -> cst.Module:
    """The module with the shipped function replaced; unchanged if already patched; ShapeError otherwise."""
    found = classify(module, shape)
    if found.state == "applied":
        return module
    if found.state != "absent":
        raise ShapeError(found.detail)
    index = _defs(module, shape.function)[0]
    old = module.body[index]
    assert isinstance(old, cst.FunctionDef)
    new = _replacement(shape)
    first = new[0]
    if isinstance(first, cst.FunctionDef | cst.SimpleStatementLine):
        # The blank lines (and any comments) before the old function stay where they were.
        first = first.with_changes(leading_lines=(*old.leading_lines, *first.leading_lines))
    new[0] = first
    body = [*module.body[:index], *new, *module.body[index + 1 :]]
    return module.with_changes(body=body)


def patch_text(text: str, shape: FunctionShape) -> str:
    """``patch_module`` on source text (ShapeError, or libcst's ParserSyntaxError, when it cannot)."""
    module = cst.parse_module(text)
    return patch_module(module, shape).code


def classify_text(text: str, shape: FunctionShape) -> Found:
    try:
        module = cst.parse_module(text)
    except cst.ParserSyntaxError as err:
        return Found(
            "unknown-shape",
            _("not valid Python ({error} at line {line})").format(error=err.message, line=err.raw_line),
        )
    return classify(module, shape)
