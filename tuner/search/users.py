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

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import httpx

from tuner.errors import UserError
from tuner.i18n import _
from tuner.measure import ollama
from tuner.measure.protocols import ROUTES, request_body
from tuner.measure.reasons import describe, failure_reasons
from tuner.measure.runner import Sample, client_error_sample, send_one
from tuner.measure.stats import percentile
from tuner.measure.timing import timed_client
from tuner.measure.workload import MAX_CONCURRENCY, PathKind, Workload
from tuner.search.space import Config, Facts

if TYPE_CHECKING:
    from tuner.plan.settings import Setting
    from tuner.search.trial import Target, TrialResult

LAB_SERVER = "/lab/server"


@dataclass(frozen=True)
class UserTarget:
    """What a multi-user trial needs beyond ``trial.Target``."""

    users: int  # closed loop: users at once; open loop: 1 (the arrivals are one stream)
    embed_model: str | None = None  # each request embeds its question first (kb_chat), when set
    open_loop: bool = False  # arrivals at fixed times (--rate, --traffic), not users waiting for answers
    arrivals: tuple[float, ...] = ()  # open loop: these times (real seconds); none: the gaps' running sum


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
    for _attempt in range(50):
        try:
            resp = httpx.post(root.rstrip("/") + LAB_SERVER, json=body, timeout=30.0, trust_env=False)
        except httpx.HTTPError as exc:
            raise ollama.ServerUnreachable(f"{root}: {exc}") from None
        if resp.status_code != 409:  # 409: a request of the last trial still finishing
            break
        time.sleep(0.1)
    if resp.status_code != 200:
        raise UserError(f"{root}{LAB_SERVER}: HTTP {resp.status_code}: {resp.text[:200]}")


def users_facts(facts: Facts, target: Target, host: str) -> Facts:
    """``facts`` for the target's workload: unchanged with one user; else ``with_users``."""
    if target.users <= 1 and not target.open_loop:
        return facts
    users = UserTarget(target.users, target.embed_model, target.open_loop)
    facts = replace(facts, current_concurrencies=target.current_concurrencies)
    if not target.server_settable:
        return replace(facts, users=target.users, open_loop=target.open_loop)
    return with_users(facts, target.admin_root(host), target.model, users)


def with_users(facts: Facts, root: str, model: str, users: UserTarget) -> Facts:
    """The facts a multi-user space needs on a server whose variables can be set: the memory each slot's
    context and the embedding model cost, read from ``/api/ps`` (1 slot vs 2), and today's values."""
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
        open_loop=users.open_loop,
        server_settable=True,
        slot_bytes=slot,
        model_bytes=max(sizes[0] - slot, 0),
        embed_bytes=embed,
        current_num_parallel=int(now.get("num_parallel", 1)),
        current_max_loaded=int(now.get("max_loaded_models", 3)),
    )


