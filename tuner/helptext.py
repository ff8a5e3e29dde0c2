"""What `--help` shows beyond the options: an "Examples:" epilog per command, and metavars without type tags.

Click rewraps epilog paragraphs; a paragraph that starts with ``\\b`` is kept line by line, so each
example stays one line that can be pasted. Typer's metavars are type tags (``<str>``, ``<list[path]>``);
:func:`plain_metavars` names the value instead (``--url URL``) and keeps the choices (``[p95|multi]``).
"""

from __future__ import annotations

import re
import textwrap
import unicodedata
from collections.abc import Sequence
from typing import Any

from typer._click.formatting import HelpFormatter

from tuner.i18n import _

HELP_OPTIONS = ("--help", "-h")
_KIND_METAVARS: dict[Any, str] = {int: "N", float: "NUMBER"}

EXAMPLES: dict[str, tuple[str, ...]] = {
    "inspect": (
        "chatchat-tune inspect --root ~/chatchat",
        "chatchat-tune inspect --json | jq '.knobs[].name'",
    ),
    "apply": (
        "chatchat-tune apply --set api_timeout=120 --dry-run",
        "chatchat-tune apply --plan .chatchat-tune/plan.json",
    ),
    "rollback": ("chatchat-tune rollback --dry-run", "chatchat-tune rollback"),
    "demo": ("chatchat-tune demo", "chatchat-tune demo --trials 10"),
    "bench": (
        "chatchat-tune bench -n 20 --path native",
        "chatchat-tune bench --url http://127.0.0.1:11434 --model qwen2:7b --json",
    ),
    "doctor": ("chatchat-tune doctor", "chatchat-tune doctor --idle-gap 10m --json"),
    "search": ("chatchat-tune search --trials 30 --idle-gap 10m", "chatchat-tune search --objective multi"),
    "report": ("chatchat-tune report -o report.html",),
    "warm": ("chatchat-tune warm --keep-alive 30m", "chatchat-tune warm --json"),
    "watch": ("chatchat-tune watch --interval 60s", "chatchat-tune watch --once --json"),
    "lab serve": (
        "chatchat-tune lab serve --profile cpu-7b",
        "OLLAMA_HOST=127.0.0.1:11500 chatchat-tune lab serve -v",
    ),
    "lab profiles": ("chatchat-tune lab profiles", "chatchat-tune lab profiles --json"),
}


def epilog(command: str) -> str:
    """The "Examples:" block for ``command`` (e.g. ``"bench"``, ``"lab serve"``)."""
    lines = "\n".join(f"  {line}" for line in EXAMPLES[command])
    return "\b\n" + _("Examples:") + "\n" + lines


def plain_metavars(command: Any) -> Any:
    """Give every option that takes a value a metavar without a type tag, in ``command`` and below it.

    Also: a flag whose default is ``None`` (typer's ``--install-completion``, ``--help``) gets ``False``, so
    typer does not load its value coercion (pydantic, tens of milliseconds) to read a flag nobody gave."""
    ctx = command.context_class(command, help_option_names=list(HELP_OPTIONS))
    help_option = command.get_help_option(ctx)  # built once and cached by the command
    if help_option is not None and help_option.default is None:
        help_option.default = False
    if help_option is not None:
        help_option.help = _("Show this message and exit.")
    for param in getattr(command, "params", ()):
        if getattr(param, "is_flag", False) and param.default is None:
            param.default = False
        if getattr(param, "is_flag", False) or getattr(param, "metavar", "") is not None:
            continue
        if param.param_type_name != "option" or not param.name:
            continue
        descriptor = getattr(param, "type_descriptor", None)
        choices = getattr(descriptor, "choices", None)
        kind = getattr(descriptor, "annotation", None)
        if choices:
            param.metavar = "[" + "|".join(str(getattr(c, "value", c)) for c in choices) + "]"
        elif kind in _KIND_METAVARS:
            param.metavar = _KIND_METAVARS[kind]
        else:
            param.metavar = param.name.upper().removesuffix("_").replace("_", "-")
    base = command.context_class
    if not issubclass(base, _WholeWordsContext):
        command.context_class = type("WholeWordsContext", (_WholeWordsContext, base), {})
    for sub in getattr(command, "commands", {}).values():
        plain_metavars(sub)
    return command


