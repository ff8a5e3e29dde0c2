"""Read and edit Chatchat 0.2.x Python config modules (``configs/*.py``) without importing them.

Pure: text in, text out. The text is parsed with libcst (imported lazily: it is slow to import), values are
read from literals only, and edits are spliced into the original text at the exact character ranges libcst
reports, so everything that is not a changed value stays byte-identical. Every edit is checked by parsing
the result again: exactly the requested paths must have changed, to exactly the requested values.
"""

from __future__ import annotations

import ast
import copy
import math
import re
import warnings
from collections import Counter, defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tuner.edit.paths import EditError, Found, Match, ValuePath, format_path
from tuner.edit.textio import Overlap, splice
from tuner.edit.verify import first_difference, same
from tuner.i18n import _
from tuner.limits import MAX_INT_DIGITS, MAX_NESTING_DEPTH, MAX_SETTINGS_NODES

if TYPE_CHECKING:
    import libcst as cst
    from libcst.metadata import CodePosition, CodeRange, MetadataWrapper, PositionProvider

__all__ = ["Document", "NonLiteral", "parse", "set_values"]

_UNIT = "    "


@dataclass(frozen=True)
class NonLiteral:
    """A value written as a name, call, conditional, f-string...; ``source`` is its exact source text."""

    source: str

    def brief(self) -> str:
        """A one-line, shortened form for messages: ``"0.0.0.0" if ... else ...``."""
        flat = " ".join(self.source.split())
        head, sep, rest = flat.partition(" if ")
        if sep and " else " in rest:
            flat = f"{head} if ... else ..."
        return flat if len(flat) <= 60 else flat[:57] + "..."


@dataclass(frozen=True)
class _Style:
    quote: str = '"'  # ' " ''' or """
    prefix: str = ""


@dataclass(frozen=True)
class _DictLayout:
    lbrace_end: int
    rbrace: int  # offset of the closing "}"
    count: int
    last_end: int  # end of the last element (its value, parentheses included)
    last_comma_end: int | None  # just past the last element's comma, if it has one
    last_indent: str | None  # whitespace before the last key, when that key starts its line
    key_style: _Style
    colon: tuple[str, str]


@dataclass(eq=False)
class _Value:
    value: object
    line: int
    start: int
    end: int
    reason: str | None = None  # why it cannot be edited in place, if it cannot
    style: _Style | None = None  # plain string literal: its quotes and prefix
    entries: dict[str, _Value] | None = None  # dict literal (the last of duplicate keys wins)
    items: list[_Value] | None = None  # list or tuple literal
    layout: _DictLayout | None = None
    multiline: bool = False


@dataclass(frozen=True)
class _Binding:
    value: _Value
    next_line: int  # offset of the line after the assignment statement
    line: int = 0  # line of the assignment statement
    problem: str | None = None  # why the name must not be edited (assigned again later, ...)


class _Index:
    """Per list literal and Match key, the dict entries holding each string value there, built the first
    time a look-up needs it: finding ``NAME[key=value]`` then costs one dict look-up, not a scan."""

    def __init__(self) -> None:
        self.entries: dict[tuple[int, str], dict[str, list[_Value]]] = {}  # by id of the list, Match key

    def matches(self, container: _Value, match: Match) -> list[_Value]:
        """The items of a list or tuple literal that are dicts whose ``match.key`` holds ``match.value``
        (a string: no other literal equals it), in order; [] if none or not a list."""
        table = self.entries.get((id(container), match.key))
        if table is None:
            table = {}
            for item in container.items or ():
                held = item.entries.get(match.key) if item.entries else None
                if held is not None and isinstance(held.value, str):
                    table.setdefault(held.value, []).append(item)
            self.entries[(id(container), match.key)] = table
        return table.get(match.value, [])


@dataclass(frozen=True)
class Document:
    """A parsed config module: ``data`` maps each top-level name to its value (last assignment wins)."""

    text: str
    data: dict[str, object]
    _names: Mapping[str, _Binding] = field(default_factory=dict, repr=False, compare=False)
    _quote: str = field(default='"', repr=False, compare=False)
    _elsewhere: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    _index: _Index = field(default_factory=_Index, init=False, repr=False, compare=False)

    def find(self, path: ValuePath) -> Found | None:
        """The value at ``path`` or None; EditError if a Match picks several entries. Costs the path's
        depth: top-level names and dict keys are dict look-ups, Match entries are indexed on first use."""
        chain = _lookup(self, path)
        if chain is None:
            return None
        found = chain[-1]
        problem = self._names[str(path[0])].problem
        if isinstance(found.value, NonLiteral):
            return Found(path, found.value.source, found.line, literal=False, problem=problem)
        return Found(path, copy.deepcopy(found.value), found.line, problem=problem)


