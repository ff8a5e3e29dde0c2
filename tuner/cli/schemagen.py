"""JSON Schema from the typed models of what the tool prints with ``--json``.

The models are frozen dataclasses (``tuner.cli.jsonmodels`` and the stage modules they name); this turns
their type hints into JSON Schema (draft 2020-12), so the schema is never written by hand and cannot drift:
``python -m tuner.cli.schemagen docs/schemas`` writes them, ``--check`` says which differ (see
tests/cli/test_json_schemas.py).
"""

from __future__ import annotations

import dataclasses
import json
import sys
import types
import typing
from pathlib import Path
from typing import Any

DRAFT = "https://json-schema.org/draft/2020-12/schema"


def schema_of(model: type, title: str) -> dict[str, Any]:
    """The JSON Schema of dataclass ``model``; nested dataclasses become ``$defs``."""
    defs: dict[str, Any] = {}
    root = _object(model, defs)
    return {"$schema": DRAFT, "title": title, **root, "$defs": dict(sorted(defs.items()))}


def _object(model: type, defs: dict[str, Any]) -> dict[str, Any]:
    hints = typing.get_type_hints(model)
    props = {f.name: _type(hints[f.name], defs) for f in dataclasses.fields(model)}
    return {
        "type": "object",
        "description": (model.__doc__ or "").strip().split("\n\n")[0],
        "properties": props,
        "required": list(props),
        "additionalProperties": False,
    }


def _type(hint: Any, defs: dict[str, Any]) -> dict[str, Any]:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return {}
    if hint is type(None):
        return {"type": "null"}
    if hint is bool:
        return {"type": "boolean"}
    if hint is int:
        return {"type": "integer"}
    if hint is float:
        return {"type": "number"}
    if hint is str:
        return {"type": "string"}
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin in (typing.Union, types.UnionType):
        return {"anyOf": [_type(a, defs) for a in args]}
    if origin in (tuple, list):
        item = args[0] if args else Any
        return {"type": "array", "items": _type(item, defs)}
    if origin is dict:
        return {"type": "object", "additionalProperties": _type(args[1], defs)}
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        if hint.__name__ not in defs:
            defs[hint.__name__] = {}  # a placeholder first: a model that refers to itself
            defs[hint.__name__] = _object(hint, defs)
        return {"$ref": f"#/$defs/{hint.__name__}"}
    raise TypeError(f"no JSON Schema for {hint!r}")


def schemas() -> dict[str, dict[str, Any]]:
    """``{command: schema}`` for every command that prints ``--json``."""
    from tuner.cli.jsonmodels import MODELS

    return {name: schema_of(model, f"chatchat-tune {name} --json") for name, model in MODELS.items()}


def file_name(command: str) -> str:
    return command.replace(" ", "-") + ".schema.json"


def text(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    """``python -m tuner.cli.schemagen [--check] DIR``: write (or compare) one schema file per command."""
    check = "--check" in argv
    folder = Path(next((a for a in argv if not a.startswith("--")), "docs/schemas"))
    stale = []
    for name, schema in schemas().items():
        path = folder / file_name(name)
        wanted = text(schema)
        if check:
            if not path.is_file() or path.read_text(encoding="utf-8") != wanted:
                stale.append(str(path))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(wanted, encoding="utf-8", newline="\n")
    for name in stale:
        print(f"out of date: {name} (run python -m tuner.cli.schemagen)", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
