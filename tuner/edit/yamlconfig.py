"""Read and edit Chatchat 0.3.1+ YAML settings (``basic_settings.yaml``, ``model_settings.yaml``, ...).

ruamel.yaml is used only to parse and to locate: the composed node graph gives the exact character span of
every scalar and collection. Edits are splices of new scalar text into the original text at those spans, and
created keys are whole new lines with the siblings' indentation. The document is never re-dumped, so
comments, quoting, blank lines and key order stay byte-identical. Every edit is checked by parsing the result
and comparing it with the expected data.

Values are resolved as YAML 1.1, which is what Chatchat reads them with (PyYAML ``safe_load`` through
pydantic-settings). Text is already decoded by :mod:`tuner.edit.textio` (``\\n`` line ends, no BOM).
"""

from __future__ import annotations

import bisect
import copy
import math
import re
import warnings
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from tuner.edit.paths import EditError, Found, Match, ValuePath, format_path
from tuner.edit.textio import Overlap, splice
from tuner.edit.verify import first_difference, same
from tuner.i18n import _
from tuner.limits import (
    MAX_ALIAS_EXPANDED_NODES,
    MAX_INT_DIGITS,
    MAX_NESTING_DEPTH,
    MAX_SETTINGS_NODES,
)

__all__ = ["Document", "parse", "set_values"]

_STR = "tag:yaml.org,2002:str"
# Characters YAML lets a file hold unescaped (PyYAML's reader set), minus the line breaks.
_UNPRINTABLE = re.compile("[^\x09\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]|[\u2028\u2029]")
_ITEM_PREFIX = re.compile(r" *- +")


def _yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.version = (1, 1)
    yaml.Composer = _depth_limited_composer()
    return yaml


class _TooBig(Exception):
    def __init__(self, message: str) -> None:
        self.message = message


_COMPOSER: Any = None


def _depth_limited_composer() -> Any:
    """ruamel's Composer, refusing collections nested deeper than MAX_NESTING_DEPTH and documents of
    more than MAX_SETTINGS_NODES nodes as it meets them.

    Its scanner and parser are iterative; only composing recurses (and construction after it), so a
    50,000-deep file stops here after reading ~100 levels, instead of exhausting Python's stack, and a
    huge list stops after MAX_SETTINGS_NODES items instead of taking minutes."""
    global _COMPOSER
    if _COMPOSER is None:
        from ruamel.yaml.composer import Composer

        class DepthLimitedComposer(Composer):
            _nesting = 0
            _nodes = 0

            def compose_node(self, parent: Any, index: Any) -> Any:
                depth = self._nesting + 1
                self._nodes += 1
                if depth > MAX_NESTING_DEPTH + 2:  # + the top-level mapping and the innermost scalar
                    line = self.parser.peek_event().start_mark.line + 1
                    raise _TooBig(
                        _("line {line}: nested more than {depth} levels deep; refused").format(
                            line=line, depth=MAX_NESTING_DEPTH
                        )
                    )
                if self._nodes > MAX_SETTINGS_NODES:
                    line = self.parser.peek_event().start_mark.line + 1
                    raise _TooBig(
                        _("line {line}: more than {count:,} values in one file; refused").format(
                            line=line, count=MAX_SETTINGS_NODES
                        )
                    )
                self._nesting = depth
                try:
                    return super().compose_node(parent, index)
                finally:
                    self._nesting = depth - 1

        _COMPOSER = DepthLimitedComposer
    return _COMPOSER