def wrap(text: str, width: int, indent: str = "", hanging: str = "") -> list[str]:
    """``text`` wrapped at spaces only: a word, a path, a URL, ``--dry-run`` or ``file:line`` is never
    split (a token longer than the line stays whole on its own line); continuation lines get ``hanging``.

    Chinese (and other CJK) text has no spaces: it may break between any two of its characters, as Chinese
    typesetting does, but never before a closing mark (，。）…) nor after an opening one, and a Latin token
    inside it stays whole. Widths are display columns (a CJK character takes two)."""
    width = max(width, 20)
    if not _CJK.search(text):
        return textwrap.wrap(
            text,
            width,
            initial_indent=indent,
            subsequent_indent=hanging,
            break_long_words=False,
            break_on_hyphens=False,
        ) or [indent.rstrip()]
    lines: list[str] = []
    line, used = indent, _columns(indent)
    fresh = True  # nothing on this line yet but its indent
    for word in text.split():
        for n, piece in enumerate(_pieces(word)):
            gap = " " if n == 0 and not fresh else ""
            need = _columns(gap + piece)
            if not fresh and used + need > width:
                lines.append(line)
                line, used, gap = hanging, _columns(hanging), ""
                need = _columns(piece)
            line += gap + piece
            used += need
            fresh = False
    lines.append(line)
    return lines


_CJK_CLASS = r"\u2e80-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef"  # CJK scripts and full-width forms
_CJK = re.compile(f"[{_CJK_CLASS}]")
_RUNS = re.compile(f"[{_CJK_CLASS}]|[^{_CJK_CLASS}]+")  # one CJK character, or a run of anything else
_NO_LINE_START = set("，。、；：！？）》」』】〉”’…,.;:!?)]}%")
_NO_LINE_END = set("（《「『【〈“‘([{")


def _columns(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pieces(word: str) -> list[str]:
    """The places a space-free ``word`` may break: around each CJK character, never inside a Latin run,
    never before a closing mark or after an opening one."""
    pieces: list[str] = []
    for run in re.findall(
        r"[\u2e80-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef]|[^\u2e80-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef]+",
        word,
    ):
        if pieces and (run[0] in _NO_LINE_START or pieces[-1][-1] in _NO_LINE_END):
            pieces[-1] += run
        else:
            pieces.append(run)
    return pieces


class WholeWordsFormatter(HelpFormatter):
    """Click's help layout, wrapped at spaces only (click's wrapper breaks after hyphens and inside long
    words: ``ROOT/.chatchat-`` / ``tune/plan.json``)."""

    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        super().write_usage(prog, args, _("Usage: ") if prefix is None else prefix)

    def write_text(self, text: str) -> None:
        indent = " " * self.current_indent
        for n, para in enumerate(text.split("\n\n")):
            if n:
                self.write("\n")
            if para.startswith("\b"):  # click's mark for a block kept line by line
                for line in para.splitlines()[1:]:
                    self.write(f"{indent}{line}\n")
                continue
            joined = " ".join(para.split())
            self.write("\n".join(wrap(joined, self.width, indent, indent)) + "\n")

    def write_dl(self, rows: Sequence[tuple[str, str]], col_max: int = 30, col_spacing: int = 2) -> None:
        rows = list(rows)
        if not rows:
            return
        first = min(max(len(term) for term, _h in rows), col_max)
        at = self.current_indent + first + col_spacing
        for term, text in rows:
            self.write(" " * self.current_indent + term)
            if not text:
                self.write("\n")
                continue
            if len(term) <= first:
                self.write(" " * (first - len(term) + col_spacing))
            else:
                self.write("\n" + " " * at)
            lines = wrap(" ".join(text.split()), self.width - at)
            self.write(lines[0] + "\n")
            for line in lines[1:]:
                self.write(" " * at + line + "\n")


class _WholeWordsContext:
    formatter_class = WholeWordsFormatter
