"""Rendering for several users: the box's size (--slo) and the winner re-measured through Chatchat."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text

from tuner.cli.render import out
from tuner.i18n import _

if TYPE_CHECKING:
    from tuner.search.run import Searched


def users_outcome(searched: Searched) -> None:
    if searched.sizing is not None:
        out.print(Text(_("sizing: ") + searched.sizing.line()))
        for step in searched.sizing.steps:
            out.print(
                Text(
                    _("  {load:g}: p95 {p95:.2f} s, {errors} failed").format(
                        load=step.load, p95=step.p95, errors=step.errors
                    )
                )
            )
    if searched.through is not None:
        out.print(Text(_("the winner, by path:")))
        for line in searched.through.lines():
            out.print(Text("  " + line))
