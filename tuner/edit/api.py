"""The shape both editors (pyconfig for 0.2.x, yamlconfig for 0.3.1) share, and how to pick one."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Protocol

from tuner.edit.paths import Found, ValuePath


class Document(Protocol):
    @property
    def data(self) -> dict[str, object]: ...

    def find(self, path: ValuePath) -> Found | None:
        """The value at ``path`` or None; EditError when a Match picks several entries. Costs the
        path's depth, not the number of entries: each document indexes its collections on first use."""
        ...


class Editor(Protocol):
    def parse(self, text: str) -> Document: ...

    def set_values(
        self,
        text: str,
        changes: Mapping[ValuePath, object],
        *,
        replace_nonliteral: Collection[ValuePath] = (),
        create: bool = True,
        comments: Mapping[ValuePath, str] = {},
        after: Mapping[ValuePath, str] = {},
        parsed: Document | None = None,
    ) -> str:
        """Set each path to its value in one pass over one parse of ``text`` (``parsed``, when it is
        this editor's Document of exactly ``text``, else parsed here), then check the result with one
        more parse: exactly the requested values changed, or EditError and nothing is returned."""
        ...


def editor_for(kind: str) -> Editor:
    """The editor module for a file kind, imported only when needed (libcst is slow to import)."""
    if kind == "python":
        from tuner.edit import pyconfig

        return pyconfig
    if kind == "yaml":
        from tuner.edit import yamlconfig

        return yamlconfig
    raise ValueError(f"no editor for {kind!r} files")
