"""A trial with several users at once: the pool, the server's slots and the loaded models under load.

With one user a trial puts each idle gap's consequence in force without waiting it out (``trial``). Under
several users what matters is who overlaps whom, so this trial *plays* the timeline: each of N users (a
thread) waits its idle gaps, drawn from the profile, and sends its requests, all at once against the server.
Against the lab the gaps are compressed by its ``time_scale`` like every modelled duration (the keep_alive
timer too), so cold loads, queueing for slots and the pool, and slots slowing one another happen as they
would. Against a real Ollama the gaps are real seconds.

Before the trial the server's variables are put in force where the tool can set them: the lab plays the
Ollama service, and ``POST /lab/server`` restarts it with the candidate's ``OLLAMA_NUM_PARALLEL``,
``OLLAMA_MAX_LOADED_MODELS`` and ``OLLAMA_KEEP_ALIVE`` (a real service needs a restart by its owner: these
dimensions are searched on the lab only, and written by ``apply`` as service variables).

Chatchat's side: as shipped, a new client per request and no limit (``api_concurrencies`` ignored), so each
request pays the client's construction as Chatchat does; with the code patch, one pool per platform of
``api_concurrencies`` connections that every user shares (calls beyond it wait for a connection).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import httpx

from tuner.errors import UserError
from tuner.measure import ollama
from tuner.measure.protocols import ROUTES, request_body
from tuner.measure.reasons import describe, failure_reasons
from tuner.measure.runner import Sample, client_error_sample, send_one
from tuner.measure.stats import percentile
from tuner.measure.timing import timed_client
from tuner.measure.workload import MAX_CONCURRENCY, Workload
from tuner.search.space import Config, Facts

if TYPE_CHECKING:
    from tuner.search.trial import TrialResult

LAB_SERVER = "/lab/server"


@dataclass(frozen=True)
class UserTarget:
    """What a multi-user trial needs beyond ``trial.Target``."""

    users: int
    embed_model: str | None = None  # each request embeds its question first (kb_chat), when set


def server_settable(root: str) -> bool:
    """The server takes its service variables per trial (the bundled lab does; a real Ollama does not)."""
    try:
        resp = httpx.post(root.rstrip("/") + LAB_SERVER, json={}, timeout=5.0, trust_env=False)
    except httpx.HTTPError:
        return False
    return resp.status_code == 200 and "num_parallel" in resp.text


def set_server(root: str, *, num_parallel: int, max_loaded_models: int, keep_alive: str) -> None:
    """Restart the lab with these service variables (every model unloaded)."""
    body = {"num_parallel": num_parallel, "max_loaded_models": max_loaded_models, "keep_alive": keep_alive}
    for _ in range(50):
        try:
            resp = httpx.post(root.rstrip("/") + LAB_SERVER, json=body, timeout=30.0, trust_env=False)
        except httpx.HTTPError as exc:
            raise ollama.ServerUnreachable(f"{root}: {exc}") from None
        if resp.status_code != 409:  # 409: a request of the last trial still finishing
            break
        time.sleep(0.1)
    if resp.status_code != 200:
        raise UserError(f"{root}{LAB_SERVER}: HTTP {resp.status_code}: {resp.text[:200]}")


def with_users(facts: Facts, root: str, model: str, users: UserTarget) -> Facts:
    """The facts a multi-user space needs: whether the server's variables can be set, and the memory each
    slot's context and the embedding model cost, read from ``/api/ps`` (1 slot vs 2)."""
    if users.users <= 1:
        return facts
    if not server_settable(root):
        return replace(facts, users=users.users)
    now = httpx.post(root.rstrip("/") + LAB_SERVER, json={}, timeout=5.0, trust_env=False).json()
    sizes = []
    embed = 0
    for slots in (1, 2):
        set_server(root, num_parallel=slots, max_loaded_models=3, keep_alive="-1")
        ollama.preload(root, model, keep_alive=-1)
        found = ollama.find_loaded(root, model)
        sizes.append(found.size if found is not None else 0)
        if users.embed_model and slots == 1:  # one slot's worth: its context is small beside the chat model
            ollama.preload(root, users.embed_model, keep_alive=-1)
            found = ollama.find_loaded(root, users.embed_model)
            embed = found.size if found is not None else 0
    slot = max(sizes[1] - sizes[0], 0)
    return replace(
        facts,
        users=users.users,
        server_settable=True,
        slot_bytes=slot,
        model_bytes=max(sizes[0] - slot, 0),
        embed_bytes=embed,
        current_num_parallel=int(now.get("num_parallel", 1)),
        current_max_loaded=int(now.get("max_loaded_models", 3)),
    )