class _Index:
    """Look-up tables over one document's node graph, each built the first time a look-up needs it, so
    that finding a path costs its depth, not the size of the collections on the way: per mapping, its
    scalar keys (the last of a repeated key wins, as in a merged mapping); per list and Match key, the
    entries holding each value. Also the one constructor that builds values for look-ups."""

    def __init__(self) -> None:
        self.keys: dict[int, dict[str, tuple[Any, Any]]] = {}  # by id of the mapping node
        self.entries: dict[tuple[int, str], dict[str, list[int]]] = {}  # by id of the list node, Match key
        self._constructor: Any = None

    def pair(self, mapping: Any, key: str) -> tuple[Any, Any] | None:
        """(key node, value node) of ``key`` in a mapping node; None if absent or not a mapping."""
        table = self.keys.get(id(mapping))
        if table is None:
            table = {}
            if _kind(mapping) == "MappingNode":
                for k, v in mapping.value:
                    if _kind(k) == "ScalarNode":
                        table[k.value] = (k, v)
            self.keys[id(mapping)] = table
        return table.get(key)

    def matches(self, sequence: Any, match: Match) -> list[int]:
        """Indices (in order) of the mapping entries of a sequence node holding ``match.key`` with the
        scalar ``match.value`` as written; [] if none, or if the node is not a sequence."""
        table = self.entries.get((id(sequence), match.key))
        if table is None:
            table = {}
            items = sequence.value if _kind(sequence) == "SequenceNode" else ()
            for n, item in enumerate(items):
                if _kind(item) != "MappingNode":
                    continue
                values = {  # an entry holding the key twice (merged in, then its own) matches either
                    v.value
                    for k, v in item.value
                    if _kind(k) == "ScalarNode" and k.value == match.key and _kind(v) == "ScalarNode"
                }
                for value in values:
                    table.setdefault(value, []).append(n)
            self.entries[(id(sequence), match.key)] = table
        return table.get(match.value, [])

    def construct(self, node: Any) -> Any:
        """The Python value of a node, built afresh on each call (a caller may change it)."""
        if self._constructor is None:
            self._constructor = _yaml().constructor
        constructor = self._constructor
        try:
            return constructor.construct_object(node, deep=True)
        finally:  # as construct_document leaves it
            constructor.constructed_objects = {}
            constructor.recursive_objects = {}
            constructor.state_generators = []
            constructor.deep_construct = False


@dataclass(frozen=True)
class Document:
    """A parsed settings file: its text and its data as plain Python values."""

    text: str
    data: dict[str, object]
    _root: Any = field(default=None, repr=False, compare=False)
    _merges: frozenset[int] = field(default=frozenset(), repr=False, compare=False)  # ids of `<<` mappings
    _index: _Index = field(default_factory=_Index, init=False, repr=False, compare=False)

    def find(self, path: ValuePath) -> Found | None:
        """The value at ``path``; None if absent; EditError if a Match is ambiguous.

        Costs the path's depth, not the file's size: collections are looked up through an index built
        on first use."""
        if not path:
            raise EditError(_("empty path"))
        loc = _walk(self, path)
        if loc.node is None:
            return None
        value = self._index.construct(loc.node)
        anchor = loc.key if loc.key is not None else loc.node
        return Found(path=path, value=value, line=anchor.start_mark.line + 1, literal=True)


def parse(text: str) -> Document:
    """Parse settings text; EditError("line N: ...") if it is not a single YAML mapping, or if it is
    hostile: nested deeper than MAX_NESTING_DEPTH, aliases that expand past MAX_ALIAS_EXPANDED_NODES or
    refer to themselves, a list or mapping used as a key, an integer longer than MAX_INT_DIGITS."""
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    yaml = _yaml()
    try:
        with warnings.catch_warnings():  # ruamel warns (on stderr) about reused anchors, 1e3 floats...
            warnings.simplefilter("ignore")
            root = yaml.compose(text)
            merges = _check_graph(root)  # before constructing: that flattens `<<` in place
            data = yaml.constructor.construct_document(root) if root is not None else {}
    except _TooBig as exc:
        raise EditError(exc.message) from None
    except EditError:
        raise
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f"line {mark.line + 1}: " if mark is not None else ""
        raise EditError(line + (exc.problem or exc.context or _("invalid YAML"))) from None
    except YAMLError as exc:  # ReaderError: a character YAML does not allow
        pos = getattr(exc, "position", None)
        line = f"line {text.count(chr(10), 0, pos) + 1}: " if isinstance(pos, int) else ""
        raise EditError(f"{line}{exc}".splitlines()[0]) from None
    except (ValueError, TypeError, OverflowError) as exc:  # a value the constructor cannot build
        raise EditError(
            _("cannot read a value ({error})").format(error=(str(exc).splitlines() or ["?"])[0])
        ) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise EditError(_("line 1: the top level is not a mapping of settings"))
    return Document(text=text, data=data, _root=root, _merges=merges)