def parse(text: str) -> Document:
    """Parse a config module. EditError ``line N: <why>`` when it is not valid Python, or is hostile:
    nested deeper than MAX_NESTING_DEPTH, more than MAX_SETTINGS_NODES nodes, integers over
    MAX_INT_DIGITS digits. CPython's own parser checks it first: it refuses such input with an error,
    where libcst's native parser overflows the C stack and kills the process."""
    import libcst as cst
    from libcst.metadata import MetadataWrapper, PositionProvider

    with warnings.catch_warnings():  # SyntaxWarnings ("is" with a literal, bad escapes) go to stderr
        warnings.simplefilter("ignore")
        tree = _guard(text)
        try:
            module = cst.parse_module(text)
        except cst.ParserSyntaxError as exc:
            why = (exc.message.strip().splitlines() or ["invalid syntax"])[0]
            raise EditError(_("line {line}: {why}").format(line=exc.raw_line, why=why)) from None
        positions = _positions(MetadataWrapper(module, unsafe_skip_copy=True), PositionProvider)
        return _read_module(text, module, positions, tree)


def _positions(wrapper: MetadataWrapper, provider: type[PositionProvider]) -> Mapping[cst.CSTNode, CodeRange]:
    """Every node's range. ``wrapper.resolve`` would also walk the whole tree once more for batched
    providers, though there are none (a third of the parse's cost); run the provider alone, as
    ``resolve`` does, when this libcst has the hook."""
    gen = getattr(provider(), "_gen", None)
    if gen is None:  # pragma: no cover - another libcst
        return wrapper.resolve(provider)
    positions: Mapping[cst.CSTNode, CodeRange] = gen(wrapper)
    return positions


def _read_module(
    text: str, module: cst.Module, positions: Mapping[cst.CSTNode, CodeRange], tree: ast.Module
) -> Document:
    import libcst as cst

    reader = _Reader(text, positions)
    names: dict[str, _Binding] = {}
    set_items: set[tuple[str, int]] = set()  # (name, line) of NAME["key"] = ... read into NAME's dict
    for stmt in module.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        next_line = reader.line_start(positions[stmt].end.line + 1)
        for small in stmt.body:
            line = positions[small].start.line
            targets: list[cst.BaseAssignTargetExpression] = []
            value_node: cst.BaseExpression | None = None
            if isinstance(small, cst.Assign):
                targets, value_node = [t.target for t in small.targets], small.value
            elif isinstance(small, cst.AnnAssign):
                targets, value_node = [small.target], small.value
            elif isinstance(small, cst.AugAssign) and isinstance(small.target, cst.Name):
                old = names.get(small.target.value)
                if old is not None:  # X += ... changes X again: its value is no longer a plain literal
                    rng = positions[small]
                    src = text[reader.offset(rng.start) : reader.offset(rng.end)]
                    changed = _Value(NonLiteral(src), old.value.line, old.value.start, old.value.end)
                    changed.reason = _("it is changed again on line {line} ({source})").format(
                        line=rng.start.line, source=src
                    )
                    names[small.target.value] = _Binding(changed, old.next_line, old.line)
                continue
            if value_node is None:
                continue
            seen = len(reader.duplicates)
            value = reader.build(value_node)
            twice = reader.duplicates[seen:]
            for target in targets:
                if isinstance(target, cst.Name):
                    problem = (
                        _("{name} has {problem}; edit it by hand").format(name=target.value, problem=twice[0])
                        if twice
                        else None
                    )
                    names[target.value] = _Binding(value, next_line, line, problem)
                elif isinstance(target, cst.Subscript) and _set_item(reader, names, target, value):
                    # PROMPT_TEMPLATES["llm_chat"] = {...} (0.2.6)
                    set_items.add((cst.ensure_type(target.value, cst.Name).value, line))
    names, elsewhere = _rebindings(tree, names, set_items)
    quote = "'" if reader.quotes["'"] > reader.quotes['"'] else '"'
    data = {name: binding.value.value for name, binding in names.items()}
    return Document(text, data, names, quote, elsewhere)


# --- hostile input and names bound more than once ----------------------------------------------------------

_MAX_INT_BITS = math.ceil(MAX_INT_DIGITS * math.log2(10))
_NOT_COUNTED = (ast.expr_context, ast.operator, ast.unaryop, ast.cmpop, ast.boolop)


