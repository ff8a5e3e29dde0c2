"""`chatchat-tune doctor --json`: the typed model of the report (see ``tuner.cli.jsonmodels``).

Durations are milliseconds (``*_ms``) except the probe budget and the idle gap, which the user gives in
seconds (``budget_s``, ``idle_gap_s``); the Ollama URL as configured is ``url``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tuner.cli.json_path import PathJson, path_json
from tuner.cli.json_place import PlaceJson, ResidencyJson, place_json, residency_json
from tuner.jsonout import finite as _s
from tuner.jsonout import ms as _ms

if TYPE_CHECKING:
    from tuner.doctor.model import Reach, Report


@dataclass(frozen=True, kw_only=True)
class FixJson:
    """One way to remove a cause; ``setting`` is what ``chatchat-tune apply --set`` takes."""

    kind: str
    text: str
    setting: str | None


@dataclass(frozen=True, kw_only=True)
class FindingJson:
    """A cause of latency, its measured cost per affected request (``null``: not measured or unbounded)."""

    code: str
    severity: str
    title: str
    cost_ms: float | None
    per: str
    unbounded: bool
    evidence: tuple[str, ...]
    fixes: tuple[FixJson, ...]


@dataclass(frozen=True, kw_only=True)
class DoctorInstallJson:
    """What the install's files say, as far as the doctor's rules need it."""

    label: str
    entry: str | None
    url: str | None
    model: str | None
    chatchat_url: str | None
    timeout_s: float | None
    timeout_source: str
    code_patched: bool | None


@dataclass(frozen=True, kw_only=True)
class ReachJson:
    """Whether an endpoint answered, and how fast."""

    status: str
    latency_ms: float | None
    detail: str
    version: str | None


@dataclass(frozen=True, kw_only=True)
class ModelProbeJson:
    """The probe request to the model: was it resident, its load and total time, keep_alive left."""

    model: str
    status: str
    listed: bool | None
    resident_before: bool | None
    load_ms: float | None
    total_ms: float | None
    keep_alive_s: float | None
    detail: str


@dataclass(frozen=True, kw_only=True)
class AutoDetectJson:
    """A model platform with auto_detect_model, and what probing it cost."""

    platform: str
    platform_type: str
    url: str
    status: str
    latency_ms: float | None
    client: str
    detail: str


@dataclass(frozen=True, kw_only=True)
class ProbeJson:
    """What the probes measured within the budget."""

    budget_s: float | None
    elapsed_s: float | None
    reach: ReachJson
    chatchat: ReachJson | None
    hang: str | None
    model: ModelProbeJson | None
    auto_detect: tuple[AutoDetectJson, ...]
    errors: dict[str, int]
    generation_requests: int
    skipped: tuple[str, ...]
    place: PlaceJson | None
    port_state: str | None
    residency: ResidencyJson | None


@dataclass(frozen=True, kw_only=True)
class ProxyJson:
    """The proxy httpx would use for the Ollama URL, and where that comes from."""

    url: str
    source: str
    no_proxy: str


@dataclass(frozen=True, kw_only=True)
class DoctorJson:
    """`chatchat-tune doctor --json`: findings worst first, the install facts and the probes."""

    schema_version: int
    worst: str
    findings: tuple[FindingJson, ...]
    install: DoctorInstallJson
    probe: ProbeJson
    proxy: ProxyJson | None
    idle_gap_s: float | None
    path: PathJson | None


def _reach(r: Reach) -> ReachJson:
    return ReachJson(status=r.status, latency_ms=_ms(r.seconds), detail=r.detail, version=r.version)


def doctor_json(r: Report, schema_version: int) -> DoctorJson:
    i, p = r.install, r.probe
    m = p.model
    return DoctorJson(
        schema_version=schema_version,
        worst=r.worst,
        findings=tuple(
            FindingJson(
                code=f.code,
                severity=f.severity,
                title=f.title,
                cost_ms=None if f.unbounded else _ms(f.cost),
                per=f.per,
                unbounded=f.unbounded,
                evidence=tuple(f.evidence),
                fixes=tuple(FixJson(kind=x.kind, text=x.text, setting=x.setting) for x in f.fixes),
            )
            for f in r.findings
        ),
        install=DoctorInstallJson(
            label=i.label,
            entry=i.entry,
            url=i.ollama_url,
            model=i.model,
            chatchat_url=i.chatchat_api,
            timeout_s=_s(i.timeout),
            timeout_source=i.timeout_source,
            code_patched=i.code_patched,
        ),
        probe=ProbeJson(
            budget_s=_s(p.budget),
            elapsed_s=_s(p.elapsed),
            reach=_reach(p.reach),
            chatchat=_reach(p.chatchat) if p.chatchat else None,
            hang=p.hang,
            model=ModelProbeJson(
                model=m.model,
                status=m.status,
                listed=m.listed,
                resident_before=m.resident_before,
                load_ms=_ms(m.load),
                total_ms=_ms(m.total),
                keep_alive_s=_s(m.keep_alive),
                detail=m.detail,
            )
            if m
            else None,
            auto_detect=tuple(
                AutoDetectJson(
                    platform=a.platform.name,
                    platform_type=a.platform.platform_type,
                    url=a.platform.url,
                    status=a.status,
                    latency_ms=_ms(a.seconds),
                    client=a.client,
                    detail=a.detail,
                )
                for a in p.auto_detect
            ),
            errors=dict(p.errors),
            generation_requests=p.generation_requests,
            skipped=tuple(p.skipped),
            place=place_json(p.place) if p.place is not None else None,
            port_state=p.port_state,
            residency=residency_json(p.residency) if p.residency is not None else None,
        ),
        proxy=ProxyJson(url=r.proxy.proxy, source=r.proxy.source, no_proxy=r.proxy.no_proxy)
        if r.proxy
        else None,
        idle_gap_s=_s(r.idle_gap),
        path=path_json(r.path) if r.path is not None else None,
    )
