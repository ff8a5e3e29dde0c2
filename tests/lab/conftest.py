"""Fixtures for the lab tests: the lab runs in its own process on 127.0.0.1 (``LabProcess``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tuner.lab.process import LabProcess

# A chat model whose costs are easy to reason about under time_scale=0.01:
# load 0.3 s, 10 ms per generated token, prompt eval negligible.
SLOW = {
    "name": "qwen2:7b",
    "size_bytes": 4_400_000_000,
    "size_vram": 0,
    "load_seconds": 30.0,
    "prompt_tokens_per_s": 1_000_000.0,
    "gen_tokens_per_s": 1.0,
}
OTHER = {**SLOW, "name": "qwen:7b"}
EMBED = {**SLOW, "name": "quentinz/bge-large-zh-v1.5:latest", "family": "bert", "load_seconds": 1.0}


@pytest.fixture(autouse=True)
def _no_ollama_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """``lab serve`` reads OLLAMA_HOST as Ollama does: never the machine's own (tests/conftest.py keeps
    proxies off)."""
    monkeypatch.delenv("OLLAMA_HOST", raising=False)


@pytest.fixture
def make_lab(start_lab: Callable[..., LabProcess]) -> Callable[..., LabProcess]:
    def start(**kwargs: Any) -> LabProcess:
        kwargs = {"time_scale": 0.01, "models": [SLOW, OTHER, EMBED], **kwargs}
        if kwargs["models"] is None:  # keep the profile's own models
            del kwargs["models"]
        return start_lab(**kwargs)

    return start


@pytest.fixture(scope="module")
def tiny_lab() -> Iterator[LabProcess]:
    """The built-in ``tiny`` profile, shared by a module's tests."""
    with LabProcess("tiny") as lab:
        yield lab
