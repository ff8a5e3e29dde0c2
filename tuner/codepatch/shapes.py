"""What the code patch recognises in Chatchat and what it puts there instead (data only, no libcst).

One target today: ``chatchat/server/utils.py``'s ``get_OpenAIClient``, which every model call of
``/chat/chat/completions`` (and Chatchat's own ``/v1`` routes) goes through. As shipped it builds a new
``openai.AsyncClient`` per call with openai's defaults (600 s read timeout, 2 retries, a fresh connection
pool that is never reused or closed). The replacement keeps its signature, its platform lookup and its
``api_proxy`` handling, and returns one client per platform (and event loop), built once with:

- ``timeout``: ``HTTPX_DEFAULT_TIMEOUT`` from basic_settings.yaml (connect, read, write and pool wait);
- ``max_retries``: the platform's ``api_max_retries`` (new key, default 2 = openai's default);
- an httpx pool of ``api_concurrencies`` connections (max and keep-alive): calls beyond that number
  wait for a free connection (a queue bounded by the timeout) instead of reaching the platform;
- ``keepalive_expiry``: the platform's ``api_keepalive_expiry`` (new key, seconds, default 30).

A changed setting (Chatchat reloads its YAML files when they change) builds a new client on the next call.
"""

from __future__ import annotations

from dataclasses import dataclass

MARKER = "# chatchat-tune patch v1"


@dataclass(frozen=True)
class FunctionShape:
    """A top-level function the patch replaces: where it is, the sha256 of the shipped function's source
    (``def`` line to its last line, LF newlines, without the blank lines or comments before it), and
    the statements that replace it (the last one is the patched function, carrying ``MARKER``)."""

    file: str  # relative to the chatchat package folder, "/"-separated
    function: str
    shipped_sha256: str
    replacement: str


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
    shipped_sha256="31a552b1442d1e0c06e756040dffffdc6b3c1928f1086d421cc486f4a3815ef5",
    replacement=GET_OPENAI_CLIENT_PATCHED,
)

SHAPES: tuple[FunctionShape, ...] = (GET_OPENAI_CLIENT,)

# The whole file as langchain-chatchat 0.3.1.3's wheel ships it (informational: the function's own hash
# is what decides, so an install with unrelated local edits elsewhere in the file can still be patched).
SHIPPED_FILE_SHA256: dict[str, str] = {
    "server/utils.py": "347ad683a89edca3ebc02847c9060e1984945ee71fee48c6b36e0348060fa96f",
}
