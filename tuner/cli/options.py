"""What the commands share on the command line: the common options, and durations and keep_alive checked
with one-line errors. Commands import this, never ``tuner.cli.app`` (which imports them)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from tuner.errors import UserError
from tuner.i18n import _

RootOpt = Annotated[
    Path | None,
    typer.Option("--root", help=_("Chatchat root (default: $CHATCHAT_ROOT, else the working directory).")),
]
# Fixed choices as Literal types: typer shows them in --help, completes them, and refuses any other value
# as a usage error (exit 64) before the command runs.
PathChoice = Literal["native", "openai", "chatchat", "kb", "search"]
GapChoice = Literal["exponential", "fixed", "uniform"]
ObjectiveChoice = Literal["p95", "multi"]

JsonOpt = Annotated[bool, typer.Option("--json", help=_("Print JSON instead of tables."))]
WideOpt = Annotated[
    bool,
    typer.Option("--wide", "-v", help=_("Every detail, tables at their full width (default: what fits).")),
]
PythonOpt = Annotated[
    Path | None,
    typer.Option("--python", help=_("Python of Chatchat's environment (to read or patch its code).")),
]


def duration_option(text: str, what: str, *, allow_zero: bool = False) -> float:
    """``90``, ``90s``, ``10m`` → seconds; finite, and > 0 (>= 0 with ``allow_zero``)."""
    from tuner.knobs.values import BadValue, duration_seconds

    try:
        value = duration_seconds(text, what)
    except BadValue as exc:
        raise UserError(str(exc)) from None
    if value < 0 or (value == 0 and not allow_zero):
        raise UserError(f"{what} must be {'>= 0' if allow_zero else '> 0'} seconds, not {text!r}")
    return value


def keep_alive_option(text: str) -> str:
    """A keep_alive as OLLAMA_KEEP_ALIVE takes it (``30m``, ``300``, ``-1``)."""
    from tuner.knobs.values import KEEP_ALIVE, BadValue

    try:
        return str(KEEP_ALIVE.parse(text))
    except BadValue as exc:
        raise UserError(f"--keep-alive: {exc}") from None


def no_install_url(root: Path | None) -> str | None:
    """Ollama's root from ``$OLLAMA_HOST`` (else 127.0.0.1:11434), as the ``ollama`` CLI would use it, when no
    install is named (no ``--root``, no ``$CHATCHAT_ROOT``) and the working directory is none; else ``None``
    (the install names the URL)."""
    import os

    from tuner.install.detect import detect
    from tuner.ollama_env import ollama_host

    if root is not None or os.environ.get("CHATCHAT_ROOT"):
        return None
    try:
        detect(Path.cwd())
    except UserError:
        return ollama_host(os.environ).client_url
    return None


def require_extra(what: str, extra: str, *modules: str) -> None:
    """Refuse at once, in one line with the ``pip install`` that fixes it, a command whose extra is not
    installed (before anything is measured or started). Nothing is imported: only looked up."""
    import importlib.util

    for module in modules:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise UserError(
                _("{what} needs {module}: pip install 'chatchat-tune[{extra}]'").format(
                    what=what, module=module, extra=extra
                )
            )
