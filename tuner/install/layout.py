"""Chatchat's install layouts: one frozen description per shape, the only place that knows them.

Every other package asks an install's :class:`Layout` where a setting lives (``layout.timeout``), how the
OpenAI-compatible entries are kept (``layout.entries``), what the shipped code does with them
(``layout.timeout_bounds_model_call``), and what to call the install (``layout.label``). Supporting a new
shape is a new constant here, a line in :func:`layout_for`, and its fixture.

Facts: docs/versions.md (each read at its tag or in its wheel).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from tuner.i18n import _

if TYPE_CHECKING:
    from tuner.install.files import LoadedInstall

Generation = Literal["0.2", "0.3.0", "0.3.1"]


@dataclass(frozen=True, kw_only=True)
class Where:
    """A top-level setting: the file role that holds it and its name there."""

    role: str
    key: str


@dataclass(frozen=True, kw_only=True)
class EntryLayout:
    """Where the OpenAI-compatible model entries live (Chatchat reaches Ollama through one of them)."""

    role: str  # the settings file ("model_config", "model_settings")
    container: str  # "MODEL_PLATFORMS", "ONLINE_LLM_MODEL", "llm_model_dict", ...
    keyed_by: str | None  # "platform_name": a list of entries; None: a dict keyed by the entry's name
    url_key: str = "api_base_url"
    proxy_key: str | None = None
    concurrency_key: str | None = None
    auto_detect_key: str | None = None
    model_keys: tuple[str, ...] = ()  # where the model names are ("llm_models", ...) or ("model_name",)
    stock: tuple[str, ...] = ()  # the entries that are OpenAI-compatible as shipped ("openai-api", ...)
    # True where the shipped code sends the entry's *key* as the model name (v0.2.0–v0.2.5, v0.2.7): the key
    # (or LLM_MODEL) must then equal the Ollama model tag.
    sends_key_as_model: bool = False
    # A loopback /v1 URL in this container is how users point an entry at Ollama by hand; in
    # llm_model_dict (v0.2.0–v0.2.4) it is also how local models reach Chatchat's own FastChat server.
    loopback_v1_is_ollama: bool = True


@dataclass(frozen=True, kw_only=True)
class KbLayout:
    """How a version answers from a knowledge base: its routes, settings and retriever (docs/versions.md)."""

    chat_route: str  # "/chat/kb_chat" (0.3.x) or "/chat/knowledge_base_chat" (0.2.x)
    chat_kb_key: str  # the request field naming the knowledge base
    chat_model_key: str  # the request field naming the chat model
    chat_extra: tuple[tuple[str, object], ...] = ()  # fields the route needs besides the query
    search_route: str = "/knowledge_base/search_docs"
    list_route: str = "/knowledge_base/list_knowledge_bases"  # GET
    create_route: str = "/knowledge_base/create_knowledge_base"
    delete_route: str = "/knowledge_base/delete_knowledge_base"
    upload_route: str = "/knowledge_base/upload_docs"
    default_kb: Where
    top_k: Where
    score_threshold: Where
    vs_type: Where
    chunk_size: Where
    embed_model: Where
    kb_root: Where | None  # None: the install's own knowledge_base/ folder (0.2.x computes it in code)
    defaults: tuple[tuple[str, object], ...] = ()  # the shipped values, when a file leaves a key out
    bm25_with_faiss: bool = False  # faiss search goes through the BM25 + faiss ensemble retriever
    embed_calls_per_search: int = 1  # embedding requests one search_docs makes (a check, then the query)
    embed_calls_per_chat: int = 1  # embedding requests one KB chat makes before the model is called
    docs_first: bool = False  # a streamed KB chat sends the retrieved documents before the first token
    embed_words: str = ""  # how the version calls the embedding model
    ingest_words: str = ""  # what bounds an upload from the WebUI, and the way around it


@dataclass(frozen=True, kw_only=True)
class Layout:
    generation: Generation
    versions: str  # the releases this shape stands for, as shown ("v0.2.8–v0.2.9", "0.3.1–0.3.1.3")
    label: str
    entries: EntryLayout | None
    timeout: Where | None
    timeout_missing: str | None = None  # why there is no timeout setting, when there is none
    timeout_bounds_model_call: bool = False  # does the shipped code bound the model call with it?
    timeout_words: str = ""  # what the timeout setting does in the shipped code
    proxy_reaches_model_call: bool = False
    proxy_words: str = ""
    # What bounds the model call as shipped: openai's own read timeout (None: nothing) and attempts.
    model_call_read_timeout: float | None = None
    model_call_attempts: int = 1
    per_request_words: str = ""  # what the shipped code builds per request (why a new connection each time)
    code_patch_possible: bool = False  # the opt-in code patch (tuner.codepatch) knows this layout's code
    bind_host: Where | None = None
    # The server entries whose "host" the servers listen on, when DEFAULT_BIND_HOST alone is not read
    # (0.3.1+: it only seeds their defaults, and `chatchat init` writes each host explicitly).
    server_hosts: tuple[Where, ...] = ()
    bind_host_words: str = _("read at start-up by every Chatchat server")
    api_server: Where | None = None
    default_model: Where | None = None  # LLM_MODELS (a list; first wins), LLM_MODEL or DEFAULT_LLM_MODEL
    max_tokens: Where | None = None
    env_overrides: bool = False  # pydantic-settings: environment variables override the files (0.3.1+)
    editable: bool = True
    not_editable_why: str | None = None
    auto_detect_words: str | None = None  # what auto_detect_model costs in this version
    kb: KbLayout | None = None  # the knowledge-base path (routes, settings, retriever); None: not known


# --- 0.2.x: Python config modules ----------------------------------------------------------------------

_02_TIMEOUT_WORDS = _(
    "set as httpx's global default timeout at start-up: bounds Chatchat's own httpx calls, but NOT the "
    "call to the model (the model client is built with request_timeout=None, so openai's client carries no "
    "timeout: a server that never answers holds the request indefinitely)"
)
_02_PROXY_1X = _(
    "openai_proxy only sets openai.proxy, which the openai 1.x client (pinned by this version) never reads: "
    "set HTTPS_PROXY/NO_PROXY in Chatchat's environment instead"
)
_02_PROXY_0X = _(
    "handed to openai as openai.proxy: honoured by openai 0.x, ignored by 1.x (which one depends on what "
    "the install's requirements resolved to)"
)
_02_SERVER = Where(role="server_config", key="HTTPX_DEFAULT_TIMEOUT")
_02_BIND = Where(role="server_config", key="DEFAULT_BIND_HOST")
_02_API = Where(role="server_config", key="API_SERVER")
_02_MAX_TOKENS = Where(role="model_config", key="MAX_TOKENS")


KB_02 = KbLayout(
    chat_route="/chat/knowledge_base_chat",
    chat_kb_key="knowledge_base_name",
    chat_model_key="model_name",
    default_kb=Where(role="kb_config", key="DEFAULT_KNOWLEDGE_BASE"),
    top_k=Where(role="kb_config", key="VECTOR_SEARCH_TOP_K"),
    score_threshold=Where(role="kb_config", key="SCORE_THRESHOLD"),
    vs_type=Where(role="kb_config", key="DEFAULT_VS_TYPE"),
    chunk_size=Where(role="kb_config", key="CHUNK_SIZE"),
    embed_model=Where(role="model_config", key="EMBEDDING_MODEL"),
    kb_root=None,
    defaults=(
        ("DEFAULT_KNOWLEDGE_BASE", "samples"),
        ("VECTOR_SEARCH_TOP_K", 3),
        ("SCORE_THRESHOLD", 1.0),
        ("DEFAULT_VS_TYPE", "faiss"),
        ("CHUNK_SIZE", 250),
        ("EMBEDDING_MODEL", "bge-large-zh-v1.5"),
    ),
    bm25_with_faiss=False,
    embed_calls_per_search=1,
    embed_words=(
        "EMBEDDING_MODEL runs inside Chatchat's process (a local model) or through an online embedding "
        "API; faiss search embeds the query once (v0.2.10 faiss_kb_service.do_search)"
    ),
    ingest_words=(
        "the WebUI uploads through ApiRequest with HTTPX_DEFAULT_TIMEOUT (v0.2.10 webui_pages/utils.py); "
        "python init_database.py --recreate-vs ingests with no HTTP call at all"
    ),
)


# v0.2.0–v0.2.4 keep the knowledge-base settings in model_config.py; v0.2.0 has no search_docs route and
# uploads one file at a time (/knowledge_base/upload_doc).
KB_02_IN_MODEL = replace(
    KB_02,
    default_kb=Where(role="model_config", key="DEFAULT_KNOWLEDGE_BASE"),
    top_k=Where(role="model_config", key="VECTOR_SEARCH_TOP_K"),
    score_threshold=Where(role="model_config", key="SCORE_THRESHOLD"),
    vs_type=Where(role="model_config", key="DEFAULT_VS_TYPE"),
    chunk_size=Where(role="model_config", key="CHUNK_SIZE"),
)


def _02(
    versions: str,
    entries: EntryLayout,
    *,
    timeout: bool = True,
    missing: str | None = None,
    model_list: str = "LLM_MODEL",
    openai_1x: bool = False,
    kb: KbLayout = KB_02,
) -> Layout:
    return Layout(
        generation="0.2",
        versions=versions,
        label=f"Chatchat {versions} (configs/*.py)",
        entries=entries,
        timeout=_02_SERVER if timeout else None,
        timeout_missing=missing,
        timeout_bounds_model_call=False,
        timeout_words=_02_TIMEOUT_WORDS if timeout else "",
        proxy_reaches_model_call=False,
        proxy_words=_02_PROXY_1X if openai_1x else _02_PROXY_0X,
        model_call_attempts=3 if openai_1x else 1,
        per_request_words=_(
            "Chatchat 0.2.x builds a new connection pool for every request, so every request pays it"
        ),
        bind_host=_02_BIND if timeout or missing is None else None,
        api_server=_02_API,
        default_model=Where(role="model_config", key=model_list),
        max_tokens=_02_MAX_TOKENS,
        kb=kb,
    )


def _llm_model_dict(*, proxy: bool) -> EntryLayout:
    return EntryLayout(
        role="model_config",
        container="llm_model_dict",
        keyed_by=None,
        proxy_key="openai_proxy" if proxy else None,
        stock=("openai-chatgpt-3.5", "gpt-3.5-turbo"),
        sends_key_as_model=True,
        loopback_v1_is_ollama=False,
    )


_HARD_CODED_60 = _("none in the settings: a 60 s timeout is hard-coded in Chatchat's startup code")
V020 = _02(
    "v0.2.0",
    _llm_model_dict(proxy=False),
    timeout=False,
    missing=_HARD_CODED_60,
    kb=replace(KB_02_IN_MODEL, search_route="", upload_route="/knowledge_base/upload_doc"),
)
V021 = _02("v0.2.1", _llm_model_dict(proxy=False), timeout=False, missing=_HARD_CODED_60, kb=KB_02_IN_MODEL)
V022 = _02("v0.2.2", _llm_model_dict(proxy=True), timeout=False, missing=_HARD_CODED_60, kb=KB_02_IN_MODEL)
V023 = _02("v0.2.3–v0.2.4", _llm_model_dict(proxy=True), kb=KB_02_IN_MODEL)
_OPENAI_API = EntryLayout(  # ONLINE_LLM_MODEL["openai-api"], v0.2.7 on
    role="model_config",
    container="ONLINE_LLM_MODEL",
    keyed_by=None,
    proxy_key="openai_proxy",
    model_keys=("model_name",),
    stock=("openai-api",),
)
V025 = _02(
    "v0.2.5",
    replace(_OPENAI_API, model_keys=(), stock=("gpt-3.5-turbo",), sends_key_as_model=True),
)
V026 = _02("v0.2.6", replace(_OPENAI_API, container="LANGCHAIN_LLM_MODEL", stock=("OpenAI",)))
V027 = _02("v0.2.7", replace(_OPENAI_API, sends_key_as_model=True), model_list="LLM_MODELS")
V028 = _02("v0.2.8–0.2.final", _OPENAI_API, model_list="LLM_MODELS", openai_1x=True)

_02_BY_VERSION = {
    "v0.2.0": V020,
    "v0.2.1": V021,
    "v0.2.2": V022,
    "v0.2.3": V023,
    "v0.2.4": V023,
    "v0.2.5": V025,
    "v0.2.6": V026,
    "v0.2.7": V027,
    "v0.2.8": V028,
    "v0.2.9": V028,
    "v0.2.10": V028,
}
_VERSION_LINE = re.compile(r"""^VERSION\s*=\s*["'](v0\.2\.\d+)["']""", re.M)


def version_in_init(text: str) -> str | None:
    """``VERSION = "v0.2.N"`` from ``configs/__init__.py`` (v0.2.1 on), read as text, never executed."""
    m = _VERSION_LINE.search(text)
    return m[1] if m else None


def layout_02(init_text: str | None, data: Mapping[str, Mapping[str, object]]) -> Layout:
    """The 0.2.x shape: by the version line of ``configs/__init__.py`` when it names a known tag, else by
    which containers ``model_config`` and ``server_config`` hold (a user may have renamed nothing)."""
    version = version_in_init(init_text or "")
    if version in _02_BY_VERSION:
        return _02_BY_VERSION[version]
    model = data.get("model_config", {})
    server = data.get("server_config", {})
    if "llm_model_dict" in model:
        if not server:
            return V020  # v0.2.0 shipped model_config.py alone
        return V023 if "HTTPX_DEFAULT_TIMEOUT" in server else V022
    if "LANGCHAIN_LLM_MODEL" in model:
        return V026
    if "LLM_MODELS" in model:
        return V028
    if "ONLINE_LLM_MODEL" in model:
        return V025
    return V028


# openai's client defaults, which 0.3.x's model calls run with as shipped (DESIGN §2, measured on 0.3.1.3)
OPENAI_READ_TIMEOUT = 600.0
OPENAI_ATTEMPTS = 3
_031_TIMEOUT_WORDS = _(
    "bounds Chatchat's own httpx calls, but NOT the call to the model: each request builds an OpenAI "
    "client with openai's defaults (600 s read timeout, 2 retries)"
)
_PER_REQUEST_03 = _("Chatchat 0.3.x builds a new client for every request, so every request pays it")

# --- 0.3.0.x: recognised, not edited ---------------------------------------------------------------------

_030_WHY = _(
    "Chatchat 0.3.0.x builds kept settings in several short-lived layouts; chatchat-tune reads them but does "
    "not edit them (upgrade to 0.3.1+, or use chatchat-config)"
)


def _030(versions: str, what: str, *, entries_role: str | None, timeout_role: str | None) -> Layout:
    return Layout(
        generation="0.3.0",
        versions=versions,
        label=f"Chatchat {versions} ({what})",
        entries=EntryLayout(
            role=entries_role,
            container="MODEL_PLATFORMS",
            keyed_by="platform_name",
            concurrency_key="api_concurrencies",
            model_keys=("llm_models", "embed_models"),
        )
        if entries_role
        else None,
        timeout=Where(role=timeout_role, key="HTTPX_DEFAULT_TIMEOUT") if timeout_role else None,
        timeout_words=_031_TIMEOUT_WORDS,
        model_call_read_timeout=OPENAI_READ_TIMEOUT,
        model_call_attempts=OPENAI_ATTEMPTS,
        per_request_words=_PER_REQUEST_03,
        editable=False,
        not_editable_why=_030_WHY,
        default_model=Where(role=entries_role, key="DEFAULT_LLM_MODEL") if entries_role else None,
    )


V030_PACKAGE = _030(
    "0.3.0–0.3.0.20240506",
    "configs/*_config.py in the package",
    entries_role="model_config",
    timeout_role="server_config",
)
V030_UNDERSCORE = _030(
    "0.3.0.20240606",
    "configs/_*_config.py in the package",
    entries_role="model_config",
    timeout_role="server_config",
)
V030_JSON = _030(
    "0.3.0.20240610–0.3.0.20240625.1",
    "JSON workspace",
    entries_role=None,
    timeout_role="workspace_config",
)


# --- 0.3.1+: five YAML files -----------------------------------------------------------------------------

KB_031 = KbLayout(
    chat_route="/chat/kb_chat",
    chat_kb_key="kb_name",
    chat_model_key="model",
    chat_extra=(("mode", "local_kb"),),
    default_kb=Where(role="kb_settings", key="DEFAULT_KNOWLEDGE_BASE"),
    top_k=Where(role="kb_settings", key="VECTOR_SEARCH_TOP_K"),
    score_threshold=Where(role="kb_settings", key="SCORE_THRESHOLD"),
    vs_type=Where(role="kb_settings", key="DEFAULT_VS_TYPE"),
    chunk_size=Where(role="kb_settings", key="CHUNK_SIZE"),
    embed_model=Where(role="model_settings", key="DEFAULT_EMBEDDING_MODEL"),
    kb_root=Where(role="basic_settings", key="KB_ROOT_PATH"),
    defaults=(
        ("DEFAULT_KNOWLEDGE_BASE", "samples"),
        ("VECTOR_SEARCH_TOP_K", 3),
        ("SCORE_THRESHOLD", 2.0),
        ("DEFAULT_VS_TYPE", "faiss"),
        ("CHUNK_SIZE", 750),
        ("DEFAULT_EMBEDDING_MODEL", "bge-m3"),
    ),
    bm25_with_faiss=True,
    embed_calls_per_search=2,
    embed_calls_per_chat=3,  # kb_chat's own check_embed_model, then search_docs' check and the query
    docs_first=True,
    embed_words=(
        "on an ollama platform through langchain's OllamaEmbeddings: POST /api/embeddings, one text per "
        "request, a new connection each, no timeout (requests.post without one); every search first "
        "embeds 'this is a test' (check_embed_model), then the query"
    ),
    ingest_words=(
        "the WebUI uploads through ApiRequest with HTTPX_DEFAULT_TIMEOUT (webui_pages/utils.py); "
        "`chatchat kb -r -k NAME` ingests in-process with no HTTP call, and the WebUI's rebuild uses no "
        "timeout"
    ),
)

V031 = Layout(
    generation="0.3.1",
    versions="0.3.1+",
    label="Chatchat 0.3.1+ (*_settings.yaml)",
    entries=EntryLayout(
        role="model_settings",
        container="MODEL_PLATFORMS",
        keyed_by="platform_name",
        proxy_key="api_proxy",
        concurrency_key="api_concurrencies",
        auto_detect_key="auto_detect_model",
        model_keys=("llm_models", "embed_models"),
    ),
    timeout=Where(role="basic_settings", key="HTTPX_DEFAULT_TIMEOUT"),
    timeout_bounds_model_call=False,
    timeout_words=_031_TIMEOUT_WORDS,
    proxy_reaches_model_call=True,
    proxy_words=_(
        "passed to httpx as proxies=, which httpx 0.28 removed; HTTP(S)_PROXY/NO_PROXY in Chatchat's "
        "environment apply to hosts other than 127.0.0.1/localhost"
    ),
    model_call_read_timeout=OPENAI_READ_TIMEOUT,
    model_call_attempts=OPENAI_ATTEMPTS,
    per_request_words=_PER_REQUEST_03,
    code_patch_possible=True,
    bind_host=Where(role="basic_settings", key="DEFAULT_BIND_HOST"),
    server_hosts=(
        Where(role="basic_settings", key="API_SERVER"),
        Where(role="basic_settings", key="WEBUI_SERVER"),
    ),
    bind_host_words=_(
        "written to API_SERVER.host and WEBUI_SERVER.host, where the servers listen (DEFAULT_BIND_HOST "
        "only seeds their defaults, and `chatchat init` writes both: read in each 0.3.1.x settings.py)"
    ),
    api_server=Where(role="basic_settings", key="API_SERVER"),
    default_model=Where(role="model_settings", key="DEFAULT_LLM_MODEL"),
    max_tokens=Where(role="model_settings", key="MAX_TOKENS"),
    env_overrides=True,
    kb=KB_031,
    auto_detect_words=_(
        "on a platform with auto_detect_model: true Chatchat asks that platform for its models with no "
        "timeout: 0.3.1.2+ caches the answer 60 s (the first chat after each expiry pays); 0.3.1 and "
        "0.3.1.1 ask on every model lookup, and 0.3.1 fails the request when the platform is down"
    ),
)


def layout_for(loaded: LoadedInstall) -> Layout:
    """The layout of a loaded install: the generation detect found, refined by what the files hold."""
    install = loaded.install
    if install.generation == "0.3.1":
        return V031
    if install.generation == "0.3.0":
        if install.file("workspace_config") is not None:
            return V030_JSON
        return V030_UNDERSCORE
    if "MODEL_PLATFORMS" in loaded.data("model_config"):  # 0.3.0's configs/*_config.py in the package
        return V030_PACKAGE
    init = install.root / "configs" / "__init__.py"
    text: str | None = None
    if init.is_file():
        from tuner.install.files import read_bytes

        text = read_bytes(init, install.root).decode("utf-8", "replace")
    data = {role: loaded.data(role) for role in ("model_config", "server_config")}
    return layout_02(text, data)