def _guard(text: str) -> ast.Module:
    """Parse with CPython's parser (protected against deep nesting) and refuse what libcst must not see."""
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        why = ((exc.msg or "").strip().splitlines() or ["invalid syntax"])[0]
        if "Exceeds the limit" in why:
            why = _("an integer of more than 4,300 digits; numbers over {digits} digits are refused").format(
                digits=MAX_INT_DIGITS
            )
        elif why.startswith("too many"):  # nested parentheses, levels of indentation, nested blocks
            why = _("{why}; nesting deeper than {depth} levels is refused").format(
                why=why, depth=MAX_NESTING_DEPTH
            )
        raise EditError(_("line {line}: {why}").format(line=exc.lineno or 1, why=why)) from None
    except (RecursionError, MemoryError):  # CPython's parser refusing a deep expression ("too complex")
        raise EditError(
            _("nested more than {depth} levels deep; refused").format(depth=MAX_NESTING_DEPTH)
        ) from None
    count = 0
    stack: list[tuple[ast.AST, int]] = [(node, 1) for node in tree.body]
    while stack:
        node, depth = stack.pop()
        count += 1
        line = getattr(node, "lineno", None)
        at = f"line {line}: " if line else ""
        if count > MAX_SETTINGS_NODES:
            raise EditError(
                _("{at}more than {count:,} values in one file; refused").format(
                    at=at, count=MAX_SETTINGS_NODES
                )
            )
        if depth > MAX_NESTING_DEPTH + 2:  # + the statement and the innermost value
            raise EditError(
                _("{at}nested more than {depth} levels deep; refused").format(at=at, depth=MAX_NESTING_DEPTH)
            )
        if (
            isinstance(node, ast.Constant)
            and type(node.value) is int
            and node.value.bit_length() > _MAX_INT_BITS
        ):
            raise EditError(
                _("{at}an integer of more than {digits} digits; refused").format(at=at, digits=MAX_INT_DIGITS)
            )
        stack.extend(
            (child, depth + 1) for child in ast.iter_child_nodes(node) if not isinstance(child, _NOT_COUNTED)
        )
    return tree


@dataclass(frozen=True)
class _Site:
    """A place where a module-level name is bound or changed."""

    line: int
    col: int
    how: str  # "assigned again", "deleted", "changed by .update()", ...
    where: str  # "" at the top level, else "inside an if block", "inside function f()"
    plain: bool = False  # a top-level NAME = literal that parse() reads itself
    aug: bool = False  # a top-level NAME += ..., which parse() reads itself
    item: bool = False  # a subscript or attribute store (NAME[...] = ...)
    call: bool = False  # a method call on the name (NAME.update(...))


_READ_ONLY_METHODS = frozenset({"get", "keys", "values", "items", "copy", "index", "count"})
_BLOCKS = {
    ast.If: "inside an if block",
    ast.For: "inside a for loop",
    ast.AsyncFor: "inside a for loop",
    ast.While: "inside a while loop",
    ast.Try: "inside a try block",
    ast.With: "inside a with block",
    ast.AsyncWith: "inside a with block",
    ast.Match: "inside a match block",
}
_BODIES = ("body", "orelse", "finalbody", "handlers", "cases")


def _said(words: str) -> str:
    """A site's ``how`` or ``where`` in the user's language (kept English in :class:`_Site`, where the
    code compares them)."""
    fixed = {
        "assigned again": _("assigned again"),
        "assigned": _("assigned"),
        "deleted": _("deleted"),
        "defined again": _("defined again"),
        "defined": _("defined"),
        "imported again": _("imported again"),
        "imported": _("imported"),
        "bound by an except clause": _("bound by an except clause"),
        "changed in place": _("changed in place"),
        "bound by a case pattern": _("bound by a case pattern"),
        "inside an if block": _("inside an if block"),
        "inside a for loop": _("inside a for loop"),
        "inside a while loop": _("inside a while loop"),
        "inside a try block": _("inside a try block"),
        "inside a with block": _("inside a with block"),
        "inside a match block": _("inside a match block"),
        "inside a block": _("inside a block"),
    }
    if words in fixed:
        return fixed[words]
    if m := re.fullmatch(r"changed by \.(\w+)\(\)", words):
        return _("changed by .{method}()").format(method=m[1])
    if m := re.fullmatch(r"inside (function|class) (.+), declared global", words):
        said = _("inside function {name}, declared global") if m[1] == "function" else None
        return (said or _("inside class {name}, declared global")).format(name=m[2])
    return words


def _in(where: str) -> str:
    return _(" ({where})").format(where=_said(where)) if where else ""


def _root_name(node: ast.expr) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _expressions(roots: list[ast.AST]) -> list[ast.AST]:
    """``roots`` and the nodes under them, lambdas and comprehension variables left out (they bind names
    of their own scope)."""
    out: list[ast.AST] = []
    stack = list(roots)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Lambda):
            continue
        out.append(node)
        for child in ast.iter_child_nodes(node):
            if not (isinstance(node, ast.comprehension) and child is node.target):
                stack.append(child)
    return out


def _own_fields(stmt: ast.AST) -> list[ast.AST]:
    """The expressions of one statement, not of the statements nested in it."""
    return [
        value
        for name, field_value in ast.iter_fields(stmt)
        if name not in _BODIES
        for value in (field_value if isinstance(field_value, list) else [field_value])
        if isinstance(value, ast.AST)
    ]


