"""One trial: the bench workload with a candidate config in force, on real round-trips.

Idle gaps are minutes in real use and a trial cannot wait them out. So each request's gap is drawn from
the user's profile and its *consequence* is put in force at once, exactly as the settings would act:
a gap longer than the model keep_alive means Ollama unloaded the model (a native unload before the
request; shorter: the model is kept or preloaded, uncounted), and a gap longer than the HTTP keep-alive
expiry means the pooled connection is gone (a new connection). Everything the request then pays — cold
load, connect, localhost fallback, queueing — is measured for real. Against the lab, ``time_scale``
compresses the modelled durations; figures are reported back in real seconds.

A config that does not reuse connections is Chatchat as shipped: 0.3.1.3 builds a new ``openai`` client
per request (``get_OpenAIClient`` in ``chatchat/server/utils.py``), and openai's default httpx client
builds a new SSL context and loads the certificate bundle even for a plain-http URL. Such a trial builds
that client for real before each request and adds its construction time (real, never scaled) to the
request. The tool's own measuring and admin clients share one SSL context and pay none of it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from tuner.install.endpoints import with_host
from tuner.measure import ollama
from tuner.measure.protocols import ROUTES, request_body
from tuner.measure.reasons import describe, failure_reasons
from tuner.measure.runner import Sample, send_one
from tuner.measure.stats import percentile
from tuner.measure.timing import timed_client
from tuner.measure.tls import shared_context
from tuner.measure.workload import Workload
from tuner.search.space import Config


@dataclass(frozen=True)
class Target:
    root: str  # Ollama (or lab) root as configured, e.g. http://localhost:11434
    model: str
    time_scale: float = 1.0  # the lab's; 1.0 for a real Ollama
    max_tokens: int = 16
    stream: bool = True
    users: int = 1  # several users at once: the trial plays their timeline (tuner.search.users)
    open_loop: bool = False  # or arrivals at set times (--rate, --traffic): the gaps' sum, or `arrivals`
    arrivals: tuple[float, ...] = ()
    embed_model: str | None = None  # with users: each request embeds its question first (kb_chat)
    server_settable: bool = False  # the server takes its service variables per trial (the lab)
    current_concurrencies: int = 5  # the install's api_concurrencies today (the baseline)

    def root_for(self, host: str) -> str:
        return with_host(self.root, host).rstrip("/")

    def admin_root(self, host: str) -> str:
        """Where the tool's own native calls (load, unload, /api/ps) go: by address when the host form
        under test is `localhost`, so they never pay the name's connect delay themselves."""
        return self.root_for("127.0.0.1" if host == "localhost" else host)


@dataclass(frozen=True)
class TrialResult:
    p50: float  # real seconds, completed requests
    p95: float
    errors: int
    error_kinds: tuple[str, ...]
    cold_loads: int
    new_connections: int
    totals: tuple[float, ...]  # real seconds per completed request
    reason: str = ""  # why requests failed, in the server's words (the most frequent reason)
    client_build: float = 0.0  # real seconds spent building Chatchat's per-request clients (median)


def chatchat_client_cost(timeout: float) -> float:
    """Build, then close, the client Chatchat 0.3.1.3 builds per request as shipped (openai's default httpx
    client: default SSL verification, so a new context with the certificate bundle loaded); its real
    construction time in seconds."""
    t0 = time.perf_counter()
    client = httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=True)
    built = time.perf_counter() - t0
    client.close()
    return built


def evaluate(
    target: Target, config: Config, gaps: tuple[float, ...], *, prompt_offset: int = 0
) -> TrialResult:
    """Send one request per gap with ``config`` in force; return real-time figures."""
    if config.several:
        return _evaluate_users(target, config, gaps, prompt_offset)
    scale = target.time_scale
    root = target.root_for(config.host)
    admin = target.admin_root(config.host)
    url = root + ROUTES["openai"]
    workload = Workload(
        path="openai",
        model=target.model,
        requests=len(gaps),
        stream=target.stream,
        max_tokens=target.max_tokens,
    )
    ka = config.keep_alive_seconds
    loaded = ollama.is_loaded(admin, target.model)
    client: httpx.Client | None = None
    samples: list[Sample] = []
    builds: list[float] = []
    cold_loads = 0
    try:
        for i, gap in enumerate(gaps):
            cold = ka == 0 or (ka > 0 and gap > ka)
            if cold and loaded:
                ollama.unload(admin, target.model)
                loaded = False
            elif not cold and not loaded:
                ollama.preload(admin, target.model, keep_alive=-1)  # the trial unloads it itself
                loaded = True
            cold_loads += cold
            if client is None or not config.reuse or gap > config.keepalive_expiry:
                if client is not None:
                    client.close()
                client = timed_client(
                    timeout=config.timeout * scale,
                    max_connections=config.max_connections,
                    max_keepalive=min(20, config.max_connections),
                    keepalive_expiry=3600.0,  # expiry is put in force by the gaps
                    trust_env=False,
                    verify=shared_context(),
                )
            if not config.reuse:  # Chatchat as shipped: a new client per request, paid before it is sent
                builds.append(chatchat_client_cost(config.timeout * scale))
            body = request_body(
                "openai",
                target.model,
                workload.prompt(prompt_offset + i),
                stream=target.stream,
                max_tokens=target.max_tokens,
            )
            samples.append(
                send_one(client, url, body, workload, i, 0.0, max(config.timeout * scale, 1.0) * 3)
            )
            loaded = samples[-1].ok or ollama.is_loaded(admin, target.model)
            if cold and loaded:  # loaded by the request with the server's keep_alive: pin it for the trial
                ollama.preload(admin, target.model, keep_alive=-1)
    finally:
        if client is not None:
            client.close()
    # The lab compresses the server's time, not the client's: the build cost is added in real seconds.
    totals = tuple(s.total / scale + (builds[i] if builds else 0.0) for i, s in enumerate(samples) if s.ok)
    kinds = tuple(sorted({s.error for s in samples if s.error}))
    return TrialResult(
        percentile(totals, 0.5) if totals else float("inf"),
        percentile(totals, 0.95) if totals else float("inf"),
        sum(not s.ok for s in samples),
        kinds,
        cold_loads,
        sum(s.new_connection for s in samples),
        totals,
        describe(failure_reasons(samples)),
        percentile(builds, 0.5) if builds else 0.0,
    )


def _evaluate_users(
    target: Target, config: Config, gaps: tuple[float, ...], prompt_offset: int
) -> TrialResult:
    from tuner.search.users import UserTarget, evaluate_users, trial_result

    samples, cold = evaluate_users(
        target.root,
        target.model,
        config,
        gaps,
        users=UserTarget(target.users, target.embed_model, target.open_loop, target.arrivals),
        time_scale=target.time_scale,
        max_tokens=target.max_tokens,
        stream=target.stream,
        settable=target.server_settable,
        prompt_offset=prompt_offset,
    )
    return trial_result(samples, cold, target.time_scale)
