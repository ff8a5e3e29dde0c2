"""Secrets are never shown in full: api keys and the passwords inside proxy URLs.

Three layers, so that a new output cannot leak by forgetting a call:

- :func:`mask` turns one secret into its shown form (``sk-…wxyz``; short ones become ``****``).
- :func:`register` records the secrets an install holds (its files and the environment overrides), found by
  :func:`secrets_in` when the install is read; :func:`redact` masks every registered secret, every URL
  password and every OpenAI-style key in a text.
- The CLI wraps stdout and stderr in :class:`RedactingStream`, and every file the tool writes for the user
  (plans, bench output, reports) passes through :func:`redact`. The settings files themselves get the real
  values: only what is shown or saved beside them is masked.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import TextIO

PLACEHOLDERS = frozenset({"", "EMPTY", "empty", "none", "None", "null", "ollama", "xxx", "sk-xxx"})
"""Values that stand in for "no key" in Chatchat's shipped settings: shown as they are."""

_NAMES = r"(?:api_?key|secret(?:_?key)?|password|passwd|access_token|auth_token)"
_SECRET_KEYS = re.compile(_NAMES + "$", re.IGNORECASE)
# scheme://user:password@host — the password is masked, the rest kept so the URL stays recognisable
_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@'\"]*:)(?P<pw>[^\s@/'\"]+)(?=@)")
# `api_key: value`, `"api_key": "value"`, `api_key = "value"` (a settings line, a diff line, JSON)
_KEYED = re.compile(
    r"(?P<head>\b[A-Za-z_]*" + _NAMES + r"[\"']?\s*[:=]\s*[\"']?)"
    r"(?P<value>[^\s\"',}#]+)",
    re.IGNORECASE,
)
# OpenAI-style keys, wherever they appear
_KEY_SHAPE = re.compile(r"\b(?:sk|pk|ak)-[A-Za-z0-9_-]{12,}\b")
_SHORTEST_SECRET = 4  # shorter values are not hunted for in free text (they would mask ordinary words)

_registered: set[str] = set()


def mask(secret: str) -> str:
    """The shown form of a secret: placeholders as they are; a long key keeps 3 leading and 4 trailing
    characters (enough to tell two keys apart); anything else is ``****``."""
    if secret in PLACEHOLDERS:
        return secret
    if len(secret) >= 20:
        return f"{secret[:3]}…{secret[-4:]}"
    return "****"


def mask_url(url: str) -> str:
    """``http://user:pass@host:3128`` → ``http://user:****@host:3128``."""
    return _URL_PASSWORD.sub(lambda m: m["head"] + "****", url)


def is_secret_key(key: str) -> bool:
    return bool(_SECRET_KEYS.search(key))


def secrets_in(data: object, *, key: str = "") -> Iterator[str]:
    """Every secret inside parsed settings: values of keys named like api_key/secret/token/password,
    and passwords inside URLs in any string value."""
    if isinstance(data, Mapping):
        for k, v in data.items():
            yield from secrets_in(v, key=str(k))
    elif isinstance(data, list | tuple):
        for v in data:
            yield from secrets_in(v, key=key)
    elif isinstance(data, str):
        if is_secret_key(key) and data not in PLACEHOLDERS:
            yield data
        for m in _URL_PASSWORD.finditer(data):
            yield m["pw"]


def register(values: Iterable[str]) -> None:
    """Remember secrets so that every later :func:`redact` masks them."""
    for value in values:
        if len(value) >= _SHORTEST_SECRET and value not in PLACEHOLDERS:
            _registered.add(value)


def forget_all() -> None:
    """Drop the registered secrets (tests; the demo between installs)."""
    _registered.clear()


def redact(text: str) -> str:
    """``text`` with every registered secret, URL password and key-shaped token masked."""
    if not text:
        return text
    for secret in sorted(_registered, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, mask(secret))
    text = mask_url(text)
    text = _KEYED.sub(lambda m: m["head"] + _mask_once(m["value"]), text)
    return _KEY_SHAPE.sub(lambda m: mask(m[0]), text)


def _mask_once(value: str) -> str:
    return value if "…" in value or value == "****" else mask(value)


class RedactingStream(io.TextIOBase):
    """A text stream that masks secrets and never fails to encode.

    Output is held until a newline (a secret split across two writes is still masked), then written to the
    underlying stream; characters its encoding cannot represent become ``?`` instead of raising
    ``UnicodeEncodeError`` (a Western Windows code page, a redirect with a narrow encoding).
    """

    def __init__(self, inner: TextIO) -> None:
        super().__init__()
        self._inner = inner
        self._pending = ""
        self._encoding = getattr(inner, "encoding", None) or "utf-8"

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._encoding

    @property
    def inner(self) -> TextIO:
        return self._inner

    def isatty(self) -> bool:
        return self._inner.isatty()

    def fileno(self) -> int:
        return self._inner.fileno()

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        self._pending += s
        if "\n" in self._pending:
            head, _, self._pending = self._pending.rpartition("\n")
            self._emit(head + "\n")
        return len(s)

    def flush(self) -> None:
        if self._pending:
            self._emit(self._pending)
            self._pending = ""
        self._inner.flush()

    def _emit(self, text: str) -> None:
        text = redact(text)
        try:
            self._inner.write(text)
        except UnicodeEncodeError:
            safe = text.encode(self._encoding, errors="replace").decode(self._encoding, errors="replace")
            self._inner.write(safe)