def restore_server(target: Target, facts: Facts, host: str) -> None:
    """After the study: the service's variables as they were (trials left the last candidate's in force)."""
    if facts.server_settable:
        set_server(
            target.admin_root(host),
            num_parallel=facts.current_num_parallel,
            max_loaded_models=facts.current_max_loaded,
            keep_alive=facts.current_keep_alive,
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
    via: str | None = None,
) -> tuple[list[Sample], int]:
    """Play N users (gaps dealt round-robin: user u waits ``gaps[u::N]``) with ``config`` in force; return
    the samples (times in the server's clock) and the number of cold loads the server reported. ``via``:
    send to this Chatchat API's ``/chat/chat/completions`` instead (Chatchat then talks to Ollama)."""
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
    path: PathKind = "chatchat" if via else "openai"
    workload = Workload(
        path=path, model=model, requests=max(len(gaps), 1), stream=stream, max_tokens=max_tokens
    )
    timeout = config.timeout * time_scale
    deadline = max(timeout, 1.0) * 3
    url = (via.rstrip("/") if via else base) + ROUTES[path]
    shared = _client(config, timeout, time_scale) if config.reuse else None
    samples: list[Sample] = []
    lock = threading.Lock()
    stop = threading.Event()
    start = time.perf_counter()

    def user(u: int) -> None:
        for k, gap in enumerate(gaps[u::n_users]):
            if stop.wait(gap * time_scale):
                return
            send(prompt_offset + k * n_users + u)

    def send(index: int) -> None:
        t0 = time.perf_counter()  # the total counts a new client's construction, as Chatchat pays it
        try:
            client = shared or _client(config, timeout, time_scale)  # as shipped: one per request
            try:
                if users.embed_model:
                    _embed(client, base, users.embed_model, workload.prompt(index), deadline)
                body = request_body(path, model, workload.prompt(index), stream=stream, max_tokens=max_tokens)
                sample = send_one(client, url, body, workload, index, start, deadline)
            finally:
                if shared is None:
                    client.close()
            sample = replace(sample, total=time.perf_counter() - t0, start=t0 - start)
        except Exception as exc:  # every request gets its sample
            sample = client_error_sample(index, t0 - start, time.perf_counter() - t0, exc)
        with lock:
            samples.append(sample)

    runner: Callable[[int], None]
    if users.open_loop:
        times = list(users.arrivals) or list(itertools.accumulate(gaps))
        times = times[: max(len(gaps), 1)]
        next_index = iter(range(len(times)))

        def worker(_index: int) -> None:
            while True:
                with lock:
                    i = next(next_index, None)
                if i is None:
                    return
                delay = start + times[i] * time_scale - time.perf_counter()
                if delay > 0 and stop.wait(delay):
                    return
                send(prompt_offset + i)

        runner, n_threads = worker, min(MAX_CONCURRENCY, len(times))
    else:
        runner, n_threads = user, n_users
    threads = [threading.Thread(target=runner, args=(u,), daemon=True) for u in range(n_threads)]
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


def _client(config: Config, timeout: float, time_scale: float) -> httpx.Client:
    return timed_client(
        timeout=timeout,
        max_connections=config.max_connections,
        max_keepalive=config.max_connections,
        keepalive_expiry=config.keepalive_expiry * time_scale,  # the timeline is compressed: the expiry too
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


def slot_settings(
    win: Config, base: Config, facts: Facts, entry: str | None
) -> tuple[list[Setting], list[str]]:
    """The winner's pool, slots and loaded models as settings ``apply`` writes where each takes effect
    (api_concurrencies in the settings file, the other two as Ollama service variables), with reasons."""
    from tuner.plan.settings import Setting

    settings: list[Setting] = []
    reasons: list[str] = []
    if not win.several:
        return settings, reasons
    gib = 1e9
    if win.reuse and win.max_connections != base.max_connections and entry:
        settings.append(Setting("api_concurrencies", entry, win.max_connections))
        reasons.append(
            _(
                "api_concurrencies {before} → {after}: with the code patch "
                "the platform's calls share a pool of that many connections; more wait for one"
            ).format(before=facts.current_concurrencies, after=win.max_connections)
        )
    if win.num_parallel != base.num_parallel:
        settings.append(Setting("num_parallel", None, win.num_parallel))
        reasons.append(
            _(
                "OLLAMA_NUM_PARALLEL {before} → {after}: that many requests generate at "
                "once (each slower, more in total); each slot holds its own context: "
                "{slot:.2f} GB × {after} (measured from /api/ps)"
            ).format(before=base.num_parallel, after=win.num_parallel, slot=facts.slot_bytes / gib)
        )
    if facts.embed_bytes and win.max_loaded_models != base.max_loaded_models:
        settings.append(Setting("max_loaded_models", None, win.max_loaded_models))
        reasons.append(
            _("OLLAMA_MAX_LOADED_MODELS {before} → {after}: ").format(
                before=base.max_loaded_models, after=win.max_loaded_models
            )
            + (
                _("the chat and the embedding model stay loaded together (+{size:.2f} GB)").format(
                    size=facts.embed_bytes / gib
                )
                if win.max_loaded_models >= 2
                else _("one model at a time: the embedding model evicts the chat model")
            )
        )
    return settings, reasons
