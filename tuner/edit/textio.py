"""Decode a settings file's bytes to text and back, keeping its BOM and line endings exactly."""

from __future__ import annotations

import codecs
from collections.abc import Sequence
from dataclasses import dataclass

from tuner.edit.paths import EditError
from tuner.i18n import _


@dataclass(frozen=True)
class TextFormat:
    bom: bool
    newline: str  # "\n" or "\r\n"


def decode(data: bytes) -> tuple[str, TextFormat]:
    """Bytes → (text with ``\\n`` line endings, format).

    Raises EditError for NUL bytes, non-UTF-8 or mixed line endings."""
    bom = data.startswith(codecs.BOM_UTF8)
    if bom:
        data = data[len(codecs.BOM_UTF8) :]
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise EditError(
            _("line {line}: holds a NUL byte (byte {nul}); not a text settings file").format(
                line=line, nul=nul
            )
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EditError(_("not UTF-8 (byte {start})").format(start=exc.start)) from None
    crlf = text.count("\r\n")
    lf = text.count("\n") - crlf
    if crlf and lf:
        raise EditError(
            _("mixed line endings ({crlf} CRLF, {lf} LF); normalise the file first").format(crlf=crlf, lf=lf)
        )
    if "\r" in text.replace("\r\n", ""):
        raise EditError(_("bare CR line endings are not supported"))
    newline = "\r\n" if crlf else "\n"
    return text.replace("\r\n", "\n"), TextFormat(bom=bom, newline=newline)


def encode(text: str, fmt: TextFormat) -> bytes:
    body = text.replace("\n", fmt.newline).encode("utf-8")
    return (codecs.BOM_UTF8 + body) if fmt.bom else body


class Overlap(ValueError):
    """Two spans of one :func:`splice` overlap; ``index`` is the later one's position in the input."""

    def __init__(self, index: int) -> None:
        super().__init__(f"span {index} overlaps another")
        self.index = index


def splice(text: str, spans: Sequence[tuple[int, int, str]]) -> str:
    """``text`` with each ``(start, end, new)`` replaced, all positions in the original text: the one text
    splicing of both editors. Spans come in any order; insertions at one position keep their order."""
    ordered = sorted(range(len(spans)), key=lambda i: (spans[i][0], i))
    out, pos = [], 0
    for i in ordered:
        start, end, new = spans[i]
        if start < pos:
            raise Overlap(i)
        out.append(text[pos:start])
        out.append(new)
        pos = end
    out.append(text[pos:])
    return "".join(out)