_INT = "tag:yaml.org,2002:int"
_MERGE = "tag:yaml.org,2002:merge"


def _check_graph(root: Any) -> frozenset[int]:
    """One pass over the composed nodes (each once, aliases not followed twice): refuse complex keys,
    over-long integers, aliases that refer to themselves or expand too far. Returns the ids of the
    mappings that hold a merge key (``<<``)."""
    if root is None:
        return frozenset()
    merges: list[int] = []
    size: dict[int, int] = {}  # expanded node count, capped just past the limit
    visiting: set[int] = set()
    aliased = False
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        nid = id(node)
        children: list[Any] = []
        if _kind(node) == "MappingNode":
            children = [n for pair in node.value for n in pair]
        elif _kind(node) == "SequenceNode":
            children = list(node.value)
        if done:
            visiting.discard(nid)
            size[nid] = min(1 + sum(size[id(c)] for c in children), MAX_ALIAS_EXPANDED_NODES + 1)
            continue
        if nid in size:
            aliased = True
            continue
        if nid in visiting:
            raise EditError(
                _("line {line}: an alias refers to its own anchor; refused").format(
                    line=node.start_mark.line + 1
                )
            )
        line = node.start_mark.line + 1
        if _kind(node) == "ScalarNode":
            if node.tag == _INT and len(node.value) > MAX_INT_DIGITS:
                raise EditError(
                    _(
                        "line {line}: an integer of {value} characters; numbers over {digits} "
                        "digits are refused"
                    ).format(line=line, value=len(node.value), digits=MAX_INT_DIGITS)
                )
            size[nid] = 1
            continue
        if _kind(node) == "MappingNode":
            for key, _value in node.value:
                if _kind(key) != "ScalarNode":
                    what = "list" if _kind(key) == "SequenceNode" else "mapping"
                    raise EditError(
                        _(
                            "line {line}: a {what} used as a mapping key; settings keys must be plain names"
                        ).format(line=key.start_mark.line + 1, what=what)
                    )
            if any(k.tag == _MERGE for k, _value in node.value):
                merges.append(nid)
        visiting.add(nid)
        stack.append((node, True))
        stack.extend((c, False) for c in children)
    if aliased and size[id(root)] > MAX_ALIAS_EXPANDED_NODES:
        raise EditError(
            _("YAML aliases (*name) would expand it to more than {count:,} values; refused").format(
                count=MAX_ALIAS_EXPANDED_NODES
            )
        )
    return frozenset(merges)


# --------------------------------------------------------------------------------------------- locating


@dataclass(frozen=True)
class _Loc:
    parent: Any  # the collection node holding the target (None if the parent itself is missing)
    key: Any  # key node of the target in a mapping, else None
    node: Any  # the target's value node, None if the final key is missing
    keys: tuple[object, ...]  # the path in data: dict keys and list indices (complete only if node found)
    guard: str | None  # why editing here is unsafe (anchor, merge key), else None
    in_flow: bool  # some enclosing collection is in flow style


def _kind(node: Any) -> str:
    return type(node).__name__  # ScalarNode / MappingNode / SequenceNode


_EMPTY_DOC = object()  # parent of a top-level key in a document with no mapping yet (empty or only comments)


