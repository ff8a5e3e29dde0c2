"""What every ``--json`` prints: one typed model per command, built from the core's results.

One style for all of them: a top-level ``schema_version``; units in key names (``_s``, ``_ms``,
``_bytes``, ``_per_s``); the same name for the same thing in every command (a latency is ``*_ms``, a
file ``file``, an endpoint ``url``, a model ``model``); no ``NaN``/``Infinity`` (``tuner.jsonout`` turns a
float that is not finite into ``null``, so every float field is ``float | None``). The JSON Schemas in
docs/schemas/ are generated from these models (``python -m tuner.cli.schemagen``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuner.cli.json_doctor import DoctorJson
from tuner.jsonout import finite, ms
from tuner.lab.jsonmodel import LabProfilesJson
from tuner.measure.benchjson import BenchJson
from tuner.measure.benchkbjson import BenchKbJson

if TYPE_CHECKING:
    from tuner.apply.rollback import Restored
    from tuner.apply.run import ApplyOutcome
    from tuner.knobs.report import InspectReport
    from tuner.search.run import SearchPlan
    from tuner.search.session import SearchOutcome

SCHEMA_VERSION = 1


# --- inspect ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class FileJson:
    """One of the install's settings files."""

    role: str
    file: str  # relative to the root


@dataclass(frozen=True, kw_only=True)
class KnobValueJson:
    """Where a knob's value is written: file and line, the value as read, and whether it is a literal."""

    entry: str | None
    file: str
    line: int | None
    path: str
    value: Any
    literal: bool
    note: str | None


@dataclass(frozen=True, kw_only=True)
class KnobJson:
    """A knob, its values in the install, and whether it takes effect."""

    name: str
    help: str
    honoured: str
    effect: str
    values: tuple[KnobValueJson, ...]
    service_var: str | None
    shell_value: str | None
    aliases: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class EntryJson:
    """A model platform / online model entry that points at Ollama."""

    role: str
    name: str
    path: str
    url: str
    file: str
    line: int
    models: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class OverrideJson:
    """An environment variable that overrides a settings field."""

    var: str
    value: str
    role: str
    field: str


@dataclass(frozen=True, kw_only=True)
class InspectJson:
    """`chatchat-tune inspect --json`: the install, its knobs and what takes effect."""

    schema_version: int
    root: str
    generation: str
    label: str
    configured: bool
    files: tuple[FileJson, ...]
    knobs: tuple[KnobJson, ...]
    ollama: tuple[EntryJson, ...]
    overrides: tuple[OverrideJson, ...]
    advice: tuple[str, ...]
    code_patch: str | None


def inspect_json(r: InspectReport) -> InspectJson:
    files = dict(r.files)
    return InspectJson(
        schema_version=SCHEMA_VERSION,
        root=str(r.root),
        generation=r.generation,
        label=r.label,
        configured=r.configured,
        files=tuple(FileJson(role=role, file=rel) for role, rel in r.files),
        knobs=tuple(
            KnobJson(
                name=k.name,
                help=k.help,
                honoured=k.honoured,
                effect=k.effect,
                values=tuple(
                    KnobValueJson(
                        entry=v.entry,
                        file=v.file,
                        line=v.line,
                        path=v.path,
                        value=v.value,
                        literal=v.literal,
                        note=v.note,
                    )
                    for v in k.values
                ),
                service_var=k.service_var,
                shell_value=k.shell_value,
                aliases=tuple(k.aliases),
            )
            for k in r.knobs
        ),
        ollama=tuple(
            EntryJson(
                role=e.role,
                name=e.name,
                path=e.path,
                url=e.url,
                file=files.get(e.role, e.role),
                line=e.line,
                models=tuple(e.models),
            )
            for e in r.ollama
        ),
        overrides=tuple(
            OverrideJson(var=o.var, value=o.value, role=o.role, field=o.field) for o in r.overrides
        ),
        advice=tuple(r.advice),
        code_patch=r.code_patch,
    )


# --- apply --dry-run, rollback --dry-run ---------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ChangeJson:
    """One file the plan changes, with its unified diff."""

    file: str
    diff: str


@dataclass(frozen=True, kw_only=True)
class ApplyJson:
    """`chatchat-tune apply --json`: the changes (pending on a dry run), the Ollama service settings, and
    where the backup went when the files were written."""

    schema_version: int
    root: str
    dry_run: bool
    pending: bool
    changes: tuple[ChangeJson, ...]
    service: dict[str, str]
    notes: tuple[str, ...]
    plan_file: str | None
    service_files: tuple[str, ...]
    backup: str | None


