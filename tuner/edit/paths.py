"""Addresses of values inside a settings file, shared by the YAML and the Python editors.

A path is a tuple of segments. A ``str`` segment is a mapping key (a YAML key, a dict-literal key, or the
top-level assignment name for Python). A :class:`Match` segment picks the one list entry whose ``key`` equals
``value``: ``("MODEL_PLATFORMS", Match("platform_name", "ollama"), "api_base_url")``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias


@dataclass(frozen=True)
class Match:
    key: str
    value: str

    def __str__(self) -> str:
        return f"[{self.key}={self.value}]"


Segment: TypeAlias = "str | Match"
ValuePath: TypeAlias = "tuple[str | Match, ...]"


def format_path(path: ValuePath) -> str:
    """E.g. ``MODEL_PLATFORMS[platform_name=ollama].api_base_url``, ``ONLINE_LLM_MODEL.openai-api.url``."""
    out = ""
    for seg in path:
        if isinstance(seg, Match):
            out += str(seg)
        else:
            out += ("." if out else "") + seg
    return out


@dataclass(frozen=True)
class Found:
    """A value read from a file: its Python value (``None`` also for YAML null), 1-based line, literal-ness.

    ``literal`` is False when the source holds an expression or a name (``DEFAULT_BIND_HOST``); then
    ``value`` is the source text of that expression. ``problem`` says why the value must not be edited
    in place even though it can be read (a Python name assigned again later, e.g. inside an ``if``).
    """

    path: ValuePath
    value: object
    line: int
    literal: bool = True
    problem: str | None = None


class EditError(ValueError):
    """An edit that cannot be made safely (missing key, non-literal value, ambiguous match, ...)."""