def _module_sites(tree: ast.Module) -> dict[str, list[_Site]]:
    """Every place a module-level name is bound (assigned, imported, deleted, a loop variable...) or
    changed in place (``NAME[...] = ...``, ``NAME.update(...)``), with where it happens."""
    sites: dict[str, list[_Site]] = defaultdict(list)
    stack: list[tuple[ast.AST, str]] = [(stmt, "") for stmt in reversed(tree.body)]
    while stack:
        stmt, where = stack.pop()
        line, col = getattr(stmt, "lineno", 0), getattr(stmt, "col_offset", 0)
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            sites[stmt.name].append(_Site(line, col, "defined again", where))
            _global_sites(stmt, sites)
            continue
        if isinstance(stmt, ast.ExceptHandler) and stmt.name:
            sites[stmt.name].append(_Site(line, col, "bound by an except clause", where))
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            for alias in stmt.names:
                if alias.name != "*":
                    name = alias.asname or alias.name.split(".")[0]
                    sites[name].append(_Site(line, col, "imported again", where))
        if isinstance(stmt, ast.match_case):
            roots = [stmt.pattern, *([stmt.guard] if stmt.guard else [])]
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is None:
            roots = []  # NAME: type binds nothing
        else:
            roots = _own_fields(stmt)
        _expression_sites(stmt, _expressions(roots), where, sites)
        inner = _BLOCKS.get(type(stmt)) or where or "inside a block"
        for body in reversed(_BODIES):
            stack.extend((child, inner) for child in reversed(getattr(stmt, body, None) or []))
    return sites


def _expression_sites(stmt: ast.AST, nodes: list[ast.AST], where: str, sites: dict[str, list[_Site]]) -> None:
    top = not where
    targets = stmt.targets if isinstance(stmt, ast.Assign) else [getattr(stmt, "target", None)]
    plain = {
        id(t) for t in targets if isinstance(t, ast.Name) and isinstance(stmt, (ast.Assign, ast.AnnAssign))
    }
    for node in nodes:
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            how = "deleted" if isinstance(node.ctx, ast.Del) else "assigned again"
            site = _Site(
                node.lineno,
                node.col_offset,
                how,
                where,
                plain=top and id(node) in plain,
                aug=top and isinstance(stmt, ast.AugAssign),
            )
            sites[node.id].append(site)
        elif isinstance(node, (ast.Subscript, ast.Attribute)) and isinstance(node.ctx, (ast.Store, ast.Del)):
            name = _root_name(node)
            if name:
                sites[name].append(_Site(node.lineno, node.col_offset, "changed in place", where, item=True))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            name = _root_name(node.func.value)
            if name and node.func.attr not in _READ_ONLY_METHODS:
                how = f"changed by .{node.func.attr}()"
                sites[name].append(_Site(node.lineno, node.col_offset, how, where, call=True))
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            sites[node.name].append(_Site(node.lineno, node.col_offset, "bound by a case pattern", where))
        elif isinstance(node, ast.MatchMapping) and node.rest:
            sites[node.rest].append(_Site(node.lineno, node.col_offset, "bound by a case pattern", where))


def _global_sites(scope: ast.AST, sites: dict[str, list[_Site]]) -> None:
    """Names a function (or class) declares ``global`` and binds: they change the module's value when
    it runs, whenever that is."""
    declared = {name for node in ast.walk(scope) if isinstance(node, ast.Global) for name in node.names}
    if not declared:
        return
    kind = "class" if isinstance(scope, ast.ClassDef) else "function"
    label = f"inside {kind} {getattr(scope, 'name', '?')}, declared global"
    for node in ast.walk(scope):
        if isinstance(node, ast.Name) and node.id in declared and isinstance(node.ctx, (ast.Store, ast.Del)):
            sites[node.id].append(_Site(node.lineno, node.col_offset, "assigned", label))


def _rebindings(
    tree: ast.Module, names: dict[str, _Binding], set_items: set[tuple[str, int]]
) -> tuple[dict[str, _Binding], dict[str, str]]:
    """Mark each name whose value may be replaced after the assignment the tool reads (a later
    conditional assignment, a loop, an import, a global in a function, NAME[...] = ... the tool does not
    read): editing it would report success while Chatchat used another value. Also returns, for names
    with no plain top-level assignment, where they are bound (a new one must not be added)."""
    sites = _module_sites(tree)
    out: dict[str, _Binding] = {}
    for name, binding in names.items():
        plain = [s for s in sites.get(name, []) if s.plain]
        anchor = max(((s.line, s.col) for s in plain), default=(binding.line, 0))
        mutable = isinstance(binding.value.value, (dict, list))
        later = [
            s
            for s in sites.get(name, [])
            if not s.plain
            and not s.aug
            and not (s.item and not s.where and (name, s.line) in set_items)
            and not (s.call and not mutable)
            and ((s.line, s.col) > anchor or s.where.startswith(("inside function", "inside class")))
        ]
        if later and not binding.problem:
            first = min(later, key=lambda s: (s.line, s.col))
            where = _in(first.where)
            more = _(" (and {n} more)").format(n=len(later) - 1) if len(later) > 1 else ""
            problem = _(
                "{name} is {how} on line {line}{where}{more}, which can override its value on line "
                "{assigned}; edit it by hand"
            ).format(
                name=name,
                how=_said(first.how),
                line=first.line,
                where=where,
                more=more,
                assigned=binding.line,
            )
            binding = _Binding(binding.value, binding.next_line, binding.line, problem)
        out[name] = binding
    elsewhere = {
        name: _("{name} is {how} on line {line}").format(
            name=name, how=_said(found[0].how.replace(" again", "")), line=found[0].line
        )
        + _in(found[0].where)
        for name, found in sites.items()
        if name not in names and found
    }
    return out, elsewhere


