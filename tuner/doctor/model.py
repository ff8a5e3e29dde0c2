"""Values of the doctor: what the install says, what the probes measured, and the findings. Pure data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from tuner.doctor.place import PlaceFacts
    from tuner.doctor.residency import Residency
    from tuner.install.prompts import PromptSize

Severity = Literal["info", "warn", "error"]
SEVERITY_RANK: dict[str, int] = {"info": 0, "warn": 1, "error": 2}
Status = Literal["ok", "refused", "timeout", "error", "skipped"]
ClientState = Literal["installed", "absent", "unknown"]


@dataclass(frozen=True)
class Fix:
    """One way to remove a cause; ``setting`` is what ``chatchat-tune apply --set`` takes, if any."""

    kind: Literal["setting", "service", "code_patch", "environment", "command"]
    text: str
    setting: str | None = None


@dataclass(frozen=True)
class Finding:
    code: str
    severity: Severity
    title: str
    cost: float | None  # seconds added per affected request, measured (None: not measured)
    per: str  # what the cost is paid by, e.g. "request", "request after an idle gap"
    evidence: tuple[str, ...]
    fixes: tuple[Fix, ...] = ()
    unbounded: bool = False  # the cost has no bound (a hang, an abort loop)


@dataclass(frozen=True)
class Platform:
    """A 0.3.1 model platform with ``auto_detect_model: true``."""

    name: str
    platform_type: str
    url: str


@dataclass(frozen=True)
class InstallFacts:
    """What the install's files (and its environment) say, as far as the doctor's rules need it."""

    label: str
    entry: str | None  # the model platform / online model that points at Ollama
    ollama_url: str | None  # as configured (e.g. http://localhost:11434/v1)
    ollama_root: str | None  # the server root (/v1 removed)
    model: str | None
    chatchat_api: str | None
    timeout: float | None  # HTTPX_DEFAULT_TIMEOUT (environment override applied)
    timeout_source: str  # where it was read, for the evidence
    timeout_bounds_model_call: bool  # as shipped: in no version; with the code patch: yes
    code_patched: bool | None  # None: unknown (no --python)
    api_concurrencies: int | None
    auto_detect: tuple[Platform, ...] = ()
    proxy_setting: str | None = None  # api_proxy / openai_proxy of the Ollama entry
    # What bounds the model call as shipped (tuner.install.layout): openai's read timeout and attempts.
    model_call_read_timeout: float | None = None
    model_call_attempts: int = 1
    per_request_words: str = ""  # what the shipped code builds per request
    code_patch_possible: bool = False
    prompt: PromptSize | None = None  # the longest knowledge-base prompt (tuner.install.prompts)

    @property
    def model_call_bound(self) -> float | None:
        """Seconds a request to a backend that never answers is held, at most (None: no bound known)."""
        if self.timeout_bounds_model_call:
            return self.timeout * self.model_call_attempts if self.timeout is not None else None
        if self.model_call_read_timeout is not None:
            return self.model_call_read_timeout * self.model_call_attempts
        return None


@dataclass(frozen=True)
class Reach:
    status: Status
    seconds: float | None
    detail: str = ""
    version: str | None = None


@dataclass(frozen=True)
class NameVsAddress:
    host: str
    address: str
    by_name: tuple[float, ...]  # seconds per request on a new connection, by name
    by_address: tuple[float, ...]
    attempts: tuple[str, ...]  # first by-name connect: "::1 refused 0.3 ms", "127.0.0.1 ok 0.1 ms"
    dns: float | None


@dataclass(frozen=True)
class ModelProbe:
    model: str
    status: Literal["ok", "missing", "timeout", "error", "skipped"]
    listed: bool | None  # in /api/tags (None: not asked / no native API)
    resident_before: bool | None
    load: float | None  # load_duration of the probe request (cold load when not resident before)
    total: float | None
    keep_alive: (
        float | None
    )  # seconds left on the model right after the probe (expires_at - now); <0: forever
    detail: str = ""


@dataclass(frozen=True)
class Concurrency:
    single: float  # seconds, one request alone (warm model)
    pair: tuple[float, float]  # the two concurrent requests' totals
    serialised: bool
    wait: float  # server-reported queue wait of the later one (load_duration difference)
    work: float  # server-reported prompt-eval + eval of one request


@dataclass(frozen=True)
class Overhead:
    direct: float  # p50 seconds, /v1/chat/completions straight to Ollama
    via_chatchat: float  # p50 seconds, Chatchat's /chat/chat/completions
    n: int


@dataclass(frozen=True)
class AutoDetectProbe:
    platform: Platform
    status: Status
    seconds: float | None
    client: ClientState
    detail: str = ""


@dataclass(frozen=True)
class ProbeFacts:
    budget: float
    elapsed: float
    reach: Reach
    hang: str | None = None  # what got no answer in time, if anything
    localhost: NameVsAddress | None = None
    model: ModelProbe | None = None
    concurrency: Concurrency | None = None
    chatchat: Reach | None = None
    overhead: Overhead | None = None
    auto_detect: tuple[AutoDetectProbe, ...] = ()
    errors: dict[str, int] = field(default_factory=dict)  # generation requests that failed, by kind
    generation_requests: int = 0
    skipped: tuple[str, ...] = ()  # probes left out (budget, not applicable)
    place: PlaceFacts | None = None  # the probe run where Chatchat runs (--python / --exec), and here
    port_state: str | None = None  # Ollama's port on this machine when nothing answers (tuner.doctor.place)
    residency: Residency | None = None  # where the model runs (/api/ps, rates): tuner.doctor.residency


@dataclass(frozen=True)
class ProxyVerdict:
    proxy: str  # the proxy URL httpx would use for the Ollama URL
    source: str  # "HTTP_PROXY", "ALL_PROXY", "system settings", ...
    no_proxy: str  # NO_PROXY as seen


@dataclass(frozen=True)
class Report:
    install: InstallFacts
    probe: ProbeFacts
    proxy: ProxyVerdict | None
    findings: tuple[Finding, ...]
    idle_gap: float | None
    path: Any = None  # tuner.doctor.path_model.PathFacts: the walk along the KB/embedding path

    @property
    def worst(self) -> Severity:
        worst: Severity = "info"
        for f in self.findings:
            if SEVERITY_RANK[f.severity] > SEVERITY_RANK[worst]:
                worst = f.severity
        return worst
