"""The command line: parse, call the core, render. Heavy modules are imported inside the commands."""

from __future__ import annotations

import sys

import typer

from tuner.errors import UserError

# Exit codes, the same for every command (docs/architecture.md, "Exit codes").
OK = 0  # success; nothing pending; doctor: nothing above info
ERROR = 1  # a user error, a file or the server: one line on stderr
PENDING = 2  # `apply --dry-run` / `rollback --dry-run`: changes would be made
FINDINGS = 3  # `doctor`: a finding at warn or error severity; `watch --once`: an alert condition holds
USAGE = 64  # a mistyped flag, a bad value, a missing argument (BSD sysexits EX_USAGE); never 2
INTERRUPTED = 130  # Ctrl-C

_depth = 0  # the demo runs steps through main(): only the outermost call says "interrupted"


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; a UserError becomes one line on stderr and exit 1, never a traceback.

    Everything printed passes through :class:`tuner.redact.RedactingStream`: secrets masked, and no
    ``UnicodeEncodeError`` on a console or redirect whose encoding lacks a character.
    """
    from tuner.redact import RedactingStream

    global _depth
    _set_language(sys.argv[1:] if argv is None else argv)
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = RedactingStream(saved[0]), RedactingStream(saved[1])
    _depth += 1
    try:
        code = _main(argv)
        if code == INTERRUPTED and _depth == 1:
            print("chatchat-tune: interrupted", file=sys.stderr)
        return code
    except KeyboardInterrupt:  # between commands (the demo) or while printing the last line
        if _depth == 1:
            print("chatchat-tune: interrupted", file=sys.stderr)
            return INTERRUPTED
        raise
    finally:
        _depth -= 1
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        sys.stdout, sys.stderr = saved


def one_line(message: str) -> str:
    """An error as one line: newlines and other control characters (from a path or a value) escaped."""
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in message)


def _set_language(argv: list[str]) -> None:
    """Honour the global ``--lang`` before the app is imported, so its help texts are translated too.

    Only the options before the command name count, as for the parser; a bad value is left to it.
    """
    for i, arg in enumerate(argv):
        if not arg.startswith("-"):
            return
        value = arg.partition("=")[2] if arg.startswith("--lang=") else None
        if arg == "--lang" and i + 1 < len(argv):
            value = argv[i + 1]
        if value in ("zh", "en"):
            from tuner.i18n import set_language

            set_language(value)
            return


def _main(argv: list[str] | None) -> int:
    """The command's exit code. Typer turns Ctrl-C inside a command into ``Exit(130)``, returned here
    (``standalone_mode=False``); :func:`main` prints the one "interrupted" line for every 130."""
    from tuner.cli.app import command

    try:
        result = command().main(args=argv, prog_name="chatchat-tune", standalone_mode=False)
    except UserError as err:
        print(f"chatchat-tune: error: {one_line(str(err))}", file=sys.stderr)
        return ERROR
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:  # EOF at a prompt
        return INTERRUPTED
    except typer.TyperException as exc:  # usage errors: typer prints them the way it always does
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            print(f"chatchat-tune: error: {exc.format_message()}", file=sys.stderr)
        # click gives every usage error (unknown option or command, bad value, missing value, no
        # command) exit 2, which a CI check reads as `apply --dry-run`'s "changes pending": 64 instead.
        return USAGE if exc.exit_code == 2 else exc.exit_code
    except KeyboardInterrupt:
        return INTERRUPTED
    except OSError as exc:  # a file system error no command turned into a UserError: still one line
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"chatchat-tune: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return ERROR
    except (RecursionError, MemoryError) as exc:  # a hostile input no reader caught: still one line
        print(
            f"chatchat-tune: error: input too deeply nested or too large ({type(exc).__name__})",
            file=sys.stderr,
        )
        return ERROR
    return result if isinstance(result, int) else OK