def _walk(doc: Document, path: ValuePath) -> _Loc:
    root = doc._root
    if root is None:
        return _Loc(_EMPTY_DOC if len(path) == 1 else None, None, None, (), None, False)
    index = doc._index
    node, key, keys, guard, in_flow = root, None, [], None, False
    for i, seg in enumerate(path):
        if node.anchor:
            guard = guard or _("{path} has an anchor (&{anchor})").format(
                path=format_path(path[:i]) or _("the document"), anchor=node.anchor
            )
        if _kind(node) != "ScalarNode" and node.flow_style:
            in_flow = True
        parent = node
        if isinstance(seg, Match):
            hits = index.matches(node, seg)
            if len(hits) > 1:
                lines = ", ".join(str(node.value[n].start_mark.line + 1) for n in hits)
                raise EditError(
                    _("{path} is ambiguous: {hits} entries have {key}: {value} (lines {lines})").format(
                        path=format_path(path[: i + 1]),
                        hits=len(hits),
                        key=seg.key,
                        value=seg.value,
                        lines=lines,
                    )
                )
            key, node = None, (node.value[hits[0]] if hits else None)
            if hits:
                keys.append(hits[0])
        else:
            if id(node) in doc._merges:
                guard = guard or _("{path} uses a merge key (<<)").format(
                    path=format_path(path[:i]) or _("the document")
                )
            pair = index.pair(node, seg)  # the last of a repeated key wins, as in a merged mapping
            key, node = pair if pair is not None else (None, None)
            if pair is not None:
                keys.append(index.construct(key))
        if node is None:
            ok = i == len(path) - 1
            return _Loc(parent if ok else None, None, None, tuple(keys), guard, in_flow)
    if node.anchor:
        guard = guard or _("{path} has an anchor (&{anchor})").format(
            path=format_path(path), anchor=node.anchor
        )
    return _Loc(parent, key, node, tuple(keys), guard, in_flow)


# --------------------------------------------------------------------------------------------- rendering


def _resolves_to_str(text: str) -> bool:
    from ruamel.yaml.nodes import ScalarNode
    from ruamel.yaml.resolver import VersionedResolver

    return all(
        VersionedResolver(version=v).resolve(ScalarNode, text, (True, False)) == _STR
        for v in ((1, 1), (1, 2))
    )


def _plain_ok(s: str, flow: bool) -> bool:
    if not s or s != s.strip() or _UNPRINTABLE.search(s) or "\t" in s or "\n" in s:
        return False
    if s[0] in "-?:,[]{}#&*!|>'\"%@`" or ": " in s or " #" in s or s.endswith(":"):
        return False
    if flow and any(c in s for c in ",[]{}"):
        return False
    return _resolves_to_str(s)


def _single(s: str) -> str | None:
    if "\n" in s or _UNPRINTABLE.search(s):
        return None
    return "'" + s.replace("'", "''") + "'"


