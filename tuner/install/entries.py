"""The OpenAI-compatible model entries of an install (Chatchat reaches Ollama through one of them).

Read once per install, in one pass over the container its layout names (``MODEL_PLATFORMS``,
``ONLINE_LLM_MODEL``, ``llm_model_dict``, ...): every other package asks here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from tuner.edit.paths import EditError, Found, Match, ValuePath
from tuner.errors import UserError
from tuner.i18n import _

if TYPE_CHECKING:
    from tuner.install.files import LoadedInstall
    from tuner.install.layout import EntryLayout


@dataclass(frozen=True, kw_only=True)
class Entry:
    """One model entry: a platform (0.3.x) or an online/OpenAI-compatible model (0.2.x)."""

    role: str
    name: str
    path: ValuePath  # of the entry itself
    url: str
    line: int  # of its URL (0: absent)
    models: tuple[str, ...]
    ollama: bool  # points at Ollama (platform_type, port 11434, or a loopback /v1 URL)
    openai_compatible: bool  # the shipped OpenAI-compatible entry, or one pointing at Ollama
    data: dict[str, object]

    def path_of(self, key: str) -> ValuePath:
        return (*self.path, key)

    @property
    def chat_model(self) -> str | None:
        return self.models[0] if self.models else None


def is_ollama_url(url: object) -> bool:
    if not isinstance(url, str):
        return False
    try:
        parts = urlsplit(url)
        return parts.port == 11434 or "ollama" in (parts.hostname or "")
    except ValueError:
        return False


def is_local_openai_api(url: object) -> bool:
    """A loopback ``/v1`` URL: how 0.2.x users point a generic OpenAI-compatible entry at Ollama."""
    if not isinstance(url, str):
        return False
    try:
        parts = urlsplit(url)
        return parts.hostname in ("127.0.0.1", "localhost", "::1") and parts.path.rstrip("/").endswith("/v1")
    except ValueError:  # "http://[::1/v1"
        return False


def find(loaded: LoadedInstall, role: str, path: ValuePath) -> Found | None:
    """The value at ``path`` in one file; a UserError naming the file when the path is ambiguous."""
    doc = loaded.doc(role)
    if doc is None:
        return None
    try:
        return doc.find(path)
    except EditError as exc:
        raise UserError(
            _("{error}; names must be unique (rename or remove one)").format(error=exc),
            loaded.files[role].file.path,
        ) from None


def _strings(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,) if value else ()
    if isinstance(value, list):
        return tuple(str(v) for v in value if isinstance(v, str | int | float) and not isinstance(v, bool))
    return ()


def _raw_entries(loaded: LoadedInstall, spec: EntryLayout) -> list[tuple[str, ValuePath, dict[str, object]]]:
    container = loaded.data(spec.role).get(spec.container)
    out: list[tuple[str, ValuePath, dict[str, object]]] = []
    if spec.keyed_by is None:
        if isinstance(container, dict):
            for key, value in container.items():
                if isinstance(value, dict):
                    out.append((str(key), (spec.container, str(key)), value))
        return out
    if not isinstance(container, list):
        return out
    seen: set[str] = set()
    for item in container:
        if not isinstance(item, dict) or not isinstance(item.get(spec.keyed_by), str):
            continue
        name = str(item[spec.keyed_by])
        path: ValuePath = (spec.container, Match(spec.keyed_by, name))
        if name in seen:
            find(loaded, spec.role, path)  # raises, naming the lines of both
            raise UserError(  # pragma: no cover - the look-up above names the lines
                _("{container} has two entries with {key} {name!r}").format(
                    container=spec.container, key=spec.keyed_by, name=name
                ),
                loaded.files[spec.role].file.path,
            )
        seen.add(name)
        out.append((name, path, item))
    return out


def read_entries(loaded: LoadedInstall) -> tuple[Entry, ...]:
    """Every entry of the layout's container, in file order (see :attr:`LoadedInstall.entries`)."""
    spec = loaded.layout.entries
    if spec is None or spec.role not in loaded.files:
        return ()
    out = []
    for name, path, data in _raw_entries(loaded, spec):
        url = data.get(spec.url_key)
        ollama = (
            data.get("platform_type") == "ollama"
            or is_ollama_url(url)
            or (spec.keyed_by is None and "ollama" in name.lower())
            or (spec.loopback_v1_is_ollama and spec.keyed_by is None and is_local_openai_api(url))
        )
        models = tuple(m for key in spec.model_keys for m in _strings(data.get(key)))
        if spec.sends_key_as_model:
            models = (name,)
        found = find(loaded, spec.role, (*path, spec.url_key)) if url is not None else None
        out.append(
            Entry(
                role=spec.role,
                name=name,
                path=path,
                url=str(url) if isinstance(url, str) else "",
                line=found.line if found else 0,
                models=models,
                ollama=ollama,
                openai_compatible=ollama or name in spec.stock or spec.keyed_by is not None,
                data=data,
            )
        )
    return tuple(out)


def ollama_entries(loaded: LoadedInstall) -> tuple[Entry, ...]:
    return tuple(e for e in loaded.entries if e.ollama)


def entry_named(loaded: LoadedInstall, name: str | None) -> Entry | None:
    """The named entry, or the first that points at Ollama."""
    pool = loaded.entries if name else ollama_entries(loaded)
    return next((e for e in pool if name is None or e.name == name), None)
