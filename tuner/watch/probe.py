"""One round on the wire: the planned requests, each on a new connection, timed phase by phase. I/O edge.

Every request is bounded by its cap and by what is left of the round's budget; an answer is read up to
``MAX_ANSWER_BYTES``; requests go direct (no proxy from the environment: the watcher measures the install's
servers, and sends nothing anywhere else). Nothing here raises for what a server does: a failure is a
``Probe`` with its kind.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import httpx

from tuner.measure.runner import error_kind, read_some
from tuner.measure.timing import begin_trace, timed_client
from tuner.watch.model import Observation, Probe, Resident
from tuner.watch.rounds import Planned, RoundPlan

MAX_ANSWER_BYTES = 256 * 1024  # /api/ps, /api/version, /api/tags and /docs answers are small
CHAT_TOKENS = 16  # as the search's trials (tuner.search.trial.Target.max_tokens)


def new_client() -> httpx.Client:
    """One client per watcher: no connection kept, so every request connects anew (and is timed)."""
    return timed_client(
        timeout=None, max_connections=2, max_keepalive=0, keepalive_expiry=0.0, trust_env=False
    )


@dataclass
class Budget:
    seconds: float
    t0: float = field(default_factory=time.perf_counter)

    def cap(self, cap: float) -> float | None:
        left = min(cap, self.seconds - (time.perf_counter() - self.t0))
        return left if left >= 0.05 else None


def _attempts(trace: object) -> tuple[str, ...]:
    return tuple(
        f"{a.address} {'ok' if a.ok else 'failed'} {a.seconds * 1000:.1f} ms"
        for a in getattr(trace, "attempts", [])
    )


def fetch(
    client: httpx.Client, planned: Planned, timeout: float, url: str | None = None
) -> tuple[Probe, bytes]:
    trace = begin_trace()
    t0 = time.perf_counter()
    status: int | None = None
    first_byte: float | None = None
    body = b""
    error: str | None = None
    detail = ""
    try:
        with client.stream(planned.method, url or planned.url, timeout=timeout) as resp:
            first_byte = time.perf_counter() - t0
            status = resp.status_code
            body = read_some(resp, MAX_ANSWER_BYTES)
            if status != 200:
                error = f"http_{status}"
    except httpx.HTTPError as exc:
        error, detail = error_kind(exc), str(exc)[:200] or type(exc).__name__
    total = time.perf_counter() - t0
    probe = Probe(
        name=planned.name,
        hop=planned.hop,
        ok=error is None,
        status=status,
        error=error,
        connect=trace.connect,
        first_byte=first_byte,
        first_token=None,
        total=total,
        bytes_in=len(body),
        done_at=time.time(),
        detail=detail,
        attempts=_attempts(trace),
    )
    return probe, body


def chat(client: httpx.Client, planned: Planned, model: str, timeout: float, index: int) -> Probe:
    """One streamed /v1 chat request, as Chatchat sends them (tuner.measure.runner.send_one times it)."""
    from tuner.measure.protocols import request_body
    from tuner.measure.runner import send_one
    from tuner.measure.workload import Workload

    workload = Workload(path="openai", model=model, requests=1, stream=True, max_tokens=CHAT_TOKENS)
    body = request_body("openai", model, workload.prompt(index), stream=True, max_tokens=CHAT_TOKENS)
    seen: list[httpx.Response] = []

    def remember(resp: httpx.Response) -> None:
        seen.append(resp)

    client.event_hooks["response"] = [remember]  # to count the bytes the stream brought
    client.timeout = httpx.Timeout(timeout)  # send_one uses the client's timeout
    try:
        sample = send_one(client, planned.url, body, workload, index, time.perf_counter(), timeout)
    finally:
        client.event_hooks["response"] = []
        client.timeout = httpx.Timeout(None)
    return Probe(
        name="chat",
        hop="ollama",
        ok=sample.ok,
        status=sample.status,
        error=sample.error,
        connect=sample.connect,
        first_byte=sample.ttfb,
        first_token=sample.first_token,
        total=sample.total,
        bytes_in=sum(r.num_bytes_downloaded for r in seen),
        done_at=time.time(),
        detail=sample.detail or "",
    )


def parse_ps(data: object) -> tuple[Resident, ...] | None:
    """``GET /api/ps``'s answer (read by ``tuner.ollama_ps``), each expiry as an epoch; None when it is not
    Ollama's shape."""
    from datetime import datetime, timezone

    from tuner.durations import seconds_until
    from tuner.ollama_ps import parse_ps as read_ps

    models = read_ps(data)
    if models is None:
        return None
    now = datetime.now(timezone.utc)  # one clock reading: the same stamp gives the same epoch each round
    out = []
    for m in models:
        left = seconds_until(m.expires_at, now=now)
        at = (
            math.inf
            if left is not None and left < 0
            else now.timestamp() + (left if left is not None else 0.0)
        )
        out.append(
            Resident(
                model=m.name,
                size=m.size,
                size_vram=m.size_vram,
                expires_at=at,
                context_length=m.context_length,
            )
        )
    return tuple(out)


def _json(body: bytes) -> object:
    import json

    try:
        return json.loads(body)
    except ValueError:
        return None


def run_round(
    plan: RoundPlan,
    *,
    client: httpx.Client,
    model: str | None,
    index: int,
    settings: Callable[[], tuple[str, tuple[str, ...] | None]],
) -> Observation:
    """Send the round's requests in order; ``settings()`` gives the settings hash and the files changed
    since the last apply (read between the requests, so the round's time covers it)."""
    from tuner.install.endpoints import with_host
    from tuner.measure.ollama import tagged

    budget = Budget(plan.budget)
    started = time.time()
    probes: list[Probe] = []
    resident: tuple[Resident, ...] | None = None
    resident_after: tuple[Resident, ...] | None = None
    listed: bool | None = None
    version: str | None = None
    address: str | None = None
    for planned in plan.requests:
        timeout = budget.cap(planned.cap)
        if timeout is None:
            break
        if planned.name == "chat":
            probes.append(chat(client, planned, model or "", timeout, index))
            continue
        url = planned.url
        if planned.name == "version_by_address":
            if address is None:
                continue
            url = with_host(planned.url, address)
        probe, body = fetch(client, planned, timeout, url)
        if planned.name == "version_by_address":
            probe = replace(probe, detail=address or "")
        probes.append(probe)
        data = _json(body) if probe.ok else None
        if planned.name == "version":
            version = str(data.get("version")) if isinstance(data, dict) and data.get("version") else None
            address = next((a.split(" ")[0] for a in probe.attempts if " ok " in a), None)
        elif planned.name == "ps" and probe.ok:
            resident = parse_ps(data)
        elif planned.name == "ps_after" and probe.ok:
            resident_after = parse_ps(data)
        elif planned.name == "tags" and probe.ok and isinstance(data, dict) and model:
            models = data.get("models")
            names = {
                tagged(str(m.get("name") or m.get("model")))
                for m in (models if isinstance(models, list) else [])
                if isinstance(m, dict)
            }
            listed = tagged(model) in names
    digest, changed = settings()
    return Observation(
        started_at=started,
        finished_at=time.time(),
        probes=tuple(probes),
        resident=resident,
        resident_after=resident_after,
        listed=listed,
        version=version,
        settings_hash=digest,
        changed_since_apply=changed,
        chat_probe=any(p.name == "chat" for p in probes),
    )
