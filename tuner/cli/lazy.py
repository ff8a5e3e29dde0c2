"""A click group that builds a command only when it runs or its help is asked for.

Typer turns every command's signature into click parameters up front, which is most of what `--help`
costs after the interpreter itself. Here the root lists the commands from a table (name → "module:function"):
the root's `--help` imports the command modules (cheap: typer and ``tuner.cli.options`` only) for their
docstrings and builds none of them; `chatchat-tune bench ...` builds `bench` alone.
"""

from __future__ import annotations

import importlib
from typing import Any, ClassVar

import typer
from typer.core import TyperGroup

from tuner.helptext import epilog, plain_metavars

LazyTable = dict[str, tuple[str, str | None]]  # name → ("module:attribute", group help or None)


def _load(target: str) -> Any:
    module, _colon, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


def build(name: str, target: str, group_help: str | None) -> Any:
    """The click command for ``name``: a function becomes a command (with its examples), a Typer a group."""
    from tuner.i18n import _

    found = _load(target)
    if isinstance(found, typer.Typer):
        found.info.help = _(group_help) if group_help else found.info.help
        group = typer.main.get_command(found)
        group.name = name
        return plain_metavars(group)
    single = typer.Typer(rich_markup_mode=None, add_completion=False)
    single.command(name=name, epilog=epilog(name), help=docstring_help(found))(found)
    return plain_metavars(typer.main.get_command(single))


def short_help(target: str, group_help: str | None) -> str:
    """The first paragraph of a command's docstring (a group's help), without building the command."""
    from tuner.i18n import _

    found = _load(target)
    if group_help:
        text = _(group_help)
    else:
        text = str(found.info.help or "") if isinstance(found, typer.Typer) else docstring_help(found)
    return " ".join(text.strip().split("\n\n", 1)[0].split())  # the first paragraph


def docstring_help(function: Any) -> str:
    """A command's docstring as its help, translated (the catalog key is the docstring, dedented)."""
    import inspect

    from tuner.i18n import _

    doc = inspect.cleandoc(function.__doc__ or "")
    return _(doc) if doc else ""


class LazyGroup(TyperGroup):
    table: ClassVar[LazyTable] = {}

    def list_commands(self, ctx: Any) -> list[str]:
        return [*self.table, *(n for n in super().list_commands(ctx) if n not in self.table)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.commands and cmd_name in self.table:
            target, group_help = self.table[cmd_name]
            self.commands[cmd_name] = build(cmd_name, target, group_help)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """The command list of `--help` from the docstrings alone (no command is built)."""
        from tuner.i18n import _

        rows = [(name, short_help(*self.table[name])) for name in self.table]
        if rows:
            with formatter.section(_("Commands")):
                formatter.write_dl(rows)  # wrapped at spaces, never cut


def lazy_group(table: LazyTable) -> type[LazyGroup]:
    """A LazyGroup class bound to ``table`` (typer instantiates the class it is given)."""
    return type("TunerGroup", (LazyGroup,), {"table": table})
