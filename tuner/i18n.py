"""Messages in the user's language: ``_("...")`` marks a message a user reads to act.

This is the one import every module uses for user-facing text. Until the catalogs land it returns the
English text unchanged; knob names, finding codes and JSON keys are never passed through it.
Placeholders are named (``_("{path} is not a file").format(path=...)``) so a translation can move them.
"""

from __future__ import annotations


def _(message: str) -> str:
    """The translation of ``message`` in the current language (English: the message itself)."""
    return message


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural form of a message for ``n``, translated."""
    return singular if n == 1 else plural
