"""Text that stays readable at 80 columns and in pipes: no word, path, URL, ``file:line`` or knob name is
ever split in the middle.

Rules: a table is printed as a table when its natural width fits the console (every column ``no_wrap``);
otherwise each row becomes one line, wrapped at spaces with a hanging indent. ``--wide`` prints tables at
their natural width whatever the console. Prose wraps at spaces with a hanging indent
(:func:`tuner.helptext.wrap`). The console's width is the terminal's, else ``$COLUMNS``, else 80.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from tuner.helptext import wrap

HANGING = "    "


def table(*columns: str, title: str | None = None, right: Sequence[str] = ()) -> Table:
    """A borderless table whose cells are never folded or cut (``no_wrap``, no ellipsis)."""
    t = Table(title=title, title_justify="left", box=None, pad_edge=False)
    for col in columns:
        t.add_column(col, no_wrap=True, overflow="ignore", justify="right" if col in right else "left")
    return t


def natural_width(console: Console, t: Table) -> int:
    wide = Console(width=100_000, file=console.file, color_system=None)
    return wide.measure(t).maximum


def print_table(console: Console, t: Table, rows: Sequence[Sequence[str]], *, wide: bool = False) -> None:
    """``t`` when it fits (or ``wide``), else one wrapped line per row (``rows``: the cells as text)."""
    width = natural_width(console, t)
    if wide or width <= console.width:
        console.print(t, width=max(width, 1) if wide else None, no_wrap=True, crop=False)
        return
    if t.title:
        prose(console, Text(str(t.title), style="italic"))
    prose(console, " · ".join(str(c.header) for c in t.columns), style="dim")  # what the cells are
    for row in rows:
        prose(console, "  ".join(c for c in row if c), indent="", hanging=HANGING)


def prose(
    console: Console, text: str | Text, *, indent: str = "", hanging: str | None = None, style: str = ""
) -> None:
    """``text`` wrapped at spaces to the console's width; continuation lines indented by ``hanging``
    (default: ``indent`` plus four spaces). A styled ``Text`` keeps its styles."""
    rich_text = text if isinstance(text, Text) else Text(text, style=style)
    plain = rich_text.plain
    more = indent + HANGING if hanging is None else hanging
    cursor = 0
    for n, line in enumerate(wrap(plain, console.width - max(len(indent), len(more)), "", "")):
        start = plain.find(line, cursor)
        if start < 0:  # cannot happen (wrap only drops spaces); print the line as it is
            console.print(Text(line), no_wrap=True, crop=False)
            continue
        cursor = start + len(line)
        lead = indent if n == 0 else more
        console.print(Text(lead) + rich_text[start:cursor], no_wrap=True, crop=False)