def _set_item(reader: _Reader, names: Mapping[str, _Binding], target: cst.Subscript, value: _Value) -> bool:
    """``NAME["key"] = value`` on a dict literal bound to NAME: the key now holds ``value``. True if read."""
    import libcst as cst

    if not isinstance(target.value, cst.Name) or target.value.value not in names or len(target.slice) != 1:
        return False
    index = target.slice[0].slice
    owner = names[target.value.value].value
    if not isinstance(index, cst.Index) or owner.entries is None or not isinstance(owner.value, dict):
        return False
    key = reader.build(index.value)
    if isinstance(key.value, str):
        owner.entries[key.value] = value
        owner.value[key.value] = value.value
        return True
    return False


class _Reader:
    def __init__(self, text: str, positions: Mapping[cst.CSTNode, CodeRange]) -> None:
        self.text = text
        self.positions = positions
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.quotes: Counter[str] = Counter()
        self.duplicates: list[str] = []  # duplicate keys in dict literals, as messages

    def line_start(self, line: int) -> int:
        return self.starts[line - 1] if line <= len(self.starts) else len(self.text)

    def offset(self, pos: CodePosition) -> int:
        return self.starts[pos.line - 1] + pos.column

    def build(self, node: cst.BaseExpression) -> _Value:
        import libcst as cst

        rng = self.positions[node]
        start, end = self.offset(rng.start), self.offset(rng.end)
        src = self.text[start:end]
        out = _Value(NonLiteral(src), rng.start.line, start, end, multiline=rng.start.line != rng.end.line)
        if isinstance(node, cst.SimpleString):
            if "b" not in node.prefix.lower():
                out.value = ast.literal_eval(f"({src})")
                out.style = _Style(node.quote, node.prefix)
                out.reason = _("it is a multi-line string") if out.multiline else None
                self.quotes[node.quote[0]] += 1
        elif isinstance(node, cst.ConcatenatedString):
            if _plain_concat(node):
                out.value = ast.literal_eval(f"({src})")
                out.reason = _("it is an implicitly concatenated string")
        elif isinstance(node, (cst.Integer, cst.Float)) or (
            isinstance(node, cst.UnaryOperation)
            and isinstance(node.operator, (cst.Minus, cst.Plus))
            and isinstance(node.expression, (cst.Integer, cst.Float))
        ):
            out.value = ast.literal_eval(f"({src})")
        elif isinstance(node, cst.Name) and node.value in ("True", "False", "None"):
            out.value = ast.literal_eval(node.value)
        elif isinstance(node, cst.Dict):
            self._build_dict(node, out)
        elif isinstance(node, (cst.List, cst.Tuple)) and all(
            isinstance(e, cst.Element) for e in node.elements
        ):
            out.items = [self.build(e.value) for e in node.elements]
            values = [item.value for item in out.items]
            out.value = values if isinstance(node, cst.List) else tuple(values)
        return out

    def _build_dict(self, node: cst.Dict, out: _Value) -> None:
        import libcst as cst

        entries: dict[str, _Value] = {}
        key_style = _Style()
        for element in node.elements:
            if not isinstance(element, cst.DictElement):
                return
            key = self.build(element.key)
            if not isinstance(key.value, str):
                return
            key_style = key.style or key_style
            if key.value in entries:  # Python keeps the last; which one a user means is unclear
                self.duplicates.append(
                    _("the key {key!r} twice (lines {first} and {second})").format(
                        key=key.value, first=entries[key.value].line, second=key.line
                    )
                )
            entries.pop(key.value, None)
            entries[key.value] = self.build(element.value)
        last_end, comma_end, indent, colon = out.start, None, None, ("", " ")
        if node.elements:
            last = node.elements[-1]
            assert isinstance(last, cst.DictElement)
            last_end = self.offset(self.positions[last].end)
            if isinstance(last.comma, cst.Comma):
                comma_end = self.text.index(",", last_end) + 1
            key_start = self.offset(self.positions[last.key].start)
            before = self.text[self.starts[self.positions[last.key].start.line - 1] : key_start]
            indent = before if not before.strip() else None
            colon = (_ws(last.whitespace_before_colon, ""), _ws(last.whitespace_after_colon, " "))
        out.layout = _DictLayout(
            lbrace_end=self.offset(self.positions[node.lbrace].start) + 1,
            rbrace=self.offset(self.positions[node.rbrace].end) - 1,
            count=len(node.elements),
            last_end=last_end,
            last_comma_end=comma_end,
            last_indent=indent,
            key_style=key_style,
            colon=colon,
        )
        out.entries = entries
        out.value = {k: v.value for k, v in entries.items()}


def _ws(node: cst.BaseParenthesizableWhitespace, default: str) -> str:
    import libcst as cst

    return node.value if isinstance(node, cst.SimpleWhitespace) else default


def _plain_concat(node: cst.BaseExpression) -> bool:
    import libcst as cst

    if isinstance(node, cst.ConcatenatedString):
        return _plain_concat(node.left) and _plain_concat(node.right)
    return isinstance(node, cst.SimpleString) and "b" not in node.prefix.lower()


