"""`doctor --json`'s ``probe.place`` and ``probe.residency``: where Chatchat runs and where the model runs.

Durations are milliseconds (``*_ms``), sizes bytes (``*_bytes``), as in the rest of ``doctor --json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tuner.jsonout import ms as _ms

if TYPE_CHECKING:
    from tuner.doctor.place import PlaceFacts, Reached, Side
    from tuner.doctor.residency import Residency
    from tuner.ollama_ps import Loaded


@dataclass(frozen=True, kw_only=True)
class AlternateJson:
    """The same port tried at another address of the host (the gateway, host.docker.internal, ...)."""

    via: str
    url: str
    status: int | None
    error: str | None
    latency_ms: float | None


@dataclass(frozen=True, kw_only=True)
class ReachedJson:
    """One GET as one side saw it: ``status`` the HTTP status (``null``: no answer; ``error`` says why)."""

    url: str
    host: str
    port: int
    status: int | None
    error: str | None
    latency_ms: float | None
    connect_ms: float | None
    addresses: tuple[str, ...]
    detail: str
    alternates: tuple[AlternateJson, ...]


@dataclass(frozen=True, kw_only=True)
class SideJson:
    """Where one side runs (container, WSL) and what it reached."""

    targets: tuple[ReachedJson, ...]
    container: str | None
    wsl: bool
    platform: str
    hostname: str
    gateway: str | None
    names: dict[str, tuple[str, ...]]
    elapsed_ms: float | None


@dataclass(frozen=True, kw_only=True)
class PlaceJson:
    """The probe run where Chatchat runs (``--python``/``--exec``) beside the same probe run here."""

    how: str
    host: SideJson
    remote: SideJson | None
    error: str | None
    elapsed_ms: float | None
    port_state: str | None


@dataclass(frozen=True, kw_only=True)
class LoadedJson:
    """One model in ``/api/ps``."""

    name: str
    size_bytes: int
    size_vram_bytes: int
    cpu_share: float
    context_length: int | None


@dataclass(frozen=True, kw_only=True)
class ResidencyJson:
    """Where the model runs: ``/api/ps`` before and after the doctor's request, and the measured rate."""

    model: str
    before: LoadedJson | None
    after: LoadedJson | None
    others: tuple[LoadedJson, ...]
    tokens_per_s: float | None
    version: str | None
    load_timeout_s: float
    load_timeout_source: str


def _reached(r: Reached) -> ReachedJson:
    return ReachedJson(
        url=r.url,
        host=r.host,
        port=r.port,
        status=r.status,
        error=r.error,
        latency_ms=_ms(r.seconds),
        connect_ms=_ms(r.connect_s),
        addresses=tuple(r.addresses),
        detail=r.detail,
        alternates=tuple(
            AlternateJson(via=a.via, url=a.url, status=a.status, error=a.error, latency_ms=_ms(a.seconds))
            for a in r.alternates
        ),
    )


def _side(s: Side) -> SideJson:
    return SideJson(
        targets=tuple(_reached(t) for t in s.targets),
        container=s.container,
        wsl=s.wsl,
        platform=s.platform,
        hostname=s.hostname,
        gateway=s.gateway,
        names={name: tuple(addresses) for name, addresses in s.names},
        elapsed_ms=_ms(s.elapsed),
    )


def place_json(p: PlaceFacts) -> PlaceJson:
    return PlaceJson(
        how=p.how,
        host=_side(p.host),
        remote=_side(p.remote) if p.remote is not None else None,
        error=p.error,
        elapsed_ms=_ms(p.seconds),
        port_state=p.port_state,
    )


def _loaded(m: Loaded) -> LoadedJson:
    return LoadedJson(
        name=m.name,
        size_bytes=m.size,
        size_vram_bytes=m.size_vram,
        cpu_share=round(m.cpu_share, 4),
        context_length=m.context_length,
    )


def residency_json(r: Residency) -> ResidencyJson:
    rate = r.rate.tokens / r.rate.seconds if r.rate is not None and r.rate.seconds > 0 else None
    return ResidencyJson(
        model=r.model,
        before=_loaded(r.before) if r.before else None,
        after=_loaded(r.after) if r.after else None,
        others=tuple(_loaded(m) for m in r.others),
        tokens_per_s=round(rate, 3) if rate is not None else None,
        version=r.version,
        load_timeout_s=r.load_timeout,
        load_timeout_source=r.load_timeout_source,
    )
