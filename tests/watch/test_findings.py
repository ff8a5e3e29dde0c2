"""The doctor's rules on what a round saw (tuner.watch.findings): pure, no server."""

from __future__ import annotations

from dataclasses import replace

from tests.watch.test_drift import obs, probe
from tuner.doctor.model import InstallFacts
from tuner.watch.findings import round_findings

FACTS = InstallFacts(
    label="Chatchat 0.3.1",
    entry="ollama",
    ollama_url="http://localhost:11434/v1",
    ollama_root="http://localhost:11434",
    model="qwen:7b",
    chatchat_api=None,
    timeout=300.0,
    timeout_source="HTTPX_DEFAULT_TIMEOUT",
    timeout_bounds_model_call=True,
    code_patched=None,
    api_concurrencies=5,
)


def codes(found: tuple) -> set[str]:  # type: ignore[type-arg]
    return {f.code for f in found}


def test_a_model_not_pulled_and_a_slow_localhost_are_found_without_a_chat() -> None:
    o = obs(1000.0, [])
    assert codes(round_findings(FACTS, o, None, listed=True)) == set()
    assert "model_missing" in codes(round_findings(FACTS, o, None, listed=False))
    by_name = replace(
        probe("version", 1000.0, total=2.0), attempts=("::1 failed 2000.0 ms", "127.0.0.1 ok 0.1 ms")
    )
    by_address = replace(probe("version_by_address", 1000.0, total=0.001), detail="127.0.0.1")
    found = round_findings(FACTS, o, None, listed=True, pair=(by_name, by_address))
    assert codes(found) == {"localhost_slow"} and found[0].severity == "warn"


def test_ollama_down_is_an_error_finding() -> None:
    down = replace(obs(1000.0, None), probes=(probe("version", 1000.0, ok=False),))
    found = round_findings(FACTS, down, None)
    assert codes(found) == {"ollama_down"} and found[0].severity == "error"