# --- lookup -------------------------------------------------------------------------------------------------


def _lookup(doc: Document, path: ValuePath, strict: bool = False) -> list[_Value] | None:
    """The chain of values from the top-level name down to ``path``; None if any part is absent.

    EditError when a Match picks two entries, or (``strict``) when it picks none.
    """
    if not path or not isinstance(path[0], str) or path[0] not in doc._names:
        return None
    chain = [doc._names[path[0]].value]
    for i, seg in enumerate(path[1:], start=1):
        cur = chain[-1]
        if isinstance(seg, str):
            if cur.entries is None or seg not in cur.entries:
                return None
            chain.append(cur.entries[seg])
            continue
        hits = doc._index.matches(cur, seg)
        if len(hits) > 1:
            lines = ", ".join(str(h.line) for h in hits)
            raise EditError(
                f"{format_path(path[: i + 1])}: {seg} matches {len(hits)} entries (lines {lines})"
            )
        if not hits:
            if strict and cur.items is not None:
                raise EditError(
                    _("{path}: {segment} matches nothing").format(
                        path=format_path(path[: i + 1]), segment=seg
                    )
                )
            return None
        chain.append(hits[0])
    return chain


# --- editing ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Edit:
    start: int
    end: int
    text: str


def set_values(
    text: str,
    changes: Mapping[ValuePath, object],
    *,
    replace_nonliteral: Collection[ValuePath] = (),
    create: bool = True,
    comments: Mapping[ValuePath, str] = {},
    after: Mapping[ValuePath, str] = {},
    parsed: object = None,
) -> str:
    """Set each path to its value, splicing only the changed values (or adding whole lines for new keys).

    A missing final key is added when ``create`` (to its dict literal, before the closing brace, in the
    style of its siblings; a missing top-level name after ``after[path]`` or the last top-level assignment),
    with ``comments[path]`` as comment lines above it (not for keys added to a one-line dict).
    ``parsed``: the Document ``parse(text)`` gave, to spare parsing the text again (ignored unless it
    holds exactly ``text``). All the changes are spliced in one pass; the result is parsed once to check it.
    """
    doc = parsed if isinstance(parsed, Document) and parsed.text == text else parse(text)
    paths = list(changes)
    for a in paths:
        for b in paths:
            if a != b and b[: len(a)] == a:
                raise EditError(
                    _("{path}: overlaps the change of {other}").format(
                        path=format_path(b), other=format_path(a)
                    )
                )
    edits: list[_Edit] = []
    creates: dict[ValuePath, list[tuple[str, object]]] = {}
    for path, new in changes.items():
        where = format_path(path)
        binding = doc._names.get(str(path[0])) if path else None
        if binding is not None and binding.problem:  # the problem names the name
            raise EditError(binding.problem if len(path) == 1 else f"{where}: {binding.problem}")
        if binding is None and path and str(path[0]) in doc._elsewhere:
            raise EditError(
                _("{where}: cannot add it: {why}; edit it by hand").format(
                    where=where, why=doc._elsewhere[str(path[0])]
                )
            )
        chain = _lookup(doc, path, strict=True)
        if chain is not None:
            edits += _replace(doc, where, chain, new, path in replace_nonliteral)
            continue
        if not create:
            raise EditError(_("{where}: not found (creating new keys is off)").format(where=where))
        last = path[-1] if path else None
        if not isinstance(last, str):
            raise EditError(
                _("{path}: only a missing dict key or name can be added").format(path=where or "(empty path)")
            )
        if len(path) == 1:
            edits.append(_create_name(doc, last, new, comments.get(path), after.get(path)))
            continue
        parent = _lookup(doc, path[:-1])
        if parent is None:
            raise EditError(
                _("{where}: its parent {path} does not exist").format(
                    where=where, path=format_path(path[:-1])
                )
            )
        if parent[-1].layout is None:
            raise EditError(
                _("{where}: its parent {path} is {parent}, not a dict").format(
                    where=where, path=format_path(path[:-1]), parent=_kind(parent[-1])
                )
            )
        creates.setdefault(path[:-1], []).append((last, new))
    for parent_path, keys in creates.items():
        parent = _lookup(doc, parent_path)
        assert parent is not None
        notes = {k: comments.get((*parent_path, k)) for k, _ in keys}
        edits += _create_keys(doc, format_path(parent_path), parent[-1], keys, notes)
    if not edits:
        return text
    result = _splice(text, edits)
    _verify(doc, result, changes)
    return result


def _kind(value: _Value) -> str:
    if isinstance(value.value, NonLiteral):
        return _("an expression ({source})").format(source=value.value.brief())
    return f"a {type(value.value).__name__}"


