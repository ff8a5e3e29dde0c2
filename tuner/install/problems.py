"""What is wrong with an install's model entries as Chatchat will read them, each with its fix. Pure.

Seen in users' posted configs: a URL without a scheme or without ``/v1``, ``0.0.0.0`` as a destination
(a bind address, not somewhere to connect to), an empty ``api_key`` (0.3.1.3's settings loader refuses the
file), a hand-made entry whose URL sits under another key (``api_url``), and keys at the top level of a
platform list that belong inside an entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from tuner.i18n import _
from tuner.shell import set_command

if TYPE_CHECKING:
    from tuner.install.entries import Entry
    from tuner.install.files import LoadedInstall

OTHER_URL_KEYS = ("api_url", "base_url", "openai_api_base", "url", "host")
_ENTRY_KEYS = ("platform_name", "platform_type", "api_base_url", "api_key", "llm_models")


@dataclass(frozen=True, kw_only=True)
class Problem:
    entry: str | None
    what: str
    fix: str

    def __str__(self) -> str:
        where = f"{self.entry}: " if self.entry else ""
        return f"{where}{self.what}; fix: {self.fix}"


def _url_problems(e: Entry, url_key: str) -> list[Problem]:
    url = e.url
    if not url:
        other = next((k for k in OTHER_URL_KEYS if isinstance(e.data.get(k), str)), None)
        if other is not None and e.ollama:
            return [
                Problem(
                    entry=e.name,
                    what=_(
                        "its URL is under {other!r}, which Chatchat does not read for this entry (it reads "
                        "{key!r}); chatchat-tune reports it as it is and will not add a routing key"
                    ).format(other=other, key=url_key),
                    fix=_("rename {other} to {key} by hand if this entry should reach Ollama").format(
                        other=other, key=url_key
                    ),
                )
            ]
        return []
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return [
            Problem(
                entry=e.name,
                what=_("{key} {url!r} is not a valid URL").format(key=url_key, url=url),
                fix=_("correct it"),
            )
        ]
    suggestion = set_command(f"ollama_url[{e.name}]=http://127.0.0.1:11434/v1")
    out = []
    if parts.scheme not in ("http", "https") or not host:
        out.append(
            Problem(
                entry=e.name,
                what=_("{key} {url!r} has no http:// scheme").format(key=url_key, url=url),
                fix=suggestion,
            )
        )
    elif host in ("0.0.0.0", "::"):
        out.append(
            Problem(
                entry=e.name,
                what=_("{key} {url!r} connects to {host}, a listen-on-all address, not a destination").format(
                    key=url_key, url=url, host=host
                ),
                fix=suggestion,
            )
        )
    if e.ollama and host and not parts.path.rstrip("/").endswith("/v1"):
        out.append(
            Problem(
                entry=e.name,
                what=_(
                    "{key} {url!r} lacks /v1: Chatchat calls Ollama's OpenAI-compatible API under /v1"
                ).format(key=url_key, url=url),
                fix=set_command(f"ollama_url[{e.name}]={url.rstrip('/')}/v1"),
            )
        )
    return out


def entry_problems(loaded: LoadedInstall) -> tuple[Problem, ...]:
    spec = loaded.layout.entries
    if spec is None:
        return ()
    out: list[Problem] = []
    for e in loaded.entries:
        out += _url_problems(e, spec.url_key)
        if spec.keyed_by is not None and e.ollama and e.data.get("api_key") == "":
            out.append(
                Problem(
                    entry=e.name,
                    what=_("api_key is empty: Chatchat 0.3.1.3 refuses to load the settings then"),
                    fix=_("write api_key: EMPTY (any non-empty text; Ollama ignores it)"),
                )
            )
    if spec.keyed_by is not None:
        stray = [k for k in _ENTRY_KEYS if k in loaded.data(spec.role) and k != spec.container]
        if stray:
            out.append(
                Problem(
                    entry=None,
                    what=_(
                        "{keys} at the top level of {file}: Chatchat reads these only inside a "
                        "{container} entry"
                    ).format(
                        keys=", ".join(stray),
                        file=loaded.files[spec.role].file.path.name,
                        container=spec.container,
                    ),
                    fix=_("move them into the {container} entry they belong to (indent under '- ')").format(
                        container=spec.container
                    ),
                )
            )
    return tuple(out)
