"""typer's own words on a help screen and in its errors, marked so the catalogs carry them.

typer looks these up with the standard library's ``gettext``; :func:`tuner.cli.app.command` routes that
lookup to :func:`tuner.i18n._` when the language is not English. ``Usage:`` and the help option's text are
click's, set by :mod:`tuner.helptext`. Nothing calls :func:`words`; it exists so that extraction sees them.
"""

from __future__ import annotations

from tuner.i18n import _


def words() -> tuple[str, ...]:
    return (
        _("Options"),
        _("Commands"),
        _("Arguments"),
        _("required"),
        _("default: {default}"),
        _("env var: {var}"),
        _("Missing command."),
        _("No such command {name!r}."),
        _("Aborted!"),
        _("Usage: "),
        _("Show this message and exit."),
    )
