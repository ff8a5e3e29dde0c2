"""The lab's application: routing, faults, model jobs, and the asyncio server that runs it."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from tuner.lab.clock import precise_sleep
from tuner.lab.engine import Engine, ModelSpec
from tuner.lab.http import Hang, Request, Response, Result, serve_connection
from tuner.lab.jobs import Job
from tuner.lab.keepalive import parse_server_keep_alive
from tuner.lab.placement import LoadTimedOut
from tuner.lab.profiles import FaultError, Faults, Profile
from tuner.lab.protocol import BadRequest, json_response, native_error, openai_error, parse_body
from tuner.lab.scheduler import Scheduler, ServerBusy
from tuner.lab.stats import LabStats

Handler = Callable[["LabApp", Request], Awaitable[Result]]
VERSION = "0.12.6"
# /lab/stats "requests" keys: "METHOD /path" for the lab's routes, these two for everything else, so the
# number of keys is bounded by the route table whatever paths clients send.
MODEL_ONE_KEY = "GET /v1/models/{model}"
OTHER_KEY = "other"


class NotFound(Exception):
    pass


class LabApp:
    def __init__(self, profile: Profile, engine: Engine, seed: int = 0) -> None:
        from tuner.lab import native, openai_api, slots

        self.profile = profile
        self.engine = engine
        self.time_scale = float(profile.time_scale)
        self.stats = LabStats()
        self.scheduler = Scheduler(
            engine,
            self.stats,
            default_keep_alive=parse_server_keep_alive(profile.keep_alive),
            num_parallel=profile.num_parallel,
            max_loaded_models=profile.max_loaded_models,
            max_queue=profile.max_queue,
            time_scale=self.time_scale,
            load_timeout=float(profile.load_timeout),
            memory_bytes=profile.vram_bytes,
        )
        self.faults = profile.faults
        self.rng = random.Random(f"faults:{seed}")
        self.id_rng = random.Random(f"ids:{seed}")
        self._fault_counter = itertools.count(1)
        self._cut_counter = itertools.count(1)
        self.routes: dict[tuple[str, str], Handler] = {
            **native.ROUTES,
            **openai_api.ROUTES,
            ("GET", "/lab/stats"): LabApp._stats,
            ("POST", "/lab/reset"): LabApp._reset,
            ("GET", "/lab/faults"): LabApp._get_faults,
            ("POST", "/lab/faults"): LabApp._set_faults,
            ("POST", "/lab/server"): slots.server_settings,
        }

    # -- entry point ---------------------------------------------------------------------------------------
    async def __call__(self, request: Request) -> Result:
        path = request.path
        handler = self.routes.get((request.method, path))
        if handler is not None:
            key = f"{request.method} {path}"
        elif request.method == "GET" and path.startswith("/v1/models/"):
            from tuner.lab.openai_api import model_one

            handler, key = model_one, MODEL_ONE_KEY
        else:
            key = OTHER_KEY  # one bucket: a client cannot grow the stats by inventing paths
        self.stats.requests[key] += 1
        lab = path.startswith("/lab/")
        if not lab:
            hang = await self._connection_faults(request)
            if hang is not None:
                return hang
        if handler is None:
            result: Result = Response(404, b"404 page not found", "text/plain")
            self.stats.statuses[404] += 1
            return result
        v1 = path.startswith("/v1/")
        error = openai_error if v1 else native_error
        try:
            result = await handler(self, request)
        except BadRequest as err:
            result = error(400, str(err))
        except NotFound as err:
            result = error(404, str(err))
        except ServerBusy as err:
            result = error(503, str(err))
        except LoadTimedOut as err:  # Ollama's message, as it sends it
            result = error(500, str(err))
        except Exception as err:  # an engine failure: Ollama answers 500 with the message
            result = error(500, f"{type(err).__name__}: {err}")
        if not isinstance(result, Hang):
            self.stats.statuses[result.status] += 1
        return result

    async def _connection_faults(self, request: Request) -> Hang | None:
        f = self.faults
        if request.first_on_connection and f.connect_delay > 0 and host_of(request) in f.connect_delay_hosts:
            self.stats.faults["connect_delay"] += 1
            await precise_sleep(f.connect_delay * self.time_scale)
        if f.hang > 0 and self.rng.random() < f.hang:
            self.stats.faults["hang"] += 1
            return Hang()
        if f.first_byte_delay > 0:
            self.stats.faults["first_byte_delay"] += 1
            await precise_sleep(f.first_byte_delay * self.time_scale)
        return None

    # -- helpers for handlers ------------------------------------------------------------------------------
    def lookup(self, name: object) -> ModelSpec:
        spec = self.profile.model(name) if isinstance(name, str) and name else None
        if spec is None:
            raise NotFound(f"model '{name}' not found")
        return spec

    async def start(self, spec: ModelSpec, num_ctx: int, keep_alive: float | None) -> Job:
        t0 = time.perf_counter()
        counters = self.stats.model(spec.name)
        counters.enter()
        try:
            runner = await self.scheduler.acquire(spec, num_ctx, keep_alive)
        except BaseException:
            counters.leave()
            raise
        return Job(self.scheduler, spec, runner, counters, t0)

    def inject_error(self) -> bool:
        f = self.faults
        n = next(self._fault_counter)
        hit = (f.error_every > 0 and n % f.error_every == 0) or (
            f.error_rate > 0 and self.rng.random() < f.error_rate
        )
        if hit:
            self.stats.faults["error"] += 1
        return hit

    def inject_cut(self) -> bool:
        f = self.faults
        n = next(self._cut_counter)
        hit = (f.disconnect_every > 0 and n % f.disconnect_every == 0) or (
            f.disconnect_mid_stream > 0 and self.rng.random() < f.disconnect_mid_stream
        )
        if hit:
            self.stats.faults["disconnect_mid_stream"] += 1
        return hit

    def new_id(self, prefix: str) -> str:
        return f"{prefix}-{self.id_rng.randrange(1000)}"

    # -- /lab/ introspection -------------------------------------------------------------------------------
    async def _stats(self, request: Request) -> Result:
        resident = [
            {"model": r.spec.name, "num_ctx": r.num_ctx, "refs": r.refs, "keep_alive": r.session}
            for r in self.scheduler.resident()
        ]
        data = self.stats.to_dict(resident)
        data["pending"] = self.scheduler.pending
        data["profile"] = self.profile.name
        data["time_scale"] = self.time_scale
        return Response(200, json.dumps(data).encode())

    async def _reset(self, request: Request) -> Result:
        self.stats.reset()
        return json_response(200, {"status": "ok"})

    async def _get_faults(self, request: Request) -> Result:
        return json_response(200, self.faults.to_dict())

    async def _set_faults(self, request: Request) -> Result:
        """Replace the faults; a bad value is a 400 naming the field, and the faults in force stay."""
        data = parse_body(request.body) if request.body.strip() else {}
        try:
            faults = Faults.from_mapping(data)
        except FaultError as err:
            return json_response(400, {"error": str(err), "field": err.field})
        self.faults = faults
        self._fault_counter = itertools.count(1)
        self._cut_counter = itertools.count(1)
        return json_response(200, faults.to_dict())


def host_of(request: Request) -> str:
    host = request.headers.get("host", "")
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


async def run_server(
    app: LabApp,
    host: str,
    port: int,
    ready: Callable[[str], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve until ``stop`` is set (or forever). Calls ``ready(url)`` once listening."""
    ids = itertools.count(1)
    conns: set[asyncio.Task[Any]] = set()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            conns.add(task)
        app.stats.connections_opened += 1
        app.stats.connections_current += 1
        try:
            await serve_connection(reader, writer, app, next(ids))
        finally:
            app.stats.connections_current -= 1
            if task is not None:
                conns.discard(task)

    server = await asyncio.start_server(on_connect, host, port, backlog=1024)
    bound = server.sockets[0].getsockname()
    shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
    if ready is not None:
        ready(f"http://{shown}:{bound[1]}")
    try:
        if stop is None:
            await asyncio.Future()
        else:
            await stop.wait()
    finally:
        server.close()
        for task in list(conns):
            task.cancel()
        await asyncio.gather(*conns, return_exceptions=True)
        await app.scheduler.close()


def replace_faults(faults: Faults, **changes: Any) -> Faults:
    return dataclasses.replace(faults, **changes)
