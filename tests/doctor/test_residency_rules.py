"""The placement rules on hand-made facts (pure): the version defaults and the silent cases."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.doctor.test_place_probe import FACTS
from tuner.doctor.model import ModelProbe, ProbeFacts, Reach
from tuner.doctor.residency import Residency, load_timeout_of
from tuner.doctor.residency_rules import ctx_reload, ctx_truncation, default_context
from tuner.install.prompts import PromptSize
from tuner.ollama_ps import Loaded

PROMPT = PromptSize(top_k=3, chunk_chars=750, history_rounds=3, sources=("kb_settings.yaml",))


@pytest.mark.parametrize(
    ("version", "ctx"),
    [("0.5.7", 2048), ("0.6.6", 2048), ("0.6.7", 4096), ("0.12.6", 4096), ("0.15.5", None), (None, None)],
)
def test_default_context_per_version(version: str | None, ctx: int | None) -> None:
    assert default_context(version) == ctx


def test_truncation_falls_back_to_the_version_default_without_context_length() -> None:
    old = Loaded(name="qwen2:7b", size=4, size_vram=4, context_length=None)
    r = Residency(model="qwen2:7b", before=None, after=old, version="0.6.2")
    [found] = ctx_truncation(replace(FACTS, prompt=PROMPT), r)
    assert "the default of Ollama 0.6.2" in found.evidence[1] and "2048" in found.title
    assert [f.setting for f in found.fixes][:2] == ["num_ctx=4096", "context_length=4096"]
    old_ollama = replace(r, version="0.5.7")
    assert "upgrade Ollama" in ctx_truncation(replace(FACTS, prompt=PROMPT), old_ollama)[0].fixes[1].text


def test_no_reload_finding_without_context_length() -> None:
    seen = Loaded(name="qwen2:7b", size=4, size_vram=4, context_length=None)
    model = ModelProbe("qwen2:7b", "ok", True, True, 2.0, 2.1, 300.0)
    probe = ProbeFacts(budget=8.0, elapsed=1.0, reach=Reach("ok", 0.001), model=model)
    assert ctx_reload(FACTS, probe, Residency(model="qwen2:7b", before=seen, after=seen)) == []


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [("", 300.0), ("10m", 600.0), ("90", 90.0), ("0", float("inf")), ("-1s", float("inf"))],
)
def test_load_timeout_read_as_ollama_reads_it(raw: str, seconds: float) -> None:
    assert load_timeout_of({"OLLAMA_LOAD_TIMEOUT": raw})[0] == seconds