def _replace(doc: Document, where: str, chain: list[_Value], new: object, allow: bool) -> list[_Edit]:
    target = chain[-1]
    old = target.value
    context = _context_style(doc, chain[-2] if len(chain) > 1 else None)
    if same(old, new, numbers_by_value=True):
        return []
    if isinstance(old, NonLiteral):
        if target.reason:
            raise EditError(
                _("{where} cannot be edited in place: {reason}").format(where=where, reason=target.reason)
            )
        if not allow:
            raise EditError(
                _("{where} is an expression ({brief}), not a literal; pass replace to overwrite it").format(
                    where=where, brief=old.brief()
                )
            )
        return [_Edit(target.start, target.end, _render(where, new, context, _indent_of(doc, target)))]
    if target.reason:
        raise EditError(
            _("{where} cannot be edited in place: {reason}").format(where=where, reason=target.reason)
        )
    if isinstance(old, dict) or isinstance(new, dict):
        raise EditError(
            _("{where}: cannot replace a dict as a whole; set its keys one by one").format(where=where)
        )
    if isinstance(old, (list, tuple)):
        if not isinstance(new, (list, tuple)):
            raise EditError(_("{where}: holds a list; give a list").format(where=where))
        items = target.items or []
        if len(items) == len(new):
            edits: list[_Edit] = []
            for i, (item, value) in enumerate(zip(items, new, strict=True)):
                edits += _replace(doc, f"{where}[{i}]", [*chain, item], value, False)
            return edits
        if target.multiline:
            raise EditError(
                _("{where}: cannot resize a list written over several lines; edit it by hand").format(
                    where=where
                )
            )
        style = _context_style(doc, target)
        if isinstance(old, list):
            return [_Edit(target.start, target.end, _render(where, list(new), style, ""))]
        # a tuple's range excludes its parentheses: write the items only
        inner = ", ".join(_render(where, v, style, None) for v in new) + ("," if len(new) == 1 else "")
        return [_Edit(target.start, target.end, inner)]
    style = target.style or context
    return [_Edit(target.start, target.end, _render(where, _coerce(old, new), style, ""))]


def _coerce(old: object, new: object) -> object:
    """Keep the file's number type: 300.0 stays a float; a whole float written over an int is an int."""
    if isinstance(old, bool) or isinstance(new, bool):
        return new
    if isinstance(old, float) and isinstance(new, int):
        return float(new)
    if isinstance(old, int) and isinstance(new, float) and new.is_integer():
        return int(new)
    return new


def _context_style(doc: Document, container: _Value | None) -> _Style:
    """Quotes for a new string: those of a string nearby in the same container, else the file's usual ones."""
    if container is not None:
        for sibling in reversed([*(container.entries or {}).values(), *(container.items or [])]):
            if sibling.style is not None:
                return _Style(sibling.style.quote[0], "")
        if container.layout is not None:
            return _Style(container.layout.key_style.quote[0], "")
    return _Style(doc._quote, "")


def _indent_of(doc: Document, value: _Value) -> str:
    line_start = doc.text.rfind("\n", 0, value.start) + 1
    line = doc.text[line_start : value.start]
    return line[: len(line) - len(line.lstrip())]


def _create_name(doc: Document, name: str, new: object, comment: str | None, anchor: str | None) -> _Edit:
    if anchor is not None:
        if anchor not in doc._names:
            raise EditError(
                _("{name}: cannot add it after {anchor}: {anchor} is not assigned at the top level").format(
                    name=name, anchor=anchor
                )
            )
        pos = doc._names[anchor].next_line
    elif doc._names:
        pos = max(b.next_line for b in doc._names.values())
    else:
        pos = len(doc.text)
    text = doc.text
    lead = "\n" if pos > 0 and not text[:pos].endswith("\n") else ""
    blank = "\n" if text[:pos].strip() else ""
    body = f"{name} = {_render(name, new, _Style(doc._quote), '')}\n"
    return _Edit(pos, pos, lead + blank + _comment_lines(comment, "") + body)


def _create_keys(
    doc: Document,
    where: str,
    parent: _Value,
    keys: list[tuple[str, object]],
    notes: Mapping[str, str | None],
) -> list[_Edit]:
    layout = parent.layout
    assert layout is not None
    text = doc.text
    key_style = _Style(layout.key_style.quote[0], "")
    value_style = _context_style(doc, parent)
    before_colon, after_colon = layout.colon
    line_start = text.rfind("\n", 0, layout.rbrace) + 1
    brace_alone = not text[line_start : layout.rbrace].strip()
    if brace_alone and (layout.count == 0 or layout.last_indent is not None):
        brace_indent = text[line_start : layout.rbrace]
        indent = layout.last_indent if layout.last_indent is not None else brace_indent + _UNIT
        trailing = layout.count == 0 or layout.last_comma_end is not None
        lines = []
        for i, (key, new) in enumerate(keys):
            value = _render(f"{where}.{key}", new, value_style, indent)
            comma = "," if trailing or i < len(keys) - 1 else ""
            entry = (
                f"{indent}{_render(where, key, key_style, '')}{before_colon}:{after_colon}{value}{comma}\n"
            )
            lines.append(_comment_lines(notes.get(key), indent) + entry)
        at = _above_blank_lines(text, line_start)  # before the brace, above blank lines before it
        edits = [_Edit(at, at, "".join(lines))]
        if layout.count and layout.last_comma_end is None:
            edits.append(_Edit(layout.last_end, layout.last_end, ","))
        return edits
    parts = [
        _render(where, k, key_style, "")
        + f"{before_colon}:{after_colon}"
        + _render(f"{where}.{k}", v, value_style, None)
        for k, v in keys
    ]
    if layout.count == 0:
        return [_Edit(layout.lbrace_end, layout.lbrace_end, ", ".join(parts))]
    if layout.last_comma_end is not None:
        return [_Edit(layout.last_comma_end, layout.last_comma_end, "".join(f" {p}," for p in parts))]
    return [_Edit(layout.last_end, layout.last_end, "".join(f", {p}" for p in parts))]


