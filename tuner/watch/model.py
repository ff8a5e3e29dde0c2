"""Values of the watcher: what it watches, what one round saw, what it carries between rounds. Pure data.

Times are wall-clock epoch seconds (``time.time()``) where they are compared with Ollama's ``expires_at``,
and measured durations are the seconds the wire took. Figures compared with the plan or the study (a
keep_alive, a p95) are in the install's own time: against the lab, measured seconds divided by its
``time_scale``, as the search reports them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Hop = Literal["ollama", "chatchat"]
PHASES = ("connect", "first_byte", "first_token", "total")
UnloadReason = Literal["expired", "evicted"]


@dataclass(frozen=True, kw_only=True)
class Target:
    """What one watcher watches: the install's identity and its configured endpoints (nothing else)."""

    install: str  # stable id used as the ``install`` label: folder name + hash of the resolved root
    root: str  # the install root as the user gave it (never a label: only shown in output)
    ollama_root: str | None  # e.g. http://127.0.0.1:11434 (the install's configured Ollama, /v1 removed)
    ollama_url: str | None  # as configured (e.g. http://localhost:11434/v1): where a chat probe goes
    model: str | None
    chatchat_api: str | None
    endpoint: str  # the ``endpoint`` label: the Ollama root, any password masked


@dataclass(frozen=True, kw_only=True)
class Baseline:
    """What the tuning left: the settings the plan set and the verified figures of the study."""

    planned_keep_alive: float | None = None  # seconds (negative: forever); None: the plan sets none
    plan_file: str | None = None
    totals: tuple[float, ...] = ()  # the verified winner's request totals, seconds (install time)
    winner: str | None = None  # "trial 12" / "baseline"
    study: str | None = None  # where the figures came from
    note: str = ""  # why there are no figures, when there are none


@dataclass(frozen=True, kw_only=True)
class Probe:
    """One request of a round, timed phase by phase (a phase it did not reach is None)."""

    name: str  # version, version_by_address, ps, tags, chatchat, chat
    hop: Hop
    ok: bool
    status: int | None
    error: str | None  # the kind: connect, timeout, http_404, ...
    connect: float | None
    first_byte: float | None
    first_token: float | None
    total: float
    bytes_in: int
    done_at: float  # epoch seconds when the answer ended
    detail: str = ""  # error text; for version_by_address, the address
    attempts: tuple[str, ...] = ()  # connect attempts on a new connection: "::1 failed 0.3 ms"

    def phase(self, name: str) -> float | None:
        return {
            "connect": self.connect,
            "first_byte": self.first_byte,
            "first_token": self.first_token,
            "total": self.total if self.ok else None,
        }[name]


@dataclass(frozen=True, kw_only=True)
class Resident:
    """One entry of ``GET /api/ps``."""

    model: str
    size: int
    size_vram: int
    expires_at: float  # epoch seconds; math.inf for forever
    context_length: int | None

    @property
    def vram_share(self) -> float:
        return self.size_vram / self.size if self.size > 0 else 0.0


@dataclass(frozen=True, kw_only=True)
class Observation:
    """What one round saw (I/O results, no judgement yet)."""

    started_at: float
    finished_at: float
    probes: tuple[Probe, ...]
    resident: tuple[Resident, ...] | None  # None: /api/ps did not answer
    resident_after: tuple[Resident, ...] | None = None  # /api/ps read again after the watcher's own chat
    listed: bool | None = None  # the install's model in /api/tags (None: not asked this round)
    version: str | None = None
    settings_hash: str = ""
    changed_since_apply: tuple[str, ...] | None = None  # files changed since the last apply; None: no apply
    chat_probe: bool = False  # this round sent a chat request (it keeps the model loaded)

    @property
    def requests(self) -> int:
        return len(self.probes)

    @property
    def bytes_in(self) -> int:
        return sum(p.bytes_in for p in self.probes)

    def probe(self, name: str) -> Probe | None:
        return next((p for p in self.probes if p.name == name), None)


@dataclass(frozen=True, kw_only=True)
class P95Check:
    samples: int
    p95: float  # seconds, install time
    baseline_p95: float
    ratio: float
    ci: tuple[float, float]  # 95% bootstrap interval of p95(recent) / p95(baseline)
    regression: bool  # the whole interval is above 1: slower beyond the noise both sides measured


@dataclass(frozen=True, kw_only=True)
class State:
    """What the watcher carries from round to round: bounded (a few models, a fixed window)."""

    rounds: int = 0
    last_at: float | None = None
    expiry: tuple[tuple[str, float], ...] = ()  # model -> expires_at seen last round (resident models)
    keep_alive: tuple[float, float] | None = (
        None  # the install model's keep_alive in force: (at least, at most)
    )
    window: tuple[float, ...] = ()  # the last chat probe totals, seconds (install time)
    p95: P95Check | None = None  # the last verdict (recomputed only when a new sample arrives)
    cold_loads: int = 0
    unloads: tuple[tuple[str, int], ...] = (("evicted", 0), ("expired", 0))


@dataclass(frozen=True, kw_only=True)
class Decisions:
    """One round judged against the state and the baseline."""

    up: dict[str, bool]  # hop -> answered
    cold_loads: tuple[str, ...] = ()  # models that became resident since the last round
    unloads: tuple[tuple[str, UnloadReason], ...] = ()
    keep_alive: tuple[float, float] | None = None  # in force for the install's model: (at least, at most)
    keep_alive_drift: bool | None = None  # None: nothing to compare (no plan value, or not inferred yet)
    settings_drift: bool | None = None  # None: no apply recorded
    p95: P95Check | None = None
    errors: dict[str, int] = field(default_factory=dict)  # "hop:kind" -> n this round


@dataclass(frozen=True, kw_only=True)
class FindingGauge:
    code: str
    severity: str
    title: str


@dataclass(frozen=True, kw_only=True)
class RoundReport:
    """A round as rendered and exported: the observation, the decisions, the findings, the alerts."""

    target: Target
    observation: Observation
    decisions: Decisions
    findings: tuple[FindingGauge, ...]
    alerts: tuple[str, ...]  # alert conditions that hold after this round (alerts.ALERTS names)
    state: State
    time_scale: float = 1.0
    cpu_seconds: float = 0.0  # this process's CPU time for the round
