"""Why requests failed, in the server's own words, short and safe to print. Pure.

A server explains a refusal in its body: Ollama natively ``{"error": "model 'x' not found"}``, on /v1
``{"error": {"message": ...}}``, FastAPI (Chatchat) ``{"detail": ...}``, a proxy an HTML page. The reason
shown is one line of plain text (control characters and markup removed), at most ``REASON_CHARS`` long.
"""

from __future__ import annotations

import html
import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from tuner.i18n import _, ngettext

REASON_CHARS = 200
BODY_BYTES = 8192  # of an error body, read at most this much (a hostile server may send gigabytes)

# What a failure without a server message means (the kinds runner.Sample.error takes).
KIND_MEANING = {
    "connect": _("connection refused or unreachable"),
    "connect_timeout": _("no connection within the timeout"),
    "timeout": _("no answer within the timeout"),
    "pool_timeout": _("no free connection in the pool within the timeout"),
    "dropped": _("the server closed the connection mid-answer"),
    "incomplete": _("the answer ended before the protocol said it was complete"),
    "deadline": _("the answer took longer than the run allows"),
    "proxy": _("the proxy refused the request"),
}

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069]+")
_TAG = re.compile(r"<[^>]*>")
_TITLE = re.compile(r"<title[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
_DROP = re.compile(r"<(head|script|style)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_HTML = re.compile(r"<(html|head|body|title|h1|p|div|pre|!doctype)\b", re.IGNORECASE)


def one_line(text: str, limit: int = REASON_CHARS) -> str:
    """``text`` on one line: control characters (ANSI escapes included) and bidi marks become spaces,
    runs of spaces collapse, and past ``limit`` characters it ends with an ellipsis."""
    flat = " ".join(_CONTROL.sub(" ", _ANSI.sub("", text)).split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _message(value: object) -> str | None:
    """The human part of a JSON error value: a string, or an object's message/error/detail."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        for key in ("message", "error", "detail", "msg"):
            found = _message(value.get(key))
            if found:
                return found
    if isinstance(value, list) and value:
        return _message(value[0])
    return None


def server_reason(body: bytes | str, limit: int = REASON_CHARS) -> str:
    """The reason a server gave in an error body (JSON, HTML or text), as one short line."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    stripped = text.strip()
    if stripped.startswith(("{", "[")):
        try:
            found = _message(json.loads(stripped))
        except ValueError:
            found = None
        if found:
            return one_line(found, limit)
    if "<" in stripped and _HTML.search(stripped):
        title = _TITLE.search(stripped)
        page = html.unescape(_TAG.sub(" ", _DROP.sub(" ", stripped)))  # the head (and its title) dropped
        if not page.strip() and title:
            page = html.unescape(_TAG.sub(" ", title.group(1)))
        return one_line(page, limit) or _("(an HTML page without text)")
    return one_line(stripped, limit) or _("(empty body)")


class _Failed(Protocol):
    @property
    def error(self) -> str | None: ...
    @property
    def detail(self) -> str | None: ...


@dataclass(frozen=True)
class Reason:
    kind: str  # the sample's error kind: http_404, connect, dropped, ...
    reason: str  # the server's words, or what the kind means
    count: int


def reason_of(kind: str, detail: str | None) -> str:
    return one_line(detail) if detail and detail.strip() else KIND_MEANING.get(kind, kind)


def failure_reasons(samples: Iterable[_Failed]) -> tuple[Reason, ...]:
    """One entry per distinct (kind, reason) among failed samples, most frequent first."""
    counts = Counter((s.error, reason_of(s.error, s.detail)) for s in samples if s.error)
    return tuple(Reason(kind, reason, n) for (kind, reason), n in counts.most_common())


def describe(reasons: tuple[Reason, ...], limit: int = 1) -> str:
    """``http_404: model 'x' not found`` (the most frequent first), for a one-line error."""
    shown = "; ".join(f"{r.kind}: {r.reason}" for r in reasons[:limit])
    more = len(reasons) - limit
    if more <= 0:
        return shown
    return shown + ngettext(" (and {n} other reason)", " (and {n} other reasons)", more).format(n=more)
