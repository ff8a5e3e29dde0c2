"""The path rules, pure: each finding fires on its measured scenario and stays silent on the healthy one."""

from __future__ import annotations

from dataclasses import replace

from tuner.doctor.model import InstallFacts
from tuner.doctor.path_model import EmbedProbe, EvictProbe, IngestEstimate, KbProbe, PathFacts, SerialProbe
from tuner.doctor.path_rules import path_findings

INSTALL = InstallFacts(
    label="Chatchat 0.3.1+",
    entry="ollama",
    ollama_url="http://127.0.0.1:11434/v1",
    ollama_root="http://127.0.0.1:11434",
    model="qwen2:7b",
    chatchat_api="http://127.0.0.1:7861",
    timeout=300.0,
    timeout_source="basic_settings.yaml HTTPX_DEFAULT_TIMEOUT",
    timeout_bounds_model_call=False,
    code_patched=None,
    api_concurrencies=5,
)
EMBED = EmbedProbe(
    model="bge", url="http://127.0.0.1:11434/api/embeddings", protocol="ollama-embeddings", status="ok",
    listed=True, resident_before=True, first=0.01, load=None, query=0.01, chunk=0.02, chunk_chars=750,
)  # fmt: skip
EVICT = EvictProbe(
    chat_model="qwen2:7b", embed_model="bge", chat_before=True, chat_after=True, embed_after=True,
    reload=None, resident_before=("qwen2:7b",), resident_after=("qwen2:7b", "bge"),
)  # fmt: skip
KB = KbProbe(
    kb="samples", exists=True, documents=1, chunks=12, index_bytes=4096, vs_type="faiss", bm25=True, top_k=3,
    embed=0.01, embed_calls=3, before_model=0.08, retrieval=0.05, model=0.5, total=0.58, n=2,
)  # fmt: skip
INGEST = IngestEstimate(
    document="a.csv", document_bytes=75_000, chunk_chars=750, chunks=100, per_chunk=0.02, seconds=2.0,
    timeout=300.0, timeout_source="basic_settings.yaml HTTPX_DEFAULT_TIMEOUT",
)  # fmt: skip
SERIAL = SerialProbe(n=3, direct_single=0.2, direct_wall=0.3, via_single=0.25, via_wall=0.36)
HEALTHY = PathFacts(budget=8, elapsed=1, embed=EMBED, evict=EVICT, kb=KB, ingest=INGEST, serial=SERIAL)


def codes(facts: PathFacts) -> set[str]:
    return {f.code for f in path_findings(INSTALL, facts, None)}


def test_healthy_path_has_no_findings() -> None:
    assert codes(HEALTHY) == set()
    assert path_findings(INSTALL, None, None) == []


def test_each_finding_on_its_scenario() -> None:
    scenarios = {
        "embed_down": replace(HEALTHY, embed=replace(EMBED, status="down", detail="refused")),
        "embed_missing": replace(HEALTHY, embed=replace(EMBED, status="missing", listed=False)),
        "embed_slow": replace(HEALTHY, embed=replace(EMBED, query=0.4)),
        "embed_evicts_llm": replace(HEALTHY, evict=replace(EVICT, chat_after=False, reload=2.5)),
        "kb_retrieval_slow": replace(HEALTHY, kb=replace(KB, retrieval=1.2, total=1.8)),
        "ingest_timeout": replace(HEALTHY, ingest=replace(INGEST, chunks=20_000, seconds=400.0)),
        "chatchat_serializes": replace(HEALTHY, serial=replace(SERIAL, via_wall=0.9)),
    }
    blocked = replace(SERIAL, list_idle=0.01, list_answer=0.9)
    assert codes(replace(HEALTHY, serial=blocked)) == {"chatchat_serializes"}
    assert codes(replace(HEALTHY, serial=replace(blocked, list_answer=0.02))) == set()
    for code, facts in scenarios.items():
        assert codes(facts) == {code}, code


def test_retrieval_share_counts_only_above_a_floor() -> None:
    small_but_half = replace(KB, retrieval=0.15, total=0.2)
    assert codes(replace(HEALTHY, kb=small_but_half)) == set()
    assert codes(replace(HEALTHY, kb=replace(KB, retrieval=0.3, total=0.5))) == {"kb_retrieval_slow"}


def test_slow_retrieval_without_bm25_gets_other_fixes() -> None:
    facts = replace(HEALTHY, kb=replace(KB, bm25=False, vs_type="milvus", retrieval=2.0, total=2.5))
    (finding,) = path_findings(INSTALL, facts, None)
    assert all(fix.kind != "code_patch" for fix in finding.fixes)


def test_evicted_cost_is_the_measured_reload() -> None:
    facts = replace(HEALTHY, evict=replace(EVICT, chat_after=False, reload=2.5))
    (finding,) = path_findings(INSTALL, facts, None)
    assert finding.cost == 2.5 and any("/api/ps" in e for e in finding.evidence)


def test_ingest_fix_names_a_timeout_above_the_upload() -> None:
    facts = replace(HEALTHY, ingest=replace(INGEST, seconds=400.0))
    (finding,) = path_findings(INSTALL, facts, None)
    settings = [fix.setting for fix in finding.fixes if fix.setting]
    assert settings == ["api_timeout=601"]
