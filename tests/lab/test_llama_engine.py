"""The llama-cpp lab engine and the tiny generated model, on real llama.cpp inference."""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import math
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tuner.errors import UserError
from tuner.lab.engine import Chunk, Final, GenRequest, Message, ModelSpec

if TYPE_CHECKING:
    from tuner.lab.llama import LlamaCppEngine

HAVE_LLAMA = all(importlib.util.find_spec(m) is not None for m in ("llama_cpp", "gguf"))
needs_llama = pytest.mark.skipif(
    not HAVE_LLAMA, reason="llama-cpp-python and gguf are not installed (pip install 'chatchat-tune[llama]')"
)
pytestmark = [pytest.mark.llama, needs_llama, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tuner.lab.tinymodel import ensure_tiny_model

    return ensure_tiny_model(tmp_path_factory.mktemp("tiny-cache"))


def spec_for(path: Path, name: str = "tiny:latest", family: str = "llama") -> ModelSpec:
    return ModelSpec(
        name=name,
        size_bytes=path.stat().st_size if path.exists() else 0,
        size_vram=0,
        load_seconds=0.0,
        prompt_tokens_per_s=1.0,
        gen_tokens_per_s=1.0,
        family=family,
        path=str(path),
    )


async def collect(stream: AsyncIterator[Chunk | Final]) -> tuple[str, Final]:
    items = [item async for item in stream]
    final = items[-1]
    assert isinstance(final, Final)
    assert all(isinstance(item, Chunk) for item in items[:-1])
    return "".join(item.text for item in items[:-1] if isinstance(item, Chunk)), final


def engine(seed: int = 0) -> LlamaCppEngine:
    from tuner.lab.llama import LlamaCppEngine

    return LlamaCppEngine(time_scale=1.0, seed=seed)


# --- the tiny model -------------------------------------------------------------------------------------


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_tiny_model_is_deterministic_and_written_once(tmp_path: Path) -> None:
    from tuner.lab.tinymodel import ensure_tiny_model

    first = ensure_tiny_model(tmp_path / "a")
    stamp = first.stat().st_mtime_ns
    again = ensure_tiny_model(tmp_path / "a")
    assert again == first
    assert again.stat().st_mtime_ns == stamp  # reused, not rewritten
    other_dir = ensure_tiny_model(tmp_path / "b")
    assert digest(other_dir) == digest(first)  # same seed, same bytes
    other_seed = ensure_tiny_model(tmp_path / "a", seed=7)
    assert other_seed != first and digest(other_seed) != digest(first)
    assert not list((tmp_path / "a").glob("*.tmp"))  # no temp file left behind
    assert 100_000 < first.stat().st_size < 8_000_000


def test_concurrent_writers_agree(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from tuner.lab.tinymodel import ensure_tiny_model

    with ThreadPoolExecutor(4) as pool:
        paths = list(pool.map(lambda _: ensure_tiny_model(tmp_path), range(4)))
    assert len(set(paths)) == 1
    assert [p.name for p in tmp_path.iterdir()] == [paths[0].name]
    assert digest(paths[0]) == digest(ensure_tiny_model(tmp_path / "other"))


def test_tiny_model_replaces_a_truncated_file(tmp_path: Path) -> None:
    from tuner.lab.tinymodel import ensure_tiny_model, tiny_model_name

    broken = tmp_path / tiny_model_name()
    broken.write_bytes(b"GGUF")
    path = ensure_tiny_model(tmp_path)
    assert path == broken and path.stat().st_size > 100_000


def test_cache_dir_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tuner.lab.tinymodel import default_cache_dir, ensure_tiny_model

    monkeypatch.setenv("CHATCHAT_TUNE_CACHE", str(tmp_path / "cache"))
    assert default_cache_dir() == tmp_path / "cache"
    assert ensure_tiny_model().parent == tmp_path / "cache"


def test_tiny_vocabulary_tokenizes_words_and_has_a_chat_template(tiny_path: Path) -> None:
    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(tiny_path), n_ctx=256, verbose=False)
    try:
        tokens = llm.tokenize(b"hello the world")
        assert tokens[0] == llm.token_bos()
        assert [llm.detokenize([t]) for t in tokens[1:]] == [b" hello", b" the", b" world"]
        assert "tokenizer.chat_template" in llm.metadata
        assert (
            llm.detokenize(llm.tokenize("日本 ünïcode".encode(), add_bos=False)) == " 日本 ünïcode".encode()
        )
    finally:
        llm.close()


# --- the engine -----------------------------------------------------------------------------------------


def test_completion_streams_chunks_then_final(tiny_path: Path) -> None:
    async def run() -> None:
        model = await engine().load(spec_for(tiny_path), 1024)
        try:
            text, final = await collect(model.generate(GenRequest(prompt="how are you", max_tokens=12)))
            assert text.strip()
            assert final.done_reason == "length"
            assert final.eval_count == 12
            assert final.prompt_eval_count == 4  # BOS + 3 words
            assert final.prompt_eval_seconds >= 0 and final.eval_seconds >= 0
        finally:
            await model.close()

    asyncio.run(run())


def test_chat_uses_the_template_and_counts_the_formatted_prompt(tiny_path: Path) -> None:
    async def run() -> None:
        model = await engine().load(spec_for(tiny_path), 1024)
        try:
            messages = (Message("system", "be brief"), Message("user", "hello"))
            text, final = await collect(model.generate(GenRequest(messages=messages, max_tokens=8)))
            assert text and final.eval_count == 8 and final.done_reason == "length"
            # role markers and turn ends make the chat prompt longer than its two words
            assert final.prompt_eval_count > 10
        finally:
            await model.close()

    asyncio.run(run())


def test_same_seed_same_text_across_loads(tiny_path: Path) -> None:
    async def once(seed: int) -> str:
        model = await engine(seed=5).load(spec_for(tiny_path), 512)
        try:
            request = GenRequest(prompt="tell me a story", max_tokens=20, temperature=1.0, seed=seed)
            return (await collect(model.generate(request)))[0]
        finally:
            await model.close()

    async def run() -> None:
        a, b, c = await once(11), await once(11), await once(12)
        assert a == b
        assert a != c

    asyncio.run(run())


def test_stop_sequence_ends_with_stop(tiny_path: Path) -> None:
    async def run() -> None:
        model = await engine().load(spec_for(tiny_path), 512)
        try:
            base = GenRequest(prompt="the world", max_tokens=24, temperature=0.0)
            text, _ = await collect(model.generate(base))
            word = text.split()[3]
            stopped = GenRequest(prompt="the world", max_tokens=24, temperature=0.0, stop=(word,))
            short, final = await collect(model.generate(stopped))
            assert final.done_reason == "stop"
            assert word not in short and text.startswith(short)
        finally:
            await model.close()

    asyncio.run(run())


def test_closing_the_stream_stops_generation_and_frees_the_turn(tiny_path: Path) -> None:
    async def run() -> None:
        model = await engine().load(spec_for(tiny_path), 4096)
        try:
            stream = model.generate(GenRequest(prompt="go on", max_tokens=None))  # runs to num_ctx if left
            got = [await stream.__anext__() for _ in range(3)]
            assert all(isinstance(item, Chunk) for item in got)
            await asyncio.wait_for(stream.aclose(), timeout=10)
            # the model is free again at once: a short generation completes
            _, final = await asyncio.wait_for(
                collect(model.generate(GenRequest(prompt="hi", max_tokens=4))), timeout=10
            )
            assert final.eval_count == 4
        finally:
            await model.close()

    asyncio.run(run())


def test_cancelling_the_consumer_task_stops_generation(tiny_path: Path) -> None:
    async def run() -> None:
        model = await engine().load(spec_for(tiny_path), 4096)
        seen: list[Chunk | Final] = []

        async def consume() -> None:
            async for item in model.generate(GenRequest(prompt="go on", max_tokens=None)):
                seen.append(item)

        try:
            task = asyncio.create_task(consume())
            while len(seen) < 3:
                await asyncio.sleep(0.001)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(task, timeout=10)
            assert not any(isinstance(item, Final) for item in seen)
            _, final = await collect(model.generate(GenRequest(prompt="hi", max_tokens=2)))
            assert final.eval_count == 2
        finally:
            await model.close()

    asyncio.run(run())


def test_close_is_idempotent_and_stops_running_generations(tiny_path: Path) -> None:
    async def run() -> None:
        model = await engine().load(spec_for(tiny_path), 4096)
        stream = model.generate(GenRequest(prompt="go on", max_tokens=None))
        assert isinstance(await stream.__anext__(), Chunk)
        await asyncio.wait_for(model.close(), timeout=10)
        await model.close()
        assert model.closed
        with pytest.raises(UserError, match="unloaded during generation"):
            await asyncio.wait_for(
                collect(stream), timeout=10
            )  # the waiting consumer is told, not left hanging
        with pytest.raises(UserError, match="unloaded"):
            await collect(model.generate(GenRequest(prompt="hi", max_tokens=2)))
        with pytest.raises(UserError, match="unloaded"):
            await model.embed(["hi"])

    asyncio.run(run())


def test_concurrent_generations_take_turns(tiny_path: Path) -> None:
    async def run() -> None:
        model = await engine().load(spec_for(tiny_path), 1024)
        try:
            requests = [GenRequest(prompt=f"question {i}", max_tokens=6, seed=i) for i in range(4)]
            results = await asyncio.gather(*(collect(model.generate(r)) for r in requests))
            assert [final.eval_count for _, final in results] == [6, 6, 6, 6]
        finally:
            await model.close()

    asyncio.run(run())


def test_cancelled_load_leaves_nothing_behind(tiny_path: Path) -> None:
    async def run() -> None:
        eng = engine()
        task = asyncio.create_task(eng.load(spec_for(tiny_path), 512))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.5)  # the worker thread finishes the load and the model is freed
        model = await eng.load(spec_for(tiny_path), 512)
        await model.close()

    asyncio.run(run())


