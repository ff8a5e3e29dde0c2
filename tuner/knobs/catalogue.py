"""The knobs: one name per knob in every generation, where each lives in an install, and its effect.

Facts behind the effect words: ../shared/DESIGN.md §2 and §4 (read from Chatchat's code and measured).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from tuner.codepatch.keys import NEW_PLATFORM_KEYS
from tuner.edit.paths import EditError, Found, Match, ValuePath
from tuner.errors import UserError
from tuner.install.files import LoadedInstall
from tuner.knobs import values
from tuner.knobs.values import ValueType

_NEW_KEY_COMMENTS = {key: comment for key, _, comment in NEW_PLATFORM_KEYS}

Honoured = Literal["yes", "partly", "no", "service", "patch"]

_PATCH_HINT = "chatchat-tune apply --patch-code --python CHATCHAT_VENV_PYTHON"


@dataclass(frozen=True)
class Target:
    """One place a knob's value lives in the install's files."""

    role: str  # settings file role ("server_config", "model_settings", ...)
    path: ValuePath
    entry: str | None  # platform / online-model name, for KNOB[entry]
    found: Found | None  # None: absent, the edit creates it
    default: bool = True  # picked when the user gives no [entry]
    note: str | None = None  # said next to the edit (e.g. "not read by stock Chatchat")


@dataclass(frozen=True)
class Effect:
    honoured: Honoured
    words: str


@dataclass(frozen=True)
class Knob:
    name: str
    type: ValueType
    help: str
    targets: Callable[[LoadedInstall], list[Target]]
    effect: Callable[[LoadedInstall], Effect]
    per_entry: bool = False
    service_var: str | None = None  # Ollama service environment variable, for service knobs
    create_comment: str | None = None  # comment written above the key when an edit has to add it


@dataclass(frozen=True)
class OllamaEntry:
    """A model platform (0.3.1) or online model (0.2.x) that points at Ollama."""

    role: str
    name: str
    path: ValuePath  # of the entry itself
    url: str
    line: int
    models: tuple[str, ...]


def _is_ollama_url(url: object) -> bool:
    if not isinstance(url, str):
        return False
    try:
        parts = urlsplit(url)
        return parts.port == 11434 or "ollama" in (parts.hostname or "")
    except ValueError:
        return False


def _is_local_openai_api(url: object) -> bool:
    """0.2.x reaches Ollama through a generic OpenAI-compatible entry: a loopback /v1 URL."""
    if not isinstance(url, str):
        return False
    try:
        parts = urlsplit(url)
        return parts.hostname in ("127.0.0.1", "localhost", "::1") and parts.path.rstrip("/").endswith("/v1")
    except ValueError:  # "http://[::1/v1"
        return False


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def _platforms(loaded: LoadedInstall) -> list[dict[str, object]]:
    """MODEL_PLATFORMS entries with a name. UserError when two share a name: which one a setting means
    (and which one Chatchat uses) cannot be told."""
    platforms = loaded.data("model_settings").get("MODEL_PLATFORMS")
    if not isinstance(platforms, list):
        return []
    named = [p for p in platforms if isinstance(p, dict) and isinstance(p.get("platform_name"), str)]
    seen: set[object] = set()
    for p in named:
        name = p["platform_name"]
        if name in seen:
            _find(loaded, "model_settings", ("MODEL_PLATFORMS", Match("platform_name", str(name))))
            raise UserError(  # pragma: no cover - the look-up above names the lines
                f"MODEL_PLATFORMS has two entries with platform_name {name!r}",
                loaded.files["model_settings"].file.path,
            )
        seen.add(name)
    return named


def _online_models(loaded: LoadedInstall) -> dict[str, dict[str, object]]:
    online = loaded.data("model_config").get("ONLINE_LLM_MODEL")
    if not isinstance(online, dict):
        return {}
    return {k: v for k, v in online.items() if isinstance(v, dict)}


def ollama_entries(loaded: LoadedInstall) -> list[OllamaEntry]:
    gen = loaded.install.generation
    out: list[OllamaEntry] = []
    if gen == "0.3.1":
        for p in _platforms(loaded):
            name = str(p["platform_name"])
            if p.get("platform_type") == "ollama" or _is_ollama_url(p.get("api_base_url")):
                path: ValuePath = ("MODEL_PLATFORMS", Match("platform_name", name))
                found = _find(loaded, "model_settings", (*path, "api_base_url"))
                models = tuple(str(m) for key in ("llm_models", "embed_models") for m in _list(p.get(key)))
                out.append(
                    OllamaEntry(
                        "model_settings",
                        name,
                        path,
                        str(p.get("api_base_url", "")),
                        found.line if found else 0,
                        models,
                    )
                )
    elif gen == "0.2":
        for key, entry in _online_models(loaded).items():
            url = entry.get("api_base_url")
            if _is_ollama_url(url) or _is_local_openai_api(url) or "ollama" in key.lower():
                found = _find(loaded, "model_config", ("ONLINE_LLM_MODEL", key, "api_base_url"))
                model = entry.get("model_name")
                out.append(
                    OllamaEntry(
                        "model_config",
                        key,
                        ("ONLINE_LLM_MODEL", key),
                        str(url or ""),
                        found.line if found else 0,
                        (str(model),) if model else (),
                    )
                )
    return out


def _find(loaded: LoadedInstall, role: str, path: ValuePath) -> Found | None:
    """The value at ``path``; a UserError naming the file when the path is ambiguous (two entries match)."""
    doc = loaded.doc(role)
    if doc is None:
        return None
    try:
        return doc.find(path)
    except EditError as exc:
        raise UserError(
            f"{exc}; names must be unique (rename or remove one)", loaded.files[role].file.path
        ) from None


# --- api_timeout -------------------------------------------------------------------------------------------

_API_TIMEOUT_NOTE = "API_TIMEOUT is not read by stock Chatchat (no version has it); HTTPX_DEFAULT_TIMEOUT is"


def _timeout_targets(loaded: LoadedInstall) -> list[Target]:
    role = {"0.2": "server_config", "0.3.1": "basic_settings"}.get(loaded.install.generation)
    if role is None or loaded.doc(role) is None:
        return []
    out = []
    hand_added = _find(loaded, role, ("API_TIMEOUT",))
    if hand_added is not None:
        out.append(Target(role, ("API_TIMEOUT",), None, hand_added, note=_API_TIMEOUT_NOTE))
    out.append(
        Target(role, ("HTTPX_DEFAULT_TIMEOUT",), None, _find(loaded, role, ("HTTPX_DEFAULT_TIMEOUT",)))
    )
    return out


def _timeout_effect(loaded: LoadedInstall) -> Effect:
    if loaded.patched:
        return Effect("yes", "with the code patch: bounds each attempt of the model call (read at start-up)")
    if loaded.install.generation == "0.2":
        return Effect("yes", "set as httpx's global default timeout at start-up: bounds every call to Ollama")
    return Effect(
        "partly",
        "bounds Chatchat's own httpx calls, but NOT the call to the model: each request builds an OpenAI "
        "client with openai's defaults (600 s read timeout, 2 retries)",
    )


# --- per-entry knobs ---------------------------------------------------------------------------------------


def _entry_targets(field_02: str | None, field_031: str, only_ollama: bool, default_ollama: bool):  # type: ignore[no-untyped-def]
    def targets(loaded: LoadedInstall) -> list[Target]:
        ollama = {e.name for e in ollama_entries(loaded)}
        gen = loaded.install.generation
        out = []
        if gen == "0.3.1":
            for p in _platforms(loaded):
                name = str(p["platform_name"])
                if only_ollama and name not in ollama:
                    continue
                path = ("MODEL_PLATFORMS", Match("platform_name", name), field_031)
                default = name in ollama if default_ollama else True
                out.append(
                    Target("model_settings", path, name, _find(loaded, "model_settings", path), default)
                )
        elif gen == "0.2" and field_02 is not None:
            for key in _online_models(loaded):
                if only_ollama and key not in ollama:
                    continue
                path_02: ValuePath = ("ONLINE_LLM_MODEL", key, field_02)
                default = key in ollama if default_ollama else True
                out.append(
                    Target("model_config", path_02, key, _find(loaded, "model_config", path_02), default)
                )
        return out

    return targets


def _url_effect(loaded: LoadedInstall) -> Effect:
    return Effect(
        "yes",
        "where Chatchat sends model calls; on Windows 'localhost' tries ::1 first (~2 s per new "
        "connection when Ollama listens on 127.0.0.1 only)",
    )


def _concurrency_effect(loaded: LoadedInstall) -> Effect:
    if loaded.patched:
        return Effect("yes", "with the code patch: the platform's pool size; calls beyond it wait in a queue")
    if loaded.install.generation != "0.3.1":
        return Effect(
            "no", "no such setting in this generation (httpx default pool: 100 connections, 20 kept alive)"
        )
    return Effect(
        "no",
        "ignored by /chat/chat/completions (no limiter); Chatchat's /v1 routes use a built-in limit of 5 and "
        "answer HTTP 500 beyond it",
    )


def _autodetect_effect(loaded: LoadedInstall) -> Effect:
    if loaded.install.generation != "0.3.1":
        return Effect("no", "no such setting in this generation")
    return Effect(
        "partly",
        "acts only on xinference platforms and only when the xinference client is installed in Chatchat's "
        "environment; then the first chat after each 60 s cache expiry calls that host with no timeout",
    )


def _proxy_effect(loaded: LoadedInstall) -> Effect:
    if loaded.install.generation == "0.3.1":
        return Effect(
            "partly",
            "passed to httpx as proxies=, which httpx 0.28 removed; HTTP(S)_PROXY/NO_PROXY "
            "in Chatchat's environment apply to hosts other than 127.0.0.1/localhost",
        )
    return Effect("yes", "openai_proxy of the online model entry")


def _patch_only_effect(loaded: LoadedInstall) -> Effect:
    if loaded.install.generation != "0.3.1":
        return Effect("no", "no such setting in this generation")
    if loaded.patched:
        return Effect("yes", "read by the code patch for each model call")
    return Effect("patch", f"read only with the code patch ({_PATCH_HINT}); Chatchat as shipped ignores it")


# --- host / service ----------------------------------------------------------------------------------------


def _bind_targets(loaded: LoadedInstall) -> list[Target]:
    role = {"0.2": "server_config", "0.3.1": "basic_settings"}.get(loaded.install.generation)
    if role is None or loaded.doc(role) is None:
        return []
    return [Target(role, ("DEFAULT_BIND_HOST",), None, _find(loaded, role, ("DEFAULT_BIND_HOST",)))]


def _no_targets(loaded: LoadedInstall) -> list[Target]:
    return []


def _service_effect(var: str) -> Callable[[LoadedInstall], Effect]:
    def effect(loaded: LoadedInstall) -> Effect:
        return Effect(
            "service",
            f"set on the Ollama service as {var} (not in Chatchat's files); written as a "
            "systemd drop-in and macOS/Windows commands",
        )

    return effect


KNOBS: tuple[Knob, ...] = (
    Knob(
        "api_timeout",
        values.SECONDS,
        "the API timeout in seconds (HTTPX_DEFAULT_TIMEOUT, or a hand-added API_TIMEOUT)",
        _timeout_targets,
        _timeout_effect,
    ),
    Knob(
        "ollama_url",
        values.URL,
        "api_base_url of an entry that points at Ollama (e.g. http://127.0.0.1:11434/v1)",
        _entry_targets("api_base_url", "api_base_url", True, True),
        _url_effect,
        per_entry=True,
    ),
    Knob(
        "api_concurrencies",
        values.POSITIVE_INT,
        "api_concurrencies of a model platform (0.3.1+)",
        _entry_targets(None, "api_concurrencies", False, True),
        _concurrency_effect,
        per_entry=True,
    ),
    Knob(
        "auto_detect_model",
        values.BOOL,
        "auto_detect_model of a model platform (0.3.1+)",
        _entry_targets(None, "auto_detect_model", False, False),
        _autodetect_effect,
        per_entry=True,
    ),
    Knob(
        "keepalive_expiry",
        values.SECONDS,
        "seconds an idle pooled connection to a platform is kept (api_keepalive_expiry, code patch)",
        _entry_targets(None, "api_keepalive_expiry", False, True),
        _patch_only_effect,
        per_entry=True,
        create_comment=_NEW_KEY_COMMENTS["api_keepalive_expiry"],
    ),
    Knob(
        "max_retries",
        values.NON_NEGATIVE_INT,
        "retries after a failed or timed-out model call (api_max_retries, code patch)",
        _entry_targets(None, "api_max_retries", False, True),
        _patch_only_effect,
        per_entry=True,
        create_comment=_NEW_KEY_COMMENTS["api_max_retries"],
    ),
    Knob(
        "proxy",
        values.PROXY,
        "the proxy of an Ollama entry (api_proxy in 0.3.1+, openai_proxy in 0.2.x)",
        _entry_targets("openai_proxy", "api_proxy", True, True),
        _proxy_effect,
        per_entry=True,
    ),
    Knob(
        "bind_host",
        values.HOST,
        "DEFAULT_BIND_HOST, the address Chatchat's servers listen on",
        _bind_targets,
        lambda loaded: Effect("yes", "read at start-up by every Chatchat server"),
    ),
    Knob(
        "keep_alive",
        values.KEEP_ALIVE,
        "how long Ollama keeps a model loaded after its last request",
        _no_targets,
        _service_effect("OLLAMA_KEEP_ALIVE"),
        service_var="OLLAMA_KEEP_ALIVE",
    ),
    Knob(
        "num_parallel",
        values.POSITIVE_INT,
        "parallel request slots per model in Ollama",
        _no_targets,
        _service_effect("OLLAMA_NUM_PARALLEL"),
        service_var="OLLAMA_NUM_PARALLEL",
    ),
    Knob(
        "max_loaded_models",
        values.POSITIVE_INT,
        "models Ollama keeps loaded at once",
        _no_targets,
        _service_effect("OLLAMA_MAX_LOADED_MODELS"),
        service_var="OLLAMA_MAX_LOADED_MODELS",
    ),
)

BY_NAME = {k.name: k for k in KNOBS}