def _double(s: str) -> str:
    out = []
    for c in s:
        if c in '"\\':
            out.append("\\" + c)
        elif c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif _UNPRINTABLE.match(c):
            out.append(f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def _float_text(f: float) -> str:
    if math.isnan(f):
        return ".nan"
    if math.isinf(f):
        return ".inf" if f > 0 else "-.inf"
    text = repr(f)
    if "e" in text:  # YAML 1.1 wants a dot in the mantissa and a signed exponent: 1.0e+20
        mant, exp = text.split("e")
        mant = mant if "." in mant else mant + ".0"
        text = f"{mant}e{exp if exp[0] in '+-' else '+' + exp}"
    return text


def _render(value: object, style: str | None, flow: bool) -> str:
    """Scalar text for ``value``; strings keep ``style`` ('"', "'" or None for plain) where they can."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float_text(value)
    if not isinstance(value, str):
        raise TypeError(type(value).__name__)
    if style == '"':
        return _double(value)
    if style is None and _plain_ok(value, flow):
        return value
    return _single(value) or _double(value)


def _check_value(path: ValuePath, value: object) -> None:
    items = value if isinstance(value, (list, tuple)) else [value]
    for item in items:
        if item is not None and not isinstance(item, (bool, int, float, str)):
            if isinstance(item, dict):
                raise EditError(
                    _("{path}: cannot write a mapping; set its keys one by one").format(
                        path=format_path(path)
                    )
                )
            what = _("nested lists") if isinstance(item, (list, tuple)) else f"a {type(item).__name__}"
            raise EditError(
                _("{path}: cannot write {what} as a setting value").format(path=format_path(path), what=what)
            )


# --------------------------------------------------------------------------------------------- editing


@dataclass(frozen=True)
class _Splice:
    start: int
    end: int
    new: str
    path: ValuePath


class _Text:
    """Line arithmetic over the original text."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def line_start(self, line: int) -> int:
        return self.starts[line]

    def line_end(self, line: int) -> int:
        """Index of the line's newline (or of the end of text)."""
        nl = self.text.find("\n", self.starts[line])
        return len(self.text) if nl < 0 else nl

    def line_of(self, index: int) -> int:
        return bisect.bisect_right(self.starts, index) - 1

    def last_line(self, node: Any) -> int:
        """Last line holding any of the node's own text (trailing blank lines and comments excluded)."""
        if _kind(node) == "MappingNode" and not node.flow_style and node.value:
            k, v = node.value[-1]
            return max(self.last_line(k), self.last_line(v))
        if _kind(node) == "SequenceNode" and not node.flow_style and node.value:
            return max(self.line_of(node.start_mark.index), self.last_line(node.value[-1]))
        start, end = node.start_mark.index, node.end_mark.index
        if start == end:  # an empty value: its mark sits on the next token, so it owns no line
            return -1
        body = self.text[start:end].rstrip()
        return self.line_of(start + max(len(body) - 1, 0))


def set_values(
    text: str,
    changes: Mapping[ValuePath, object],
    *,
    replace_nonliteral: Collection[ValuePath] = (),
    create: bool = True,
    comments: Mapping[ValuePath, str] | None = None,
    after: Mapping[ValuePath, str] | None = None,
    parsed: object = None,
) -> str:
    """Set each path to its new value, touching only those values' characters (or adding lines).

    YAML has no non-literal values, so ``replace_nonliteral`` is accepted and ignored. ``after`` names a
    sibling key that a created key is placed after (default: after the parent's last key). ``parsed``:
    the Document ``parse(text)`` gave, to spare parsing the text again (ignored unless it holds exactly
    ``text``). All the changes are spliced in one pass, then the result is parsed once to check it.
    """
    del replace_nonliteral
    comments, after = comments or {}, after or {}
    doc = parsed if isinstance(parsed, Document) and parsed.text == text else parse(text)
    lines = _Text(text)
    expected: dict[str, object] = copy.deepcopy(doc.data)
    splices: list[_Splice] = []
    for path, value in changes.items():
        if not path or isinstance(path[-1], Match):
            raise EditError(
                _("{path}: a path must end with a key").format(path=format_path(path) or "(empty path)")
            )
        value = list(value) if isinstance(value, tuple) else value
        loc = _walk(doc, path)
        if loc.parent is None:
            raise EditError(
                _("{path}: {parent} does not exist").format(
                    path=format_path(path), parent=format_path(path[:-1])
                )
            )
        current = None if loc.node is None else doc._index.construct(loc.node)
        if loc.node is not None and same(current, value, numbers_by_value=False):
            continue
        _check_value(path, value)
        if loc.node is None:
            if not create:
                raise EditError(
                    _("{path}: no such key (creating keys is not allowed here)").format(
                        path=format_path(path)
                    )
                )
            splices.append(_create(lines, doc._root, loc, path, value, comments.get(path), after.get(path)))
            _set_plain(expected, (*loc.keys, path[-1]), value)
            continue
        if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)  # a float setting stays a float: 60 is written 60.0
        if same(current, value, numbers_by_value=False):
            continue
        if loc.guard:
            raise EditError(
                _("{path}: cannot edit in place: {guard}").format(path=format_path(path), guard=loc.guard)
            )
        splices.append(_replace(lines, loc, path, current, value))
        _set_plain(expected, loc.keys, value)
    if not splices:
        return text
    new_text = _apply(text, splices)
    _verify(new_text, expected)
    return new_text


