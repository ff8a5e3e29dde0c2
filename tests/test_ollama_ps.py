"""tuner.ollama_ps: the one reader of ``GET /api/ps`` (search, doctor and watch all go through it)."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from tuner.ollama_ps import MAX_MODELS, Loaded, parse_ps

# The shape Ollama v0.12 answers with (fields as in api/types.go ProcessModelResponse), written by hand.
ANSWER = """{"models": [
 {"name": "qwen2:7b", "model": "qwen2:7b", "size": 5137025024, "digest": "dd314f039b9d",
  "details": {"format": "gguf", "family": "qwen2", "parameter_size": "7.6B", "quantization_level": "Q4_0"},
  "expires_at": "2026-11-29T16:30:00.123456789+08:00", "size_vram": 2968510464, "context_length": 4096},
 {"model": "quentinz/bge-large-zh-v1.5:latest", "size": 705000000, "size_vram": 705000000,
  "expires_at": "2318-03-04T10:11:12Z"}
]}"""


def test_reads_ollamas_answer() -> None:
    chat, embed = parse_ps(json.loads(ANSWER)) or ()
    assert chat == Loaded(
        name="qwen2:7b",
        size=5137025024,
        size_vram=2968510464,
        expires_at="2026-11-29T16:30:00.123456789+08:00",
        context_length=4096,
    )
    assert round(chat.cpu_share, 2) == 0.42  # what `ollama ps` prints as 42%/58% CPU/GPU
    assert embed.name == "quentinz/bge-large-zh-v1.5:latest"  # "model" when "name" is absent
    assert embed.context_length is None and embed.cpu_share == 0.0  # an Ollama before v0.10.0


def test_not_ollamas_shape_is_none_and_an_empty_list_is_nothing_loaded() -> None:
    for data in (None, [], "x", {"models": {}}, {"error": "no"}):
        assert parse_ps(data) is None
    assert parse_ps({"models": []}) == ()


def test_wrong_types_never_pass_as_numbers() -> None:
    (m,) = parse_ps({"models": [{"name": 7, "size": True, "size_vram": -5, "context_length": "4096"}]}) or ()
    assert m == Loaded(name="7", size=0, size_vram=0, context_length=None)


def test_a_server_listing_too_much_is_cut() -> None:
    models = parse_ps({"models": [{"name": "x" * 10_000, "size": 1}] * 1000}) or ()
    assert len(models) == MAX_MODELS and len(models[0].name) == 200


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)


@given(st.dictionaries(st.sampled_from(["models", "x"]), JSON | st.lists(JSON, max_size=3), max_size=2))
def test_any_json_is_read_or_refused_never_raises(data: dict[str, object]) -> None:
    models = parse_ps(data)
    assert models is None or all(isinstance(m, Loaded) and m.size >= 0 for m in models)
