"""The whole path of a Chatchat answer, on a real Chatchat 0.3.1.3 with the lab as its Ollama for chat AND
embeddings: knowledge bases made through Chatchat's own API, ``bench --path kb|search`` splitting the time,
and ``doctor`` naming the path's causes on their scenario and staying silent on the healthy one.

One Chatchat serves the module (it starts in 7–20 s). Two knowledge bases are made through its API: a small
one (a dozen rows) and a large one (enough rows that BM25, which re-reads every chunk on each query, costs
visibly). The embedding findings need no Chatchat: the doctor probes the embedding platform itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import chatchat_real as cr
import httpx
import pytest

from tuner.lab.process import LabProcess
from tuner.lab.profiles import EMBED_MODEL

pytestmark = pytest.mark.chatchat

CHAT = "qwen2:7b"
SMALL, BIG = "tune_small", "tune_big"
BIG_ROWS = 2500
WORDS = ("river", "bridge", "mountain", "harbour", "market", "temple", "garden", "tower", "school", "canal")


def csv_bytes(rows: int, seed: int) -> bytes:
    lines = ["city,fact"]
    for i in range(rows):
        a, b, c = WORDS[(i + seed) % 10], WORDS[(i * 3 + seed) % 10], WORDS[(i * 7 + 1) % 10]
        lines.append(f"city{i},city{i} has a {a} near the {b} and {i % 13 + 2} {c}s 城市{i}有{a}")
    return ("\n".join(lines) + "\n").encode("utf-8")


def make_kb(client: httpx.Client, base: str, name: str, rows: int) -> None:
    made = client.post(
        f"{base}/knowledge_base/create_knowledge_base",
        json={"knowledge_base_name": name, "vector_store_type": "faiss", "embed_model": EMBED_MODEL},
    )
    assert made.status_code == 200 and made.json()["code"] == 200, made.text
    uploaded = client.post(
        f"{base}/knowledge_base/upload_docs",
        files=[("files", (f"{name}.csv", csv_bytes(rows, len(name)), "text/csv"))],
        data={"knowledge_base_name": name, "to_vector_store": "true", "override": "true"},
    )
    assert uploaded.status_code == 200 and uploaded.json()["code"] == 200, uploaded.text
    assert not uploaded.json()["data"]["failed_files"], uploaded.text


def tuner_json(*args: str) -> tuple[int, dict[str, Any]]:
    proc = cr.run_tuner(*args, "--json")
    assert proc.stdout.strip(), proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    return proc.returncode, data


def codes(report: dict[str, Any]) -> set[str]:
    return {f["code"] for f in report["findings"]}


@pytest.fixture(scope="module")
def served(
    chatchat_venv: Path, pristine_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, str, LabProcess]]:
    root = cr.copy_root(pristine_root, tmp_path_factory.mktemp("kb-path") / "root")
    with LabProcess(profile="tiny", seed=11) as lab:
        cr.loopback_platforms(
            root, f"{lab.url}/v1", llm_models=(CHAT,), embed_models=(EMBED_MODEL,), api_port=cr.free_port()
        )
        with cr.chatchat_api(root, chatchat_venv) as base:
            with httpx.Client(trust_env=False, timeout=300) as client:
                make_kb(client, base, SMALL, 12)
                make_kb(client, base, BIG, BIG_ROWS)
            yield root, base, lab


@pytest.mark.timeout(300)
def test_bench_kb_splits_each_answer_and_reports_the_corpus(served: tuple[Path, str, LabProcess]) -> None:
    root, _base, _lab = served
    code, big = tuner_json("bench", "--root", str(root), "--path", "kb", "--kb", BIG, "-n", "2")
    assert code == 0, big
    print(json.dumps({k: big[k] for k in ("median", "corpus")}, indent=1))
    assert big["route"] == "/chat/kb_chat" and big["kb"] == BIG
    assert big["bm25_ensemble"] is True and big["vector_store"] == "faiss"
    assert big["top_k"] == 3 and big["score_threshold"] == 2.0
    assert big["corpus"]["documents"] == 1 and big["corpus"]["chunks"] == BIG_ROWS
    assert big["corpus"]["index_bytes"] > 0
    split = big["median"]
    for part in ("embed", "docs", "retrieval", "model", "model_first_token", "first_token", "total"):
        assert split[f"{part}_ms"] is not None and split[f"{part}_ms"] >= 0, part
    # The parts add up to what the client saw: documents frame + model = total.
    assert abs(split["docs_ms"] + split["model_ms"] - split["total_ms"]) < 50
    assert split["retrieval_ms"] > split["embed_ms"]  # BM25 over every chunk outweighs one embedding call

    code, small = tuner_json("bench", "--root", str(root), "--path", "search", "--kb", SMALL, "-n", "2")
    assert code == 0, small
    assert small["corpus"]["chunks"] == 12
    assert small["median"]["search_ms"] is not None
    assert small["median"]["retrieval_ms"] < split["retrieval_ms"]
    schema = json.loads((Path(__file__).parents[2] / "docs/schemas/bench-kb.schema.json").read_text("utf-8"))
    import jsonschema

    for report in (big, small):
        jsonschema.validate(report, schema)  # the shape docs/schemas promises


@pytest.mark.timeout(300)
def test_doctor_names_slow_retrieval_on_the_big_kb_only(
    served: tuple[Path, str, LabProcess],
) -> None:
    root, _base, _lab = served
    _, big = tuner_json("doctor", "--root", str(root), "--kb", BIG, "--budget", "60")
    _, small = tuner_json("doctor", "--root", str(root), "--kb", SMALL, "--budget", "60")
    print(json.dumps(big["path"], indent=1)[:3000])
    assert "kb_retrieval_slow" in codes(big), big["findings"]
    slow = next(f for f in big["findings"] if f["code"] == "kb_retrieval_slow")
    assert any("BM25" in e for e in slow["evidence"])
    assert any(fix["kind"] == "code_patch" and "vectorstore" in fix["text"] for fix in slow["fixes"])
    # Several users, measured for real: shipped Chatchat adds no queueing of its own to concurrent chats,
    # and two concurrent searches of one KB overlap (measured here: 2 × 0.43 s searches in 0.56 s).
    serial = big["path"]["serial"]
    assert serial["via_wall_ms"] is not None and serial["direct_wall_ms"] is not None
    assert serial["search_wall_ms"] is not None and serial["list_busy_ms"] is not None
    assert serial["list_idle_ms"] is not None and serial["list_answer_ms"] is not None  # during a long answer
    assert "chatchat_serializes" not in codes(big), big["findings"]
    assert not {"kb_retrieval_slow", "chatchat_serializes"} & codes(small), small["findings"]
    assert small["path"]["kb"]["retrieval_ms"] is not None
    for report in (big, small):
        assert not {"embed_down", "embed_missing", "embed_evicts_llm"} & codes(report)


@pytest.mark.timeout(300)
def test_allow_write_measures_an_upload_into_a_temporary_kb_only(
    served: tuple[Path, str, LabProcess],
) -> None:
    root, base, _lab = served
    kb_root = root / "data" / "knowledge_base"

    def tree() -> dict[str, int]:
        return {str(p.relative_to(kb_root)): p.stat().st_size for p in kb_root.rglob("*") if p.is_file()}

    def kb_names() -> list[str]:
        with httpx.Client(trust_env=False, timeout=30) as client:
            data = client.get(f"{base}/knowledge_base/list_knowledge_bases").json()["data"]
        return sorted(d["kb_name"] if isinstance(d, dict) else str(d) for d in data)

    listed = kb_names()
    assert SMALL in listed and BIG in listed
    user_files = {k: v for k, v in tree().items() if k.startswith((SMALL, BIG))}
    _, without = tuner_json("doctor", "--root", str(root), "--kb", SMALL, "--budget", "30")
    _, report = tuner_json("doctor", "--root", str(root), "--kb", SMALL, "--budget", "30", "--allow-write")
    assert without["path"]["ingest"]["measured_per_chunk_ms"] is None  # nothing written without the flag
    assert report["path"]["ingest"]["measured_per_chunk_ms"] > 0
    assert kb_names() == listed  # the temporary KB is gone
    assert {k: v for k, v in tree().items() if k.startswith((SMALL, BIG))} == user_files


def point_root_at(root: Path, chat_url: str, embed_url: str | None = None, embed: str = EMBED_MODEL) -> None:
    """One ollama platform for chat (and embeddings), or a second for embeddings at ``embed_url``."""
    cr.loopback_platforms(
        root, f"{chat_url}/v1", llm_models=(CHAT,), embed_models=(embed,), api_port=cr.free_port()
    )
    if embed_url is None:
        return

    def split(data: Any) -> None:
        from ruamel.yaml.comments import CommentedMap, CommentedSeq

        (chat,) = data["MODEL_PLATFORMS"]
        other = CommentedMap(chat)
        other["platform_name"] = "ollama-embed"
        other["api_base_url"] = f"{embed_url}/v1"
        other["llm_models"] = CommentedSeq([])
        chat["embed_models"] = CommentedSeq([])
        data["MODEL_PLATFORMS"].append(other)

    cr._edit_yaml(root / "model_settings.yaml", split)


@pytest.mark.parametrize(("loaded", "evicts"), [(1, True), (2, False)])
def test_embed_evicts_llm_with_room_for_one_model_only(
    chatchat_root: Path, loaded: int, evicts: bool
) -> None:
    with LabProcess(profile="tiny", time_scale=1.0, max_loaded_models=loaded, seed=3) as lab:
        point_root_at(chatchat_root, lab.url)
        _, report = tuner_json("doctor", "--root", str(chatchat_root), "--budget", "20")
    assert ("embed_evicts_llm" in codes(report)) is evicts, report["findings"]
    evict = report["path"]["evict"]
    assert evict["chat_before"] is True and evict["chat_after"] is (not evicts)
    if evicts:
        finding = next(f for f in report["findings"] if f["code"] == "embed_evicts_llm")
        assert finding["cost_ms"] is not None and finding["cost_ms"] > 0  # the chat model's reload, measured


def test_small_gpu_profile_evicts_by_memory(chatchat_root: Path) -> None:
    with LabProcess(profile="small-gpu", time_scale=0.02, seed=3) as lab:
        point_root_at(chatchat_root, lab.url)
        _, report = tuner_json("doctor", "--root", str(chatchat_root), "--budget", "20")
    assert "embed_evicts_llm" in codes(report), report["findings"]


def test_embed_down_and_missing(chatchat_root: Path) -> None:
    with LabProcess(profile="tiny", seed=4) as lab:
        point_root_at(chatchat_root, lab.url, embed_url=f"http://127.0.0.1:{cr.free_port()}")
        _, down = tuner_json("doctor", "--root", str(chatchat_root), "--budget", "10")
        point_root_at(chatchat_root, lab.url, embed="bge-m3")  # Chatchat's default, not pulled here
        _, missing = tuner_json("doctor", "--root", str(chatchat_root), "--budget", "10")
        point_root_at(chatchat_root, lab.url)
        _, healthy = tuner_json("doctor", "--root", str(chatchat_root), "--budget", "10")
    assert "embed_down" in codes(down) and "embed_missing" not in codes(down), down["findings"]
    assert "embed_missing" in codes(missing) and "embed_down" not in codes(missing), missing["findings"]
    assert not {"embed_down", "embed_missing", "embed_slow"} & codes(healthy), healthy["findings"]


@pytest.mark.timeout(300)
def test_chatchat_serializes_when_it_lets_one_request_through(
    chatchat_venv: Path, chatchat_root: Path, tmp_path: Path
) -> None:
    """The reviewed code patch with api_concurrencies: 1 makes Chatchat queue chats that Ollama (three slots
    here) would run together: the doctor sees N concurrent chats through Chatchat take N times one."""
    from test_codepatch import configure, copy_package

    from tuner.codepatch import plan_patch

    copy = copy_package(chatchat_venv, tmp_path / "pkg")
    for path, _before, after in plan_patch(copy.pkg):
        path.write_bytes(after)
    # Slots that do not slow each other (a GPU with room to spare): three chats straight to Ollama take one
    # chat's time, so the queueing Chatchat adds is all there is to see. With the CPU profile's shared
    # compute, three at once take ~2 × one anyway, and serialising costs little more (docs/lab.md).
    import dataclasses

    from tuner.lab.profiles import get_profile

    models = [
        {**dataclasses.asdict(m), "batch_speedup": []} for m in get_profile("cpu-7b").models
    ]  # fmt: skip
    with LabProcess(profile="cpu-7b", time_scale=0.2, num_parallel=3, seed=9, models=models) as lab:
        configure(chatchat_root, lab.url, {"api_concurrencies": 1})
        with cr.chatchat_api(chatchat_root, chatchat_venv, env=copy.env):
            _, report = tuner_json("doctor", "--root", str(chatchat_root), "--budget", "40")
    serial = report["path"]["serial"]
    print(serial)
    assert "chatchat_serializes" in codes(report), report["findings"]
    assert serial["via_wall_ms"] > serial["direct_wall_ms"]


def test_embed_slow_and_ingest_timeout_on_a_slow_embedding_model(chatchat_root: Path) -> None:
    """20 words/s: a query costs ~0.35 s, a 750-character chunk ~6 s, so a 100 kB document needs ~800 s
    of embedding, past the WebUI's 300 s. The tiny profile answers the same probes in milliseconds."""
    slow = {
        "name": EMBED_MODEL, "size_bytes": 671_000_000, "size_vram": 0, "load_seconds": 0.1,
        "prompt_tokens_per_s": 20.0, "gen_tokens_per_s": 1.0, "family": "bert", "embedding_dim": 64,
    }  # fmt: skip
    chat = {
        "name": CHAT, "size_bytes": 5_000_000, "size_vram": 0, "load_seconds": 0.05,
        "prompt_tokens_per_s": 20000.0, "gen_tokens_per_s": 1500.0,
    }  # fmt: skip
    args = ("--budget", "30", "--ingest-bytes", "100000")
    with LabProcess(profile="tiny", models=[chat, slow], seed=5) as lab:
        point_root_at(chatchat_root, lab.url)
        _, report = tuner_json("doctor", "--root", str(chatchat_root), *args)
    with LabProcess(profile="tiny", seed=5) as lab:
        point_root_at(chatchat_root, lab.url)
        _, healthy = tuner_json("doctor", "--root", str(chatchat_root), *args)
    assert {"embed_slow", "ingest_timeout"} <= codes(report), report["findings"]
    ingest = next(f for f in report["findings"] if f["code"] == "ingest_timeout")
    assert any("chatchat kb -r" in fix["text"] for fix in ingest["fixes"])
    assert any(fix["setting"] and fix["setting"].startswith("api_timeout=") for fix in ingest["fixes"])
    assert report["path"]["ingest"]["estimate_ms"] > 300_000
    assert not {"embed_slow", "ingest_timeout"} & codes(healthy), healthy["findings"]