def _replace(lines: _Text, loc: _Loc, path: ValuePath, current: object, value: object) -> _Splice:
    node, where = loc.node, format_path(path)
    start, end = node.start_mark.index, node.end_mark.index
    if isinstance(value, dict):
        raise EditError(_("{where}: set the keys of a mapping one by one").format(where=where))
    if _kind(node) == "MappingNode":
        raise EditError(
            _("{where}: is a mapping; cannot replace it with a {type}").format(
                where=where, type=type(value).__name__
            )
        )
    if isinstance(value, list):
        if _kind(node) == "SequenceNode":
            return _replace_list(lines, node, path, value, loc.in_flow)
        if current is not None:
            raise EditError(
                _("{where}: holds a {type}, not a list").format(where=where, type=type(current).__name__)
            )
    elif _kind(node) == "SequenceNode":
        raise EditError(
            _("{where}: is a list; cannot replace it with a {type}").format(
                where=where, type=type(value).__name__
            )
        )
    source = lines.text[start:end]
    if source[:1] in ("!", "&", "*"):
        raise EditError(
            _("{where}: has an explicit tag or anchor ({tag}); edit it by hand").format(
                where=where, tag=source.split()[0]
            )
        )
    if node.style in ("|", ">"):
        raise EditError(
            _("{where}: is a block scalar ({style}); edit it by hand").format(where=where, style=node.style)
        )
    if "\n" in source:
        raise EditError(_("{where}: is a multi-line scalar; edit it by hand").format(where=where))
    if isinstance(value, list):  # null -> list: write it in flow style on the key's line
        new = "[" + ", ".join(_render(v, None, True) for v in value) + "]"
    else:
        style = node.style if isinstance(current, str) else None
        new = _render(value, style, loc.in_flow)
    if start == end:  # an empty value: parsers mark it at the next token; write it right after "key:"
        if loc.key is None or _kind(loc.key) != "ScalarNode":
            raise EditError(_("{where}: empty list item; edit it by hand").format(where=where))
        start = end = lines.text.index(":", loc.key.end_mark.index) + 1
        new = " " + new
    return _Splice(start, end, new, path)


def _replace_list(lines: _Text, node: Any, path: ValuePath, value: list[object], in_flow: bool) -> _Splice:
    where = format_path(path)
    items = node.value
    if any(_kind(i) != "ScalarNode" or i.anchor or i.style in ("|", ">") for i in items):
        raise EditError(_("{where}: list items are not simple scalars; edit it by hand").format(where=where))
    styles = {i.style for i in items}
    style = styles.pop() if len(styles) == 1 else None
    if node.flow_style:
        source = lines.text[node.start_mark.index : node.end_mark.index]
        if "\n" in source or "#" in source:
            raise EditError(
                _("{where}: flow list spans lines or holds comments; edit it by hand").format(where=where)
            )
        new = "[" + ", ".join(_render(v, style, True) for v in value) + "]"
        return _Splice(node.start_mark.index, node.end_mark.index, new, path)
    if not value:
        raise EditError(
            _("{where}: cannot empty a block list in place; write [] by hand").format(where=where)
        )
    first = items[0].start_mark.line
    prefix = lines.text[lines.line_start(first) : items[0].start_mark.index]
    for n, item in enumerate(items):
        line = item.start_mark.line
        rest = lines.text[item.end_mark.index : lines.line_end(line)]
        ok = line == first + n and item.end_mark.line == line and not rest.strip()
        if not ok or lines.text[lines.line_start(line) : item.start_mark.index] != prefix:
            raise EditError(
                _("{where}: list has comments or irregular lines between items; edit it by hand").format(
                    where=where
                )
            )
    if not _ITEM_PREFIX.fullmatch(prefix):
        raise EditError(_("{where}: unexpected list layout; edit it by hand").format(where=where))
    new = "\n".join(prefix + _render(v, style, in_flow) for v in value)
    return _Splice(lines.line_start(first), lines.line_end(items[-1].start_mark.line), new, path)


