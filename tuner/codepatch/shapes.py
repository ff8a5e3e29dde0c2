"""What the code patch recognises in Chatchat and what it puts there instead (data only, no libcst).

Two targets, both in ``chatchat/server/utils.py``, each recognised by the sha256 of its source (not by the
package version: the same function ships in several versions, see ``FunctionShape.shipped``):

- ``get_OpenAIClient``, which every model call of ``/chat/chat/completions`` (and Chatchat's own ``/v1``
  routes) goes through. As shipped it builds a new ``openai.AsyncClient`` per call with openai's defaults
  (600 s read timeout, 2 retries, a fresh connection pool that is never reused or closed).
- ``get_ChatOpenAI``, which builds the LangChain ``ChatOpenAI`` of ``/chat/kb_chat``, file chat and the
  knowledge-base summaries per request; langchain-openai 0.0.6 then builds two more openai clients (sync
  and async) with the same defaults.

The ``get_OpenAIClient`` replacement keeps its signature, its platform lookup and its ``api_proxy``
handling, and returns one client per platform (and event loop), built once with:

- ``timeout``: ``HTTPX_DEFAULT_TIMEOUT`` from basic_settings.yaml (connect, read, write and pool wait);
- ``max_retries``: the platform's ``api_max_retries`` (new key, default 2 = openai's default);
- an httpx pool of ``api_concurrencies`` connections (max and keep-alive): calls beyond that number
  wait for a free connection (a queue bounded by the timeout) instead of reaching the platform;
- ``keepalive_expiry``: the platform's ``api_keepalive_expiry`` (new key, seconds, default 30).

A changed setting (Chatchat reloads its YAML files when they change) builds a new client on the next call.

The ``get_ChatOpenAI`` replacement keeps its signature (default arguments included), ``local_wrap``,
streaming, callbacks and the rest of its parameters, and hands ``ChatOpenAI`` the platform's pooled clients
from ``get_OpenAIClient`` (``client``/``async_client``: langchain-openai 0.0.6 takes one ``http_client`` for
both its sync and async paths, so a pooled *openai* client per path is what fits), hence the same pool,
timeout and retries as ``/chat/chat/completions``. Where it cannot share them (a platform with
``api_proxy``, which the shipped function effectively ignores: langchain-openai 0.0.6 never gives
``openai_proxy`` to its client; no running event loop for the async client; a caller passing its own client
settings) it still passes ``timeout``/``max_retries`` and lets ``ChatOpenAI`` build its clients per call.
``local_wrap`` calls (Chatchat's own ``/v1``, which goes through the patched ``get_OpenAIClient``) are
left exactly as shipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath

MARKER = "# chatchat-tune patch v1"


@dataclass(frozen=True)
class FunctionShape:
    """A top-level function the patch replaces: where it is, the sha256 of each shipped form of it
    (``def`` line to its last line, LF newlines, without the blank lines or comments before it) with the
    langchain-chatchat versions that ship it, and the statements that replace every one of those forms
    (the last statement is the patched function, carrying ``MARKER``)."""

    file: str  # relative to the chatchat package folder, "/"-separated
    function: str
    shipped: tuple[tuple[str, str], ...]  # (sha256, versions that ship it)
    replacement: str

    def versions_of(self, sha256: str) -> str | None:
        """The versions that ship this form of the function; None for a form the patch does not know."""
        return next((versions for digest, versions in self.shipped if digest == sha256), None)


GET_OPENAI_CLIENT_PATCHED = '''\
# chatchat-tune patch v1 (opt-in; undo with `chatchat-tune rollback`)
# One pooled client per platform, reused across requests, instead of a new client per call. It reads
# HTTPX_DEFAULT_TIMEOUT (basic_settings.yaml) and, per platform in model_settings.yaml,
# api_concurrencies (pool size: more concurrent calls wait for a free connection),
# api_keepalive_expiry (seconds an idle connection is kept, default 30) and api_max_retries (default 2).
# 每个平台复用一个带连接池的客户端：超时取 HTTPX_DEFAULT_TIMEOUT；
# 并发上限取 api_concurrencies（超出的请求排队）；空闲连接保持 api_keepalive_expiry 秒（默认 30）；
# 失败重试 api_max_retries 次（默认 2）。
_tuned_openai_clients: Dict[Tuple[Any, ...], Tuple[Any, Any]] = {}


def get_OpenAIClient(
        platform_name: str = None,
        model_name: str = None,
        is_async: bool = True,
) -> Union[openai.Client, openai.AsyncClient]:
    """
    construct an openai Client for specified platform or model
    (reuses one pooled client per platform and event loop: chatchat-tune patch v1)
    """
    # chatchat-tune patch v1
    if platform_name is None:
        platform_info = get_model_info(
            model_name=model_name, platform_name=platform_name
        )
        if platform_info is None:
            raise RuntimeError(
                f"cannot find configured platform for model: {model_name}"
            )
        platform_name = platform_info.get("platform_name")
    platform_info = get_config_platforms().get(platform_name)
    assert platform_info, f"cannot find configured platform: {platform_name}"
    timeout = float(Settings.basic_settings.HTTPX_DEFAULT_TIMEOUT)
    concurrencies = max(1, int(platform_info.get("api_concurrencies") or 5))
    keepalive_expiry = float(platform_info.get("api_keepalive_expiry", 30.0))
    max_retries = max(0, int(platform_info.get("api_max_retries", 2)))
    api_proxy = platform_info.get("api_proxy")
    loop = None
    if is_async:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
    key = (
        platform_name, is_async, platform_info.get("api_base_url"), platform_info.get("api_key"),
        api_proxy, timeout, concurrencies, keepalive_expiry, max_retries,
    )
    cached = _tuned_openai_clients.get(key)
    if cached is not None and cached[0] is loop:
        return cached[1]
    params = {
        "base_url": platform_info.get("api_base_url"),
        "api_key": platform_info.get("api_key"),
        "timeout": httpx.Timeout(timeout),
        "max_retries": max_retries,
    }
    httpx_params = {
        "timeout": httpx.Timeout(timeout),
        "limits": httpx.Limits(
            max_connections=concurrencies,
            max_keepalive_connections=concurrencies,
            keepalive_expiry=keepalive_expiry,
        ),
        "follow_redirects": True,
    }
    if api_proxy:
        httpx_params.update(
            proxies=api_proxy,
            transport=httpx.HTTPTransport(local_address="0.0.0.0"),
        )

    if is_async:
        params["http_client"] = httpx.AsyncClient(**httpx_params)
        client = openai.AsyncClient(**params)
    else:
        params["http_client"] = httpx.Client(**httpx_params)
        client = openai.Client(**params)
    _tuned_openai_clients[key] = (loop, client)
    return client
'''

GET_OPENAI_CLIENT = FunctionShape(
    file="server/utils.py",
    function="get_OpenAIClient",
    # identical in all four 0.3.1.x wheels (docs/versions.md §3)
    shipped=(
        (
            "31a552b1442d1e0c06e756040dffffdc6b3c1928f1086d421cc486f4a3815ef5",
            "0.3.1, 0.3.1.1, 0.3.1.2, 0.3.1.3",
        ),
    ),
    replacement=GET_OPENAI_CLIENT_PATCHED,
)

GET_CHAT_OPENAI_PATCHED = '''\
# chatchat-tune patch v1 (opt-in; undo with `chatchat-tune rollback`)
# ChatOpenAI (knowledge-base chat, file chat) uses the platform's pooled clients from get_OpenAIClient
# instead of new ones per call: same HTTPX_DEFAULT_TIMEOUT, api_concurrencies, api_keepalive_expiry and
# api_max_retries. A platform with api_proxy (ignored by ChatOpenAI) or a call outside an event loop gets
# clients per call, still with that timeout and retries; local_wrap (Chatchat's own /v1) is unchanged.
# 知识库对话、文件对话的 ChatOpenAI 复用 get_OpenAIClient 的连接池客户端（超时、并发、保持时间、重试同上）；
# 设置了 api_proxy 的平台或无事件循环时按次创建客户端，但超时与重试相同；local_wrap 不变。
_TUNED_CHAT_OWN_CLIENT_ARGS = (
    "client", "async_client", "http_client", "request_timeout", "timeout", "max_retries",
    "default_headers", "default_query", "openai_organization", "organization",
)


def _tuned_chat_clients(model_info: Dict, kwargs: Dict) -> Dict:
    """
    ChatOpenAI arguments for the model's platform: its pooled clients (those of get_OpenAIClient),
    timeout and max_retries (chatchat-tune patch v1)
    """
    platform_name = model_info.get("platform_name")
    platform_info = get_config_platforms().get(platform_name) if platform_name else None
    if not platform_info or any(k in kwargs for k in _TUNED_CHAT_OWN_CLIENT_ARGS):
        return {}
    out = {
        "request_timeout": httpx.Timeout(float(Settings.basic_settings.HTTPX_DEFAULT_TIMEOUT)),
        "max_retries": max(0, int(platform_info.get("api_max_retries", 2))),
    }
    if platform_info.get("api_proxy"):
        return out
    out["client"] = get_OpenAIClient(platform_name=platform_name, is_async=False).chat.completions
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return out
    out["async_client"] = get_OpenAIClient(platform_name=platform_name, is_async=True).chat.completions
    return out


def get_ChatOpenAI(
        model_name: str = get_default_llm(),
        temperature: float = Settings.model_settings.TEMPERATURE,
        max_tokens: int = Settings.model_settings.MAX_TOKENS,
        streaming: bool = True,
        callbacks: List[Callable] = [],
        verbose: bool = True,
        local_wrap: bool = False,  # use local wrapped api
        **kwargs: Any,
) -> ChatOpenAI:
    # chatchat-tune patch v1: pooled clients, timeout and retries (_tuned_chat_clients)
    model_info = get_model_info(model_name)
    params = dict(
        streaming=streaming,
        verbose=verbose,
        callbacks=callbacks,
        model_name=model_name,
        temperature=temperature,
        max_tokens=max_tokens,
        **kwargs,
    )
    # remove paramters with None value to avoid openai validation error
    for k in list(params):
        if params[k] is None:
            params.pop(k)

    try:
        if local_wrap:
            params.update(
                openai_api_base=f"{api_address()}/v1",
                openai_api_key="EMPTY",
            )
        else:
            params.update(
                openai_api_base=model_info.get("api_base_url"),
                openai_api_key=model_info.get("api_key"),
                openai_proxy=model_info.get("api_proxy"),
            )
            params.update(_tuned_chat_clients(model_info, kwargs))
        model = ChatOpenAI(**params)
    except Exception as e:
        logger.exception(f"failed to create ChatOpenAI for model: {model_name}.")
        model = None
    return model
'''

GET_CHAT_OPENAI = FunctionShape(
    file="server/utils.py",
    function="get_ChatOpenAI",
    # 0.3.1.2 turned `logger.error(..., exc_info=True)` into `logger.exception(...)`; nothing else differs
    shipped=(
        ("897feb90cac96bc588863c3c6b33f0f5b39c191a9b88292a950b63e6ffe0f5ea", "0.3.1, 0.3.1.1"),
        ("63f9ef1532533305060cabce61867d37e3ca4528e6da1e6c9985b6e8041ae471", "0.3.1.2, 0.3.1.3"),
    ),
    replacement=GET_CHAT_OPENAI_PATCHED,
)

SHAPES: tuple[FunctionShape, ...] = (GET_OPENAI_CLIENT, GET_CHAT_OPENAI)


def shapes_at(path: PurePath) -> tuple[FunctionShape, ...]:
    """The shapes the patch rewrites in the file at ``path`` (``.../chatchat/server/utils.py``); () for any
    other file."""
    return tuple(
        s for s in SHAPES if path.parts[-len(s.file.split("/")) - 1 :] == ("chatchat", *s.file.split("/"))
    )


# The whole file as each langchain-chatchat 0.3.1.x wheel ships it (informational: the functions' own
# hashes decide, so an install with unrelated local edits elsewhere in the file can still be patched).
SHIPPED_FILE_SHA256: dict[str, dict[str, str]] = {
    "server/utils.py": {
        "0.3.1": "59d058489414fe4d4cc7c654e88f273a41731331f97428472d0d8c9931d64428",
        "0.3.1.1": "b3b31f17b1e75a514fce4db57be82e15ee56d9087888e07cb9c8ea2b979fac80",
        "0.3.1.2": "347ad683a89edca3ebc02847c9060e1984945ee71fee48c6b36e0348060fa96f",
        "0.3.1.3": "347ad683a89edca3ebc02847c9060e1984945ee71fee48c6b36e0348060fa96f",
    },
}
