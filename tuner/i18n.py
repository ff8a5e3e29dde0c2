"""Messages in the user's language: ``_("...")`` marks a message a user reads to act.

This is the one import every module uses for user-facing text. Knob names, finding codes and JSON keys are
never passed through it. Placeholders are named (``_("{path} is not a file").format(path=...)``) so a
translation can move them.

The catalogs are standard gettext: domain ``chatchat_tune``, ``tuner/locale/<lang>/LC_MESSAGES/``, the
``.po`` in git and the ``.mo`` compiled when the package is built (``setup.py``; ``scripts/i18n``). The
language, decided once, on the first message:

1. ``set_language()`` — the global ``--lang`` option (``tuner.cli.main`` calls it before the app is imported,
   so help texts are translated too);
2. ``CHATCHAT_TUNE_LANG``;
3. the first of ``LC_ALL``, ``LC_MESSAGES``, ``LANG`` that is set, else ``LANGUAGE``;
4. on Windows, the user's UI language.

``zh``, ``zh_CN``, ``zh_Hans``, ``zh_SG`` (any encoding or modifier) mean Simplified Chinese; anything else
English. Loading imports only :mod:`gettext`; a missing catalog means English, never an error.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gettext import NullTranslations

DOMAIN = "chatchat_tune"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
CATALOG = {"zh": "zh_CN"}  # language -> the catalog's folder under LOCALE_DIR
_SIMPLIFIED = {"zh", "zh_cn", "zh_hans", "zh_sg", "zh_hans_cn", "zh_hans_sg"}
_LOCALE_VARIABLES = ("LC_ALL", "LC_MESSAGES", "LANG")
# Windows LANGIDs of Simplified Chinese: zh-CN, zh-SG, zh-Hans, zh (neutral).
_WINDOWS_SIMPLIFIED = {0x0804, 0x1004, 0x0004, 0x7804}


class Lang(str, Enum):
    """What ``--lang`` accepts."""

    zh = "zh"
    en = "en"


_chosen: str | None = None  # set by set_language(); wins over the environment
_translations: NullTranslations | None = None


def normalise(value: str) -> str | None:
    """``"zh"`` or ``"en"`` for a language or locale name (``zh_CN.UTF-8``, ``zh-Hans``, ``C``); ``None``
    for an empty value, which decides nothing."""
    name = value.strip().split(":")[0].split(".")[0].split("@")[0].replace("-", "_").lower()
    if not name:
        return None
    return "zh" if name in _SIMPLIFIED else "en"


def _windows_ui_language() -> str | None:
    if sys.platform != "win32":
        return None
    import ctypes

    try:
        langid = int(ctypes.windll.kernel32.GetUserDefaultUILanguage())  # type: ignore[attr-defined,unused-ignore]
    except (AttributeError, OSError):
        return None
    return "zh" if langid in _WINDOWS_SIMPLIFIED else "en"


def detect(environ: Mapping[str, str] | None = None) -> str:
    """The language the environment asks for (steps 2-4 above): ``"zh"`` or ``"en"``."""
    env = os.environ if environ is None else environ
    for variable in ("CHATCHAT_TUNE_LANG", *_LOCALE_VARIABLES, "LANGUAGE"):
        found = normalise(env.get(variable, ""))
        if found is not None:
            return found
    return _windows_ui_language() or "en"


def language() -> str:
    """The language messages are shown in: ``"zh"`` or ``"en"``."""
    return _chosen if _chosen is not None else detect()


def tag() -> str:
    """The language as a BCP 47 tag, for ``<html lang=...>``: ``"zh-CN"`` or ``"en"``."""
    return "zh-CN" if language() == "zh" else "en"


def set_language(value: str | None) -> None:
    """Show messages in ``value`` (``zh``/``en`` or a locale name); ``None`` goes back to the environment.

    Messages already turned into text (help texts built at import) keep their language: call this first.
    """
    global _chosen, _translations
    _chosen = normalise(value) if value is not None else None
    _translations = None


def _load() -> NullTranslations:
    global _translations
    if _translations is None:
        import gettext

        folder = CATALOG.get(language())
        found: NullTranslations | None = None
        if folder is not None:
            found = _compiled(folder)
        _translations = found if found is not None else gettext.NullTranslations()
    return _translations


def _compiled(folder: str) -> NullTranslations | None:
    """The catalog for ``folder``: the built ``.mo``; in a source tree whose ``.po`` is newer (edited, or
    the build step did not run), the ``.po`` compiled in memory with Babel when it is installed."""
    import gettext

    messages = LOCALE_DIR / folder / "LC_MESSAGES"
    mo, po = messages / f"{DOMAIN}.mo", messages / f"{DOMAIN}.po"
    try:
        mo_time = mo.stat().st_mtime if mo.is_file() else None
        po_time = po.stat().st_mtime if po.is_file() else None
    except OSError:
        return None
    if po_time is not None and (mo_time is None or po_time > mo_time):
        from tuner.i18n_catalog import compile_po

        data = compile_po(po)  # None without Babel: then the .mo as built, if there is one
        if data is not None:
            import io

            return gettext.GNUTranslations(io.BytesIO(data))
    if mo_time is None:
        return None
    with mo.open("rb") as fp:
        return gettext.GNUTranslations(fp)


def _(message: str) -> str:
    """The translation of ``message`` in the current language (English: the message itself)."""
    return _load().gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural form of a message for ``n``, translated."""
    return _load().ngettext(singular, plural, n)