def _create(
    lines: _Text, root: Any, loc: _Loc, path: ValuePath, value: object, comment: str | None, after: str | None
) -> _Splice:
    where, parent, key = format_path(path), loc.parent, path[-1]
    assert isinstance(key, str)
    if loc.guard:
        raise EditError(_("{where}: cannot add a key here: {guard}").format(where=where, guard=loc.guard))
    if isinstance(value, dict):
        raise EditError(_("{where}: cannot create a mapping; create its keys one by one").format(where=where))
    if parent is _EMPTY_DOC:
        new = "".join(line + "\n" for line in _key_lines(lines, root, 0, key, value, comment))
        sep = "\n" if lines.text and not lines.text.endswith("\n") else ""
        return _Splice(len(lines.text), len(lines.text), sep + new, path)
    if _kind(parent) != "MappingNode":
        raise EditError(
            _("{where}: {path} is not a mapping").format(where=where, path=format_path(path[:-1]))
        )
    if parent.flow_style or loc.in_flow:
        raise EditError(
            _("{where}: {document} is a flow mapping; edit it by hand").format(
                where=where, document=format_path(path[:-1]) or _("the document")
            )
        )
    last = lines.last_line(parent)
    if after is not None:
        sibling = [(k, v) for k, v in parent.value if k.value == after]
        if not sibling:
            raise EditError(
                _("{where}: cannot place it after {after!r}: no such key").format(where=where, after=after)
            )
        last = max(lines.last_line(sibling[0][0]), lines.last_line(sibling[0][1]))
    at = lines.line_end(last)  # before that line's newline: each new line brings its own
    new_lines = _key_lines(lines, root, parent.value[0][0].start_mark.column, key, value, comment)
    return _Splice(at, at, "".join("\n" + line for line in new_lines), path)


def _key_lines(
    lines: _Text, root: Any, indent: int, key: str, value: object, comment: str | None
) -> list[str]:
    pad = " " * indent
    new_lines = []
    for c in (comment or "").splitlines():
        c = c.strip()
        new_lines.append("" if not c else pad + (c if c.startswith("#") else "# " + c))
    key_text = key if _plain_ok(key, False) else (_single(key) or _double(key))
    if isinstance(value, list) and value:
        dash = " " * _dash_offset(lines, root)
        new_lines.append(f"{pad}{key_text}:")
        new_lines.extend(f"{pad}{dash}- {_render(v, None, False)}" for v in value)
    elif isinstance(value, list):
        new_lines.append(f"{pad}{key_text}: []")
    else:
        new_lines.append(f"{pad}{key_text}: {_render(value, None, False)}")
    return new_lines


def _dash_offset(lines: _Text, root: Any) -> int:
    """How far this file indents ``- item`` past its key (Chatchat writes 2); 2 if it has no block list."""
    stack = [root] if root is not None else []
    while stack:
        node = stack.pop()
        if _kind(node) == "MappingNode":
            for k, v in node.value:
                if _kind(v) == "SequenceNode" and not v.flow_style and v.value:
                    line = lines.text[lines.line_start(v.value[0].start_mark.line) :]
                    key_column: int = k.start_mark.column
                    return max(line.index("-") - key_column, 0)
                stack.append(v)
        elif _kind(node) == "SequenceNode":
            stack.extend(node.value)
    return 2


def _apply(text: str, splices: list[_Splice]) -> str:
    try:
        return splice(text, [(sp.start, sp.end, sp.new) for sp in splices])
    except Overlap as exc:
        raise EditError(
            _("{path}: overlaps another change in the same edit").format(
                path=format_path(splices[exc.index].path)
            )
        ) from None


# --------------------------------------------------------------------------------------------- checking


def _set_plain(data: object, keys: tuple[object, ...], value: object) -> None:
    target: Any = data
    for k in keys[:-1]:
        target = target[k]
    target[keys[-1]] = copy.deepcopy(value)


def _verify(new_text: str, expected: dict[str, object]) -> None:
    try:
        got = parse(new_text).data
    except EditError as exc:
        raise EditError(
            _("the edit would produce invalid YAML ({error}); nothing written").format(error=exc)
        ) from None
    problem = first_difference(expected, got, numbers_by_value=False)
    if problem:
        raise EditError(_("the edit would not give the requested values: {problem}").format(problem=problem))
