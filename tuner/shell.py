"""Commands the tool suggests, quoted so they can be pasted as they are into the user's shell.

POSIX shells (bash, zsh) get ``shlex`` quoting: zsh treats ``ollama_url[ollama]=...`` as a glob, and a root
with a space or Chinese characters must stay one word. On Windows the form is PowerShell's: single quotes,
a quote inside doubled. Plain words stay unquoted, so ``chatchat-tune apply --set api_timeout=120`` reads
as a person would type it.
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

PROG = "chatchat-tune"
_PLAIN = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")  # safe unquoted in bash, zsh and PowerShell alike


def quote(arg: str | Path, *, windows: bool | None = None) -> str:
    text = str(arg)
    if text and _PLAIN.fullmatch(text) and not text.startswith(("@", "=")):  # zsh expands a leading "="
        return text
    if sys.platform == "win32" if windows is None else windows:
        return "'" + text.replace("'", "''") + "'"
    return shlex.quote(text)


def command(*args: str | Path, windows: bool | None = None) -> str:
    """``chatchat-tune ARGS...`` as one line to paste."""
    return " ".join([PROG, *(quote(a, windows=windows) for a in args)])


def set_command(setting: str, *, windows: bool | None = None) -> str:
    """``chatchat-tune apply --set 'KNOB[entry]=VALUE'``."""
    return command("apply", "--set", setting, windows=windows)
