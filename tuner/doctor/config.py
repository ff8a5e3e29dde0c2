"""What an install's settings say that the doctor's rules need: endpoints, timeout, platforms. Pure."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from tuner.doctor.model import InstallFacts, Platform
from tuner.install.environ import effective_number
from tuner.install.files import LoadedInstall
from tuner.knobs.catalogue import ollama_entries
from tuner.measure.endpoints import endpoints

_LABELS = {"0.2": "Chatchat 0.2.x", "0.3.1": "Chatchat 0.3.1.x", "0.3.0": "Chatchat 0.3.0"}


def _timeout(loaded: LoadedInstall) -> tuple[float | None, str]:
    role = {"0.2": "server_config", "0.3.1": "basic_settings"}.get(loaded.install.generation)
    if role is None:
        return None, "-"
    return effective_number(loaded, role, "HTTPX_DEFAULT_TIMEOUT")


def _platforms(loaded: LoadedInstall) -> list[dict[str, object]]:
    value = loaded.data("model_settings").get("MODEL_PLATFORMS")
    return [p for p in value if isinstance(p, dict)] if isinstance(value, list) else []


def base_url(url: str) -> str:
    """``http://host:9997/v1`` → ``http://host:9997`` (what Chatchat hands the xinference client)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "", "", ""))


def install_facts(loaded: LoadedInstall, code_patched: bool | None = None) -> InstallFacts:
    gen = loaded.install.generation
    ep = endpoints(loaded)
    timeout, source = _timeout(loaded)
    concurrencies: int | None = None
    proxy: str | None = None
    auto: list[Platform] = []
    for p in _platforms(loaded):
        if p.get("platform_name") == ep.ollama_entry:
            value = p.get("api_concurrencies")
            concurrencies = value if isinstance(value, int) and not isinstance(value, bool) else None
            proxy = str(p.get("api_proxy") or "") or None
        if p.get("auto_detect_model") is True and isinstance(p.get("api_base_url"), str):
            auto.append(
                Platform(str(p.get("platform_name")), str(p.get("platform_type")), str(p["api_base_url"]))
            )
    if gen == "0.2":
        for e in ollama_entries(loaded):
            if e.name == ep.ollama_entry:
                raw = loaded.data("model_config").get("ONLINE_LLM_MODEL")
                entry = raw.get(e.name) if isinstance(raw, dict) else None
                proxy = str(entry.get("openai_proxy") or "") or None if isinstance(entry, dict) else None
    bounds = gen == "0.2" or bool(code_patched)
    return InstallFacts(
        generation=gen,
        label=_LABELS.get(gen, f"Chatchat {gen}"),
        entry=ep.ollama_entry,
        ollama_url=ep.ollama_url,
        ollama_root=ep.ollama_root,
        model=ep.model,
        chatchat_api=ep.chatchat_api,
        timeout=timeout,
        timeout_source=source,
        timeout_bounds_model_call=bounds,
        code_patched=code_patched,
        api_concurrencies=concurrencies if gen == "0.3.1" else None,
        auto_detect=tuple(auto),
        proxy_setting=proxy,
    )
