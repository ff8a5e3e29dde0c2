"""The knobs: one name per knob in every generation, where each lives in an install, and its effect.

Facts behind the effect words: ../shared/DESIGN.md §2 and §4 (read from Chatchat's code and measured).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from tuner.codepatch.keys import NEW_PLATFORM_KEYS
from tuner.edit.paths import Found, ValuePath
from tuner.i18n import _
from tuner.install.entries import find
from tuner.install.files import LoadedInstall
from tuner.knobs import values
from tuner.knobs.place_values import LOAD_TIMEOUT, OLLAMA_HOST
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
    aliases: tuple[str, ...] = ()  # the names users see in their own files, accepted case-insensitively
    model_parameter: str | None = None  # a Modelfile PARAMETER of a derived model (tuner.service.modelfile)


# --- api_timeout -------------------------------------------------------------------------------------------


def _api_timeout_note() -> str:
    return _("API_TIMEOUT is not read by stock Chatchat (no version has it); HTTPX_DEFAULT_TIMEOUT is")


def _timeout_targets(loaded: LoadedInstall) -> list[Target]:
    where = loaded.layout.timeout
    if where is None or loaded.doc(where.role) is None:
        return []
    out = []
    hand_added = find(loaded, where.role, ("API_TIMEOUT",))
    if hand_added is not None:
        out.append(Target(where.role, ("API_TIMEOUT",), None, hand_added, note=_api_timeout_note()))
    out.append(Target(where.role, (where.key,), None, find(loaded, where.role, (where.key,))))
    return out


def _timeout_effect(loaded: LoadedInstall) -> Effect:
    layout = loaded.layout
    if loaded.patched:
        return Effect(
            "yes", _("with the code patch: bounds each attempt of the model call (read at start-up)")
        )
    if layout.timeout is None:
        return Effect("no", layout.timeout_missing or _("no timeout setting in this version"))
    if layout.timeout_bounds_model_call:
        return Effect("yes", layout.timeout_words)
    return Effect("partly", layout.timeout_words)


# --- per-entry knobs ---------------------------------------------------------------------------------------


EntryKey = Callable[[LoadedInstall], "str | None"]


def _entry_targets(
    key: EntryKey, *, only_ollama: bool, default_ollama: bool
) -> Callable[[LoadedInstall], list[Target]]:
    """Targets in each model entry: ``key`` names the field in this layout (None: it has none).
    ``only_ollama``: entries that point at Ollama, or the shipped OpenAI-compatible one (which a user may
    point at Ollama on purpose); ``default_ollama``: without ``[entry]``, only those pointing at Ollama."""

    def targets(loaded: LoadedInstall) -> list[Target]:
        field = key(loaded)
        if field is None:
            return []
        out = []
        spec = loaded.layout.entries
        for e in loaded.entries:
            if only_ollama and not e.openai_compatible:
                continue
            if spec is not None and field == spec.url_key and not e.url and spec.keyed_by is None:
                continue  # a hand-made entry without this key: adding it would change routing (problems.py)
            path = e.path_of(field)
            default = e.ollama if default_ollama else True
            out.append(Target(e.role, path, e.name, find(loaded, e.role, path), default))
        return out

    return targets


def _spec_key(attr: str) -> EntryKey:
    def key(loaded: LoadedInstall) -> str | None:
        spec = loaded.layout.entries
        return getattr(spec, attr) if spec is not None else None

    return key


def _patch_key(name: str) -> EntryKey:
    def key(loaded: LoadedInstall) -> str | None:
        return name if loaded.layout.code_patch_possible and loaded.layout.entries else None

    return key


def _url_effect(loaded: LoadedInstall) -> Effect:
    return Effect(
        "yes",
        _(
            "where Chatchat sends model calls; on Windows 'localhost' tries ::1 first (~2 s per new "
            "connection when Ollama listens on 127.0.0.1 only)"
        ),
    )


def _no_such_setting(loaded: LoadedInstall) -> Effect:
    return Effect("no", _("no such setting in {version}").format(version=loaded.layout.label))


def _concurrency_effect(loaded: LoadedInstall) -> Effect:
    if loaded.patched:
        return Effect(
            "yes", _("with the code patch: the platform's pool size; calls beyond it wait in a queue")
        )
    spec = loaded.layout.entries
    if spec is None or spec.concurrency_key is None:
        return Effect(
            "no",
            _("no such setting in {version} (httpx default pool: 100 connections, 20 kept alive)").format(
                version=loaded.layout.label
            ),
        )
    return Effect(
        "no",
        _(
            "ignored by /chat/chat/completions (no limiter); Chatchat's /v1 routes use a built-in limit of 5 "
            "and answer HTTP 500 beyond it"
        ),
    )


def _autodetect_effect(loaded: LoadedInstall) -> Effect:
    words = loaded.layout.auto_detect_words
    if words is None:
        return _no_such_setting(loaded)
    return Effect(
        "partly",
        _(
            "acts only on xinference platforms and only when the xinference client is installed in "
            "Chatchat's environment; {words}"
        ).format(words=words),
    )


def _proxy_effect(loaded: LoadedInstall) -> Effect:
    layout = loaded.layout
    if layout.entries is None or layout.entries.proxy_key is None:
        return _no_such_setting(loaded)
    return Effect("partly" if layout.proxy_reaches_model_call else "no", layout.proxy_words)


def _patch_only_effect(loaded: LoadedInstall) -> Effect:
    if not loaded.layout.code_patch_possible:
        return _no_such_setting(loaded)
    if loaded.patched:
        return Effect("yes", _("read by the code patch for each model call"))
    return Effect(
        "patch",
        _("read only with the code patch ({command}); Chatchat as shipped ignores it").format(
            command=_PATCH_HINT
        ),
    )


# --- host / service ----------------------------------------------------------------------------------------


def _bind_targets(loaded: LoadedInstall) -> list[Target]:
    layout = loaded.layout
    where = layout.bind_host
    if where is None or loaded.doc(where.role) is None:
        return []
    out = [Target(where.role, (where.key,), None, find(loaded, where.role, (where.key,)))]
    for server in layout.server_hosts:  # where the servers really listen (0.3.1+)
        found = find(loaded, server.role, (server.key, "host"))
        if found is not None:
            out.append(Target(server.role, (server.key, "host"), None, found))
    return out


def _no_targets(loaded: LoadedInstall) -> list[Target]:
    return []


def _service_effect(var: str) -> Callable[[LoadedInstall], Effect]:
    def effect(loaded: LoadedInstall) -> Effect:
        return Effect(
            "service",
            _(
                "set on the Ollama service as {variable} (not in Chatchat's files); written as a "
                "systemd drop-in and macOS/Windows commands"
            ).format(variable=var),
        )

    return effect


KNOBS: tuple[Knob, ...] = (
    Knob(
        "api_timeout",
        values.SECONDS,
        _("the API timeout in seconds (HTTPX_DEFAULT_TIMEOUT, or a hand-added API_TIMEOUT)"),
        _timeout_targets,
        _timeout_effect,
        aliases=("HTTPX_DEFAULT_TIMEOUT",),  # a hand-added API_TIMEOUT is this knob's own name, any case
    ),
    Knob(
        "ollama_url",
        values.URL,
        _("api_base_url of an entry that points at Ollama (e.g. http://127.0.0.1:11434/v1)"),
        _entry_targets(_spec_key("url_key"), only_ollama=True, default_ollama=True),
        _url_effect,
        per_entry=True,
        aliases=("api_base_url",),
    ),
    Knob(
        "api_concurrencies",
        values.POSITIVE_INT,
        _("api_concurrencies of a model platform (0.3.1+)"),
        _entry_targets(_spec_key("concurrency_key"), only_ollama=False, default_ollama=True),
        _concurrency_effect,
        per_entry=True,
    ),
    Knob(
        "auto_detect_model",
        values.BOOL,
        _("auto_detect_model of a model platform (0.3.1+)"),
        _entry_targets(_spec_key("auto_detect_key"), only_ollama=False, default_ollama=False),
        _autodetect_effect,
        per_entry=True,
    ),
    Knob(
        "keepalive_expiry",
        values.SECONDS,
        _("seconds an idle pooled connection to a platform is kept (api_keepalive_expiry, code patch)"),
        _entry_targets(_patch_key("api_keepalive_expiry"), only_ollama=False, default_ollama=True),
        _patch_only_effect,
        per_entry=True,
        create_comment=_NEW_KEY_COMMENTS["api_keepalive_expiry"],
        aliases=("api_keepalive_expiry",),
    ),
    Knob(
        "max_retries",
        values.NON_NEGATIVE_INT,
        _("retries after a failed or timed-out model call (api_max_retries, code patch)"),
        _entry_targets(_patch_key("api_max_retries"), only_ollama=False, default_ollama=True),
        _patch_only_effect,
        per_entry=True,
        create_comment=_NEW_KEY_COMMENTS["api_max_retries"],
        aliases=("api_max_retries",),
    ),
    Knob(
        "proxy",
        values.PROXY,
        _("the proxy of an Ollama entry (api_proxy in 0.3.1+, openai_proxy in 0.2.x)"),
        _entry_targets(_spec_key("proxy_key"), only_ollama=True, default_ollama=True),
        _proxy_effect,
        per_entry=True,
        aliases=("api_proxy", "openai_proxy"),
    ),
    Knob(
        "bind_host",
        values.HOST,
        _("DEFAULT_BIND_HOST, the address Chatchat's servers listen on"),
        _bind_targets,
        lambda loaded: Effect("yes", loaded.layout.bind_host_words),
        aliases=("DEFAULT_BIND_HOST",),
    ),
    Knob(
        "keep_alive",
        values.KEEP_ALIVE,
        _("how long Ollama keeps a model loaded after its last request"),
        _no_targets,
        _service_effect("OLLAMA_KEEP_ALIVE"),
        service_var="OLLAMA_KEEP_ALIVE",
        aliases=("OLLAMA_KEEP_ALIVE",),
    ),
    Knob(
        "num_parallel",
        values.POSITIVE_INT,
        _("parallel request slots per model in Ollama"),
        _no_targets,
        _service_effect("OLLAMA_NUM_PARALLEL"),
        service_var="OLLAMA_NUM_PARALLEL",
        aliases=("OLLAMA_NUM_PARALLEL",),
    ),
    Knob(
        "max_loaded_models",
        values.POSITIVE_INT,
        _("models Ollama keeps loaded at once"),
        _no_targets,
        _service_effect("OLLAMA_MAX_LOADED_MODELS"),
        service_var="OLLAMA_MAX_LOADED_MODELS",
        aliases=("OLLAMA_MAX_LOADED_MODELS",),
    ),
)


def _since_effect(var: str, since: str) -> Callable[[LoadedInstall], Effect]:
    def effect(loaded: LoadedInstall) -> Effect:
        return Effect(
            "service",
            _(
                "set on the Ollama service as {variable} (Ollama {since} and later; not in Chatchat's "
                "files); written as a systemd drop-in and macOS/Windows commands"
            ).format(variable=var, since=since),
        )

    return effect


def _modelfile_effect(loaded: LoadedInstall) -> Effect:
    return Effect(
        "service",
        _(
            "a derived model with PARAMETER num_ctx (a Modelfile and its `ollama create` command, not in "
            "Chatchat's files): /v1 callers such as Chatchat send no num_ctx, so the model's own parameter "
            "is what they get; name the derived model in Chatchat's model list"
        ),
    )


# Where Chatchat runs and where the model runs (docs/doctor.md: unreachable_from_chatchat, ctx_truncation,
# ctx_reload, load_timeout). Facts: ollama/ollama envconfig/config.go, per version in docs/doctor.md.
KNOBS = (  # appended after the connection knobs above
    *KNOBS,
    Knob(
        "ollama_host",
        OLLAMA_HOST,
        _("the address Ollama listens on (127.0.0.1:11434 by default: unreachable from containers and WSL)"),
        _no_targets,
        _service_effect("OLLAMA_HOST"),
        service_var="OLLAMA_HOST",  # the name is its variable's, any case
    ),
    Knob(
        "context_length",
        values.POSITIVE_INT,
        _("the context size Ollama gives a caller that sends no num_ctx (as Chatchat's /v1 calls)"),
        _no_targets,
        _since_effect("OLLAMA_CONTEXT_LENGTH", "0.5.13"),
        service_var="OLLAMA_CONTEXT_LENGTH",
        aliases=("OLLAMA_CONTEXT_LENGTH",),
    ),
    Knob(
        "load_timeout",
        LOAD_TIMEOUT,
        _("how long a model load may stall before Ollama gives up (default 5m)"),
        _no_targets,
        _since_effect("OLLAMA_LOAD_TIMEOUT", "0.3.10"),
        service_var="OLLAMA_LOAD_TIMEOUT",
        aliases=("OLLAMA_LOAD_TIMEOUT",),
    ),
    Knob(
        "num_ctx",
        values.POSITIVE_INT,
        _("the context size of a derived model (num_ctx[MODEL]=N; MODEL: the install's Ollama model)"),
        _no_targets,
        _modelfile_effect,
        per_entry=True,
        model_parameter="num_ctx",
    ),
)

BY_NAME = {k.name: k for k in KNOBS}
