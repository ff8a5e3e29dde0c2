"""The doctor's walk along the whole path of an answer, after its Chatchat → Ollama probes: the install's
knowledge-base settings and corpus (``tuner.install.kb``), the probes (``path_probes``) and the rules
(``path_rules``), merged into the ranked findings."""

from __future__ import annotations

from tuner.doctor.model import SEVERITY_RANK, Finding, InstallFacts
from tuner.doctor.path_model import PathFacts
from tuner.install.files import LoadedInstall

MIN_BUDGET = 0.5  # seconds: less than this left, the walk is skipped and says so


def _key(f: Finding) -> tuple[int, int, float]:
    return (-SEVERITY_RANK[f.severity], 0 if f.unbounded else 1, -(f.cost if f.cost is not None else -1.0))


def walk(
    loaded: LoadedInstall,
    facts: InstallFacts,
    found: tuple[Finding, ...],
    *,
    budget: float,
    kb: str | None = None,
    allow_write: bool = False,
    ingest_bytes: int | None = None,
) -> tuple[PathFacts, tuple[Finding, ...]]:
    """Probe the path within ``budget`` seconds; the findings so far plus the path's, ranked."""
    from tuner.doctor.path_probes import probe_path
    from tuner.doctor.path_rules import path_findings
    from tuner.install.kb import kb_settings, read_corpus

    settings = kb_settings(loaded, kb)
    if budget < MIN_BUDGET:
        return PathFacts(budget=max(budget, 0.0), elapsed=0.0, skipped=("path: no budget left",)), found
    corpus = read_corpus(settings) if settings is not None else None
    facts_path = probe_path(
        facts, settings, corpus, budget=budget, allow_write=allow_write, ingest_bytes=ingest_bytes
    )
    extra = path_findings(facts, facts_path, settings)
    return facts_path, tuple(sorted([*found, *extra], key=_key))