def evaluate_users(
    root: str,
    model: str,
    config: Config,
    gaps: tuple[float, ...],
    *,
    users: UserTarget,
    time_scale: float,
    max_tokens: int,
    stream: bool,
    settable: bool,
    prompt_offset: int = 0,
) -> tuple[list[Sample], int]:
    """Play N users (gaps dealt round-robin: user u waits ``gaps[u::N]``) with ``config`` in force; return
    the samples (times in the server's clock) and the number of cold loads the server reported."""
    from tuner.install.endpoints import with_host

    n_users = max(1, min(users.users, MAX_CONCURRENCY))
    base = with_host(root, config.host).rstrip("/")
    admin = with_host(root, "127.0.0.1" if config.host == "localhost" else config.host).rstrip("/")
    if settable:
        set_server(
            admin,
            num_parallel=config.num_parallel,
            max_loaded_models=config.max_loaded_models,
            keep_alive=config.keep_alive,
        )
    if config.keep_alive_seconds != 0:  # the users have been at it: the model is loaded, with this keep_alive
        ollama.preload(admin, model, keep_alive=_body_keep_alive(config.keep_alive))
        if users.embed_model and config.max_loaded_models >= 2:
            ollama.preload(admin, users.embed_model, keep_alive=_body_keep_alive(config.keep_alive))
    loads_before = _loads(admin) if settable else 0
    workload = Workload(
        path="openai", model=model, requests=max(len(gaps), 1), stream=stream, max_tokens=max_tokens
    )
    timeout = config.timeout * time_scale
    deadline = max(timeout, 1.0) * 3
    url = base + ROUTES["openai"]
    shared = _client(config, timeout) if config.reuse else None
    samples: list[Sample] = []
    lock = threading.Lock()
    stop = threading.Event()
    start = time.perf_counter()

    def user(u: int) -> None:
        for k, gap in enumerate(gaps[u::n_users]):
            if stop.wait(gap * time_scale):
                return
            index = prompt_offset + k * n_users + u
            t0 = time.perf_counter()  # the total counts a new client's construction, as Chatchat pays it
            try:
                client = shared or _client(config, timeout)  # as shipped: one per request
                try:
                    if users.embed_model:
                        _embed(client, base, users.embed_model, workload.prompt(index), deadline)
                    body = request_body(
                        "openai", model, workload.prompt(index), stream=stream, max_tokens=max_tokens
                    )
                    sample = send_one(client, url, body, workload, index, start, deadline)
                finally:
                    if shared is None:
                        client.close()
                sample = replace(sample, total=time.perf_counter() - t0, start=t0 - start)
            except Exception as exc:  # every request gets its sample
                sample = client_error_sample(index, t0 - start, time.perf_counter() - t0, exc)
            with lock:
                samples.append(sample)

    threads = [threading.Thread(target=user, args=(u,), daemon=True) for u in range(n_users)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():
                t.join(0.2)
    finally:
        stop.set()
        for t in threads:
            t.join(deadline)
        if shared is not None:
            shared.close()
    cold = max(_loads(admin) - loads_before, 0) if settable else 0
    return sorted(samples, key=lambda s: s.index), cold


def _client(config: Config, timeout: float) -> httpx.Client:
    return timed_client(
        timeout=timeout,
        max_connections=config.max_connections,
        max_keepalive=config.max_connections,
        keepalive_expiry=config.keepalive_expiry,
        trust_env=False,
    )


def _embed(client: httpx.Client, base: str, model: str, text: str, deadline: float) -> None:
    """The question embedded first, as kb_chat does (Ollama's /api/embeddings)."""
    resp = client.post(base + "/api/embeddings", json={"model": model, "prompt": text}, timeout=deadline)
    resp.raise_for_status()


def _loads(admin: str) -> int:
    try:
        data = httpx.get(admin + "/lab/stats", timeout=5.0, trust_env=False).json()
    except (httpx.HTTPError, ValueError):
        return 0
    loads = data.get("loads", 0) if isinstance(data, dict) else 0
    return loads if isinstance(loads, int) else 0


def _body_keep_alive(keep_alive: str) -> object:
    from tuner.knobs.values import keep_alive_body

    return keep_alive_body(keep_alive)


def trial_result(samples: list[Sample], cold_loads: int, time_scale: float) -> TrialResult:
    """The trial's figures in real seconds, as ``trial.evaluate`` reports them."""
    from tuner.search.trial import TrialResult

    totals = tuple(s.total / time_scale for s in samples if s.ok)
    return TrialResult(
        percentile(totals, 0.5) if totals else float("inf"),
        percentile(totals, 0.95) if totals else float("inf"),
        sum(not s.ok for s in samples),
        tuple(sorted({s.error for s in samples if s.error})),
        cold_loads,
        sum(s.new_connection for s in samples),
        totals,
        describe(failure_reasons(samples)),
    )
