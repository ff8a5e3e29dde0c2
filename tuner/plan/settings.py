"""A requested setting, ``KNOB=VALUE`` or ``KNOB[entry]=VALUE``, parsed and checked against its knob."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from tuner.errors import UserError
from tuner.i18n import _
from tuner.knobs.catalogue import BY_NAME, KNOBS, Knob
from tuner.knobs.values import BadValue, short

_SETTING = re.compile(
    r"^\s*(?P<knob>[A-Za-z_][A-Za-z0-9_]*)\s*(\[(?P<entry>[^\]]+)\])?\s*=(?P<value>.*)$", re.S
)


@dataclass(frozen=True)
class Setting:
    knob: str
    entry: str | None
    value: object

    def __str__(self) -> str:
        entry = f"[{self.entry}]" if self.entry else ""
        return f"{self.knob}{entry}={self.value}"


def _by_any_name() -> dict[str, Knob]:
    """Every name a knob answers to, lower-cased: its own and the names users see in their files."""
    return {name.lower(): knob for knob in KNOBS for name in (knob.name, *knob.aliases)}


_BY_ANY_NAME = _by_any_name()


def knob_named(name: str) -> Knob:
    """The knob called ``name`` or one of its aliases (``HTTPX_DEFAULT_TIMEOUT`` → api_timeout), any case."""
    knob = _BY_ANY_NAME.get(name.lower())
    if knob is None:
        close = difflib.get_close_matches(name.lower()[:100], _BY_ANY_NAME, n=6, cutoff=0.6)
        suggested = list(dict.fromkeys(_BY_ANY_NAME[c].name for c in close))[:3]
        if suggested:
            raise UserError(
                _("unknown knob {name}; did you mean {suggested}?").format(
                    name=short(name), suggested=" or ".join(suggested)
                )
            )
        raise UserError(
            _("unknown knob {name}; knobs: {knobs}").format(name=short(name), knobs=", ".join(BY_NAME))
        )
    return knob


def _entry(knob: Knob, entry: str | None) -> str | None:
    """An entry name as typed: printable, one line (it is matched against names, never written)."""
    if entry is not None and (len(entry) > 200 or not entry.isprintable()):
        raise UserError(
            _("{name}[{entry}]: not an entry name (printable, at most 200 characters)").format(
                name=knob.name, entry=short(entry)
            )
        )
    return entry


def parse_setting(text: str) -> Setting:
    """``api_timeout=120`` / ``ollama_url[ollama]=http://127.0.0.1:11434/v1`` → Setting (value checked)."""
    m = _SETTING.match(text)
    if m is None:
        raise UserError(_("{value} is not KNOB=VALUE or KNOB[entry]=VALUE").format(value=short(text)))
    knob = knob_named(m["knob"])
    entry = _entry(knob, m["entry"].strip() if m["entry"] else None)
    if entry and not knob.per_entry:
        raise UserError(_("{name} has no entries; write {name}=VALUE").format(name=knob.name))
    try:
        value = knob.type.parse(m["value"].strip())
    except BadValue as exc:
        raise UserError(
            _("{name}: {error} (expected {expected})").format(
                name=knob.name, error=exc, expected=knob.type.name
            )
        ) from None
    return Setting(knob.name, entry, value)


def checked(knob_name: str, entry: str | None, value: object) -> Setting:
    """A setting read from a plan file: same checks as on the command line."""
    if not isinstance(knob_name, str) or not (entry is None or isinstance(entry, str)):  # from JSON
        raise UserError(
            _("{knob_name}[{entry}]: not a knob name and entry").format(
                knob_name=short(knob_name), entry=short(entry)
            )
        )
    knob = knob_named(knob_name)
    entry = _entry(knob, entry)
    if entry and not knob.per_entry:
        raise UserError(_("{name} has no entries").format(name=knob.name))
    try:
        return Setting(knob.name, entry, knob.type.check(value))
    except BadValue as exc:
        raise UserError(
            _("{name}: {error} (expected {expected})").format(
                name=knob.name, error=exc, expected=knob.type.name
            )
        ) from None
