"""What an install's settings say that the doctor's rules need: endpoints, timeout, platforms. Pure.

Everything here is asked of the install layer (tuner.install): this module only picks what the rules use.
"""

from __future__ import annotations

from tuner.doctor.model import InstallFacts, Platform
from tuner.install.endpoints import endpoints, timeout_setting
from tuner.install.entries import entry_named
from tuner.install.files import LoadedInstall
from tuner.install.prompts import prompt_size


def install_facts(loaded: LoadedInstall, code_patched: bool | None = None) -> InstallFacts:
    layout = loaded.layout
    spec = layout.entries
    ep = endpoints(loaded)
    timeout, source = timeout_setting(loaded)
    entry = entry_named(loaded, ep.ollama_entry) if ep.ollama_entry else None
    concurrencies: int | None = None
    proxy: str | None = None
    if entry is not None and spec is not None:
        if spec.concurrency_key:
            value = entry.data.get(spec.concurrency_key)
            concurrencies = value if isinstance(value, int) and not isinstance(value, bool) else None
        if spec.proxy_key:
            proxy = str(entry.data.get(spec.proxy_key) or "") or None
    auto = tuple(
        Platform(e.name, str(e.data.get("platform_type")), e.url)
        for e in loaded.entries
        if spec is not None and spec.auto_detect_key and e.data.get(spec.auto_detect_key) is True and e.url
    )
    return InstallFacts(
        label=layout.label,
        entry=ep.ollama_entry,
        ollama_url=ep.ollama_url,
        ollama_root=ep.ollama_root,
        model=ep.model,
        chatchat_api=ep.chatchat_api,
        timeout=timeout,
        timeout_source=source,
        timeout_bounds_model_call=layout.timeout_bounds_model_call or bool(code_patched),
        code_patched=code_patched,
        api_concurrencies=concurrencies,
        auto_detect=auto,
        proxy_setting=proxy,
        model_call_read_timeout=layout.model_call_read_timeout,
        model_call_attempts=layout.model_call_attempts,
        per_request_words=layout.per_request_words,
        code_patch_possible=layout.code_patch_possible,
        prompt=prompt_size(loaded),
    )
