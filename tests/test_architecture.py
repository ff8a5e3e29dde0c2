"""The pipeline's packages depend one way: no package import cycle (lazy imports inside functions count)."""

from __future__ import annotations

import ast
from pathlib import Path

TUNER = Path(__file__).resolve().parent.parent / "tuner"


def _edges() -> dict[str, set[str]]:
    """Package → the packages it imports (``tuner.x`` → ``x``; top-level modules are their own package)."""
    edges: dict[str, set[str]] = {}
    for path in TUNER.rglob("*.py"):
        parts = path.relative_to(TUNER).with_suffix("").parts
        here = parts[0]
        tree = ast.parse(path.read_text(encoding="utf-8"))
        typing_only = {
            id(n)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for n in ast.walk(node)
        }
        for node in ast.walk(tree):
            if id(node) in typing_only or not isinstance(node, ast.ImportFrom) or not node.module:
                continue
            names = node.module.split(".")
            if names[0] != "tuner":
                continue
            targets = [names[1]] if len(names) > 1 else [a.name for a in node.names]
            edges.setdefault(here, set()).update(t for t in targets if t != here)
    return edges


def test_no_package_import_cycle() -> None:
    edges = _edges()

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            node = todo.pop()
            for nxt in edges.get(node, ()):
                if nxt == goal:
                    return True
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return False

    cycles = sorted((a, b) for a, targets in edges.items() for b in targets if reaches(b, a))
    assert not cycles, f"package import cycles: {cycles}"
