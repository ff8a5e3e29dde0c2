"""The command line: parse, call the core, render. Heavy modules are imported inside the commands."""

from __future__ import annotations

import sys

import typer

from tuner.cli.app import app
from tuner.errors import UserError


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; a UserError becomes one line on stderr and exit 1, never a traceback.

    Everything printed passes through :class:`tuner.redact.RedactingStream`: secrets masked, and no
    ``UnicodeEncodeError`` on a console or redirect whose encoding lacks a character.
    """
    from tuner.redact import RedactingStream

    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = RedactingStream(saved[0]), RedactingStream(saved[1])
    try:
        return _main(argv)
    finally:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        sys.stdout, sys.stderr = saved


def one_line(message: str) -> str:
    """An error as one line: newlines and other control characters (from a path or a value) escaped."""
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in message)


def _main(argv: list[str] | None) -> int:
    try:
        result = app(args=argv, prog_name="chatchat-tune", standalone_mode=False)
    except UserError as err:
        print(f"chatchat-tune: error: {one_line(str(err))}", file=sys.stderr)
        return 1
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        print("chatchat-tune: interrupted", file=sys.stderr)
        return 130
    except typer.TyperException as exc:  # usage errors: typer prints them the way it always does
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            print(f"chatchat-tune: error: {exc.format_message()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("chatchat-tune: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # a file system error no command turned into a UserError: still one line
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"chatchat-tune: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    except (RecursionError, MemoryError) as exc:  # a hostile input no reader caught: still one line
        print(
            f"chatchat-tune: error: input too deeply nested or too large ({type(exc).__name__})",
            file=sys.stderr,
        )
        return 1
    return result if isinstance(result, int) else 0
