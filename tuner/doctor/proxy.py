"""Would a proxy carry Chatchat's requests to Ollama? httpx's rules, applied to a given proxy environment.

httpx (``trust_env=True``, which the openai client Chatchat builds uses) reads ``urllib.request.getproxies()``
(environment variables, else the Windows registry / macOS system settings): ``http``, ``https`` and ``all``
proxies, and ``NO_PROXY`` entries as curl reads them (``*`` turns proxies off; IP addresses and
``localhost`` match exactly; a name matches itself and its subdomains; ``scheme://host`` entries match that
scheme and host). The most specific matching pattern wins. Chatchat adds ``http://127.0.0.1`` and
``http://localhost`` to NO_PROXY at start-up (0.2.x and 0.3.1), so only other hosts are exposed.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx
from httpx._utils import URLPattern, is_ipv4_hostname, is_ipv6_hostname

from tuner.doctor.model import ProxyVerdict

CHATCHAT_NO_PROXY = ("http://127.0.0.1", "http://localhost")
_ENV_NAMES = {"http": "HTTP_PROXY", "https": "HTTPS_PROXY", "all": "ALL_PROXY"}


def proxy_map(proxy_info: Mapping[str, str], extra_no_proxy: tuple[str, ...] = ()) -> dict[str, str | None]:
    """httpx's ``get_environment_proxies`` for a given ``getproxies()`` result, plus NO_PROXY entries."""
    mounts: dict[str, str | None] = {}
    for scheme in ("http", "https", "all"):
        value = proxy_info.get(scheme)
        if value:
            mounts[f"{scheme}://"] = value if "://" in value else f"http://{value}"
    no_proxy = [h.strip() for h in proxy_info.get("no", "").split(",")] + list(extra_no_proxy)
    for host in no_proxy:
        if host == "*":
            return {}
        if not host:
            continue
        if "://" in host:
            mounts[host] = None
        elif is_ipv4_hostname(host):
            mounts[f"all://{host}"] = None
        elif is_ipv6_hostname(host):
            mounts[f"all://[{host}]"] = None
        elif host.lower() == "localhost":
            mounts[f"all://{host}"] = None
        else:
            mounts[f"all://*{host}"] = None
    return mounts


def proxy_for(
    url: str, proxy_info: Mapping[str, str], extra_no_proxy: tuple[str, ...] = ()
) -> tuple[str, str] | None:
    """(proxy URL, the pattern that chose it) httpx would send ``url`` through, or None for a direct call."""
    try:
        target = httpx.URL(url)
        patterns = sorted((URLPattern(k), k, v) for k, v in proxy_map(proxy_info, extra_no_proxy).items())
    except (httpx.InvalidURL, ValueError, TypeError):
        return None
    for pattern, key, value in patterns:
        if pattern.matches(target):
            return (value, key) if value is not None else None
    return None


def verdict(url: str, proxy_info: Mapping[str, str], environ: Mapping[str, str]) -> ProxyVerdict | None:
    """The proxy Chatchat's model calls to ``url`` would go through, with where it was configured."""
    found = proxy_for(url, proxy_info, CHATCHAT_NO_PROXY)
    if found is None:
        return None
    proxy, key = found
    scheme = key.split("://", 1)[0]
    var = _ENV_NAMES.get(scheme, scheme.upper())
    upper = {k.upper(): k for k in environ}
    source = upper.get(var, "")
    shown = f"{source}={environ[source]}" if source else f"{scheme} proxy from the system settings"
    no_proxy_var = upper.get("NO_PROXY")
    no_proxy = environ[no_proxy_var] if no_proxy_var else ""
    return ProxyVerdict(proxy, shown, no_proxy)