def test_embeddings_are_normalised_and_deterministic(tiny_path: Path) -> None:
    async def run() -> None:
        eng = engine()
        chat = await eng.load(spec_for(tiny_path), 512)
        embedder = await eng.load(spec_for(tiny_path, "bge:latest", family="bert"), 512)
        try:
            a = await chat.embed(["hello world", "something else", ""])
            b = await embedder.embed(["hello world"])
            assert [len(v) for v in a] == [64, 64, 64]
            assert all(math.isclose(math.fsum(x * x for x in v), 1.0, rel_tol=1e-4) for v in a)
            assert all(math.isclose(x, y, abs_tol=1e-5) for x, y in zip(a[0], b[0], strict=True))
            assert await embedder.embed(["hello world"]) == b
            assert a[0] != a[1]
            assert await chat.embed([]) == []
            # an embedding model can still generate: a second instance is opened on demand
            _, final = await collect(embedder.generate(GenRequest(prompt="hi", max_tokens=3)))
            assert final.eval_count == 3
        finally:
            await chat.close()
            await embedder.close()

    asyncio.run(run())


def test_engine_uses_its_model_path_or_the_tiny_model(
    tiny_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tuner.lab.llama import LlamaCppEngine

    bare = ModelSpec("qwen2:7b", 1, 0, 0.0, 1.0, 1.0)
    assert LlamaCppEngine(model_path=tiny_path).resolve_path(bare) == tiny_path
    monkeypatch.setenv("CHATCHAT_TUNE_CACHE", str(tmp_path))
    assert LlamaCppEngine().resolve_path(bare).parent == tmp_path


def test_missing_or_invalid_model_file_is_a_user_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a model at all" * 100)

    async def run(path: Path) -> None:
        await engine().load(spec_for(path), 512)

    with pytest.raises(UserError, match="no such model file"):
        asyncio.run(run(tmp_path / "absent.gguf"))
    with pytest.raises(UserError, match="cannot load"):
        asyncio.run(run(junk))
