"""OLLAMA_HOST and the other OLLAMA_* values read as Ollama reads them (envconfig/config.go)."""

from __future__ import annotations

import pytest

from tuner.ollama_env import env_count, parse_host


@pytest.mark.parametrize(
    ("value", "host", "port", "client"),
    [
        ("", "127.0.0.1", 11434, "http://127.0.0.1:11434"),
        ("0.0.0.0", "0.0.0.0", 11434, "http://127.0.0.1:11434"),
        (":11500", "", 11500, "http://127.0.0.1:11500"),
        ("example.lan:8080", "example.lan", 8080, "http://example.lan:8080"),
        ("http://127.0.0.1:9000", "127.0.0.1", 9000, "http://127.0.0.1:9000"),
        ("http://box", "box", 80, "http://box:80"),
        ("https://box", "box", 443, "https://box:443"),
        ("[::1]:9", "::1", 9, "http://[::1]:9"),
        ("::", "::", 11434, "http://127.0.0.1:11434"),
        ("box:notaport", "box", 11434, "http://box:11434"),
        (' "127.0.0.1:8080" ', "127.0.0.1", 8080, "http://127.0.0.1:8080"),
        ("http://127.0.0.1:11434/ollama", "127.0.0.1", 11434, "http://127.0.0.1:11434"),
    ],
)
def test_ollama_host_forms(value: str, host: str, port: int, client: str) -> None:
    parsed = parse_host(value)
    assert (parsed.host, parsed.port, parsed.client_url) == (host, port, client)


@pytest.mark.parametrize(("value", "count"), [("4", 4), (" '2' ", 2), ("0", None), ("x", None), ("-1", None)])
def test_counts_zero_or_junk_mean_ollama_picks(value: str, count: int | None) -> None:
    assert env_count({"OLLAMA_NUM_PARALLEL": value}, "OLLAMA_NUM_PARALLEL") == count
    assert env_count({}, "OLLAMA_NUM_PARALLEL") is None