def apply_json(o: ApplyOutcome, diffs: dict[Path, str]) -> ApplyJson:
    return ApplyJson(
        schema_version=SCHEMA_VERSION,
        root=str(o.plan.root),
        dry_run=o.dry_run,
        pending=o.dry_run and bool(o.plan.changed_files),
        changes=tuple(
            ChangeJson(file=str(f.file.path), diff=diffs.get(f.file.path, "")) for f in o.plan.changed_files
        ),
        service=dict(o.plan.service),
        notes=tuple(o.plan.notes),
        plan_file=str(o.plan_saved) if o.plan_saved else None,
        service_files=tuple(str(p) for p in o.service_written),
        backup=str(o.backup) if o.backup else None,
    )


@dataclass(frozen=True, kw_only=True)
class RollbackJson:
    """`chatchat-tune rollback --json`: the files restored (on a dry run: that would be)."""

    schema_version: int
    dry_run: bool
    pending: bool
    backup: str
    restored: tuple[str, ...]
    unchanged: tuple[str, ...]


def rollback_json(r: Restored) -> RollbackJson:
    return RollbackJson(
        schema_version=SCHEMA_VERSION,
        dry_run=r.dry_run,
        pending=r.dry_run and bool(r.restored),
        backup=str(r.backup.folder),
        restored=tuple(str(p) for p in r.restored),
        unchanged=tuple(str(p) for p in r.unchanged),
    )


# --- warm ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class WarmJson:
    """`chatchat-tune warm --json`: the model loaded, how long it took, and until when it stays."""

    schema_version: int
    url: str
    model: str
    keep_alive: str
    load_ms: float | None
    expires_at: str | None
    service_command: str


# --- search -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CandidateJson:
    """A candidate re-measured against the current settings at the end of the search."""

    label: str
    winner: bool
    settings: dict[str, Any]
    p50_ms: float | None
    p95_ms: float | None
    errors: int
    resident_bytes: int | None


@dataclass(frozen=True, kw_only=True)
class SearchJson:
    """`chatchat-tune search --json`: the re-measured candidates, the verdict and the plan written."""

    schema_version: int
    study: str
    winner: str
    significant: bool
    p95_ratio: float | None
    p95_ratio_ci: tuple[float | None, ...]
    cold_load_ms: float | None
    answer_ms: float | None
    model_bytes: int | None
    candidates: tuple[CandidateJson, ...]
    reasons: tuple[str, ...]
    plan_file: str
    service: dict[str, str]
    service_files: tuple[str, ...]


def search_json(result: SearchOutcome, planned: SearchPlan, study: str) -> SearchJson:
    from tuner.measure.stats import percentile

    v = result.verdict
    candidates = []
    for m in result.study.user_attrs.get("verify", []):
        totals = sorted(float(t) for t in m["totals_ms"])
        gb = m.get("resident_gb")
        candidates.append(
            CandidateJson(
                label=m["label"],
                winner=m["label"] == v.winner.label,
                settings=dict(m["params"]),
                p50_ms=totals[len(totals) // 2] if totals else None,
                p95_ms=percentile(totals, 0.95) if totals else None,
                errors=int(m["errors"]),
                resident_bytes=round(gb * 1e9) if isinstance(gb, int | float) and math.isfinite(gb) else None,
            )
        )
    facts = result.space.facts
    return SearchJson(
        schema_version=SCHEMA_VERSION,
        study=study,
        winner=v.winner.label,
        significant=bool(v.significant),
        p95_ratio=finite(v.ratio),
        p95_ratio_ci=(finite(v.ci[0]), finite(v.ci[1])),
        cold_load_ms=ms(facts.cold_load),
        answer_ms=ms(facts.answer),
        model_bytes=int(facts.model_bytes) if facts.model_bytes is not None else None,
        candidates=tuple(candidates),
        reasons=tuple(result.recommendation.reasons),
        plan_file=str(planned.path),
        service=dict(planned.plan.service),
        service_files=tuple(str(p) for p in planned.service_written),
    )


MODELS: dict[str, type] = {  # command → the model its --json prints (docs/schemas/<command>.schema.json)
    "inspect": InspectJson,
    "doctor": DoctorJson,
    "bench": BenchJson,
    "bench kb": BenchKbJson,
    "search": SearchJson,
    "apply": ApplyJson,
    "rollback": RollbackJson,
    "warm": WarmJson,
    "lab profiles": LabProfilesJson,
}