def _above_blank_lines(text: str, line_start: int) -> int:
    """The start of the run of blank lines that ends at ``line_start`` (``line_start`` if there is none)."""
    at = line_start
    while at > 0:
        prev = text.rfind("\n", 0, at - 1) + 1
        if text[prev:at].strip():
            break
        at = prev
    return at


def _comment_lines(comment: str | None, indent: str) -> str:
    if not comment:
        return ""
    out = []
    for line in comment.split("\n"):
        stripped = line.strip()
        out.append(indent + (stripped if stripped.startswith("#") else f"# {stripped}".rstrip()) + "\n")
    return "".join(out)


def _splice(text: str, edits: list[_Edit]) -> str:
    try:
        return splice(text, [(e.start, e.end, e.text) for e in edits])
    except Overlap:
        raise EditError(_("two changes in the same edit overlap")) from None


# --- rendering ----------------------------------------------------------------------------------------------


def _render(where: str, value: object, style: _Style, indent: str | None) -> str:
    """Python source for ``value``; dicts span lines under ``indent`` (one line when ``indent`` is None)."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, NonLiteral):  # written back verbatim, e.g. DEFAULT_BIND_HOST
        return value.source
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise EditError(
                _("{where}: {value!r} cannot be written as a Python literal").format(where=where, value=value)
            )
        return float.__repr__(value)
    if isinstance(value, str):
        return _render_str(where, value, style)
    flat = _Style(style.quote[0], "")
    if isinstance(value, (list, tuple)):
        inner = ", ".join(_render(where, v, flat, None) for v in value)
        if isinstance(value, list):
            return f"[{inner}]"
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise EditError(_("{where}: dict keys must be strings").format(where=where))
        pairs = [
            (
                _render_str(where, k, flat),
                _render(f"{where}.{k}", v, flat, None if indent is None else indent + _UNIT),
            )
            for k, v in value.items()
        ]
        if indent is None or not pairs:
            return "{" + ", ".join(f"{k}: {v}" for k, v in pairs) + "}"
        body = "".join(f"{indent}{_UNIT}{k}: {v},\n" for k, v in pairs)
        return "{\n" + body + indent + "}"
    raise EditError(
        _("{where}: cannot write a value of type {type}").format(where=where, type=type(value).__name__)
    )


def _render_str(where: str, value: str, style: _Style) -> str:
    quote, prefix = style.quote, style.prefix
    if "r" in prefix.lower():
        raw_ok = quote[0] not in value and not value.endswith("\\") and value.isprintable()
        if raw_ok:
            return prefix + quote + value + quote
        prefix = prefix.replace("r", "").replace("R", "")
    out = []
    for ch in value:
        if ch == "\\" or ch == quote[0]:
            out.append("\\" + ch)
        elif ch in "\n\r\t":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}[ch])
        elif not ch.isprintable():
            code = ord(ch)
            out.append(
                f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
            )
        else:
            out.append(ch)
    rendered = prefix + quote + "".join(out) + quote
    if ast.literal_eval(rendered) != value:  # pragma: no cover - a bug in the escaping above
        raise EditError(
            _("{where}: cannot write {value!r} as a string literal").format(where=where, value=value)
        )
    return rendered


# --- checking -----------------------------------------------------------------------------------------------


def _verify(before: Document, text: str, changes: Mapping[ValuePath, object]) -> None:
    try:
        after = parse(text)
    except EditError as exc:  # pragma: no cover - means a bug in the splicing
        raise EditError(
            _("the edit would break the file ({error}); nothing written").format(error=exc)
        ) from None
    expected: dict[str, object] = copy.deepcopy(before.data)
    for path, value in changes.items():
        _assign(expected, path, value)
    problem = first_difference(expected, after.data, numbers_by_value=True)
    if problem:
        raise EditError(
            _("the edit was refused because it would change more than asked: {problem}").format(
                problem=problem
            )
        )


def _assign(data: dict[str, object], path: ValuePath, value: object) -> None:
    cur: object = data
    for seg in path[:-1]:
        if isinstance(seg, Match):
            assert isinstance(cur, (list, tuple))
            cur = next(e for e in cur if isinstance(e, dict) and e.get(seg.key) == seg.value)
        else:
            assert isinstance(cur, dict)
            cur = cur[seg]
    assert isinstance(cur, dict) and isinstance(path[-1], str)
    cur[path[-1]] = value
