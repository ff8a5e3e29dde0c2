"""Model residency as Ollama's scheduler does it: loads, keep_alive expiry, slots, eviction, queue limit.

- A request names a model and a ``num_ctx``; a resident model with the same ``num_ctx`` is used at once,
  otherwise the request joins the pending queue (at most ``max_queue`` requests; beyond that 503). Requests
  for a model already resident go straight to its slots, as in Ollama, and do not count against the queue.
- One load per model at a time; every request that needs it waits for it. When all of them disconnect, the
  load is cancelled and counted as aborted.
- A different ``num_ctx`` unloads the model once idle and loads it again; with ``max_loaded_models``
  resident, the idle model that expires first is evicted (requests wait while all are busy).
- A load that takes longer than ``load_timeout`` fails (``placement.LoadTimedOut``, HTTP 500 as Ollama).
- The keep_alive of the request is stored on the model; a request without one keeps the model's setting; a
  new load starts from the server default. The idle timer starts when the model's last request ends.
- With ``memory_bytes`` set (a GPU's memory), a model whose ``size_vram`` does not fit beside the resident
  ones evicts idle models as ``max_loaded_models`` does; alone, a model always loads (Ollama then runs part
  of it on the CPU). Chat and embedding models share this one budget, so each can evict the other.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tuner.durations import OLLAMA_FOREVER_SECONDS as FOREVER_SECONDS
from tuner.lab.engine import Engine, LoadedModel, ModelSpec
from tuner.lab.placement import LoadTimedOut, load_limit
from tuner.lab.stats import LabStats


class ServerBusy(Exception):
    message = "server busy, please try again.  maximum pending requests exceeded"


@dataclass(eq=False)
class Runner:
    spec: ModelSpec
    num_ctx: int
    session: float  # keep_alive in (unscaled) seconds; math.inf for forever
    slots: asyncio.Semaphore
    model: LoadedModel | None = None
    load_task: asyncio.Task[LoadedModel] | None = None
    waiters: int = 0
    refs: int = 0
    unloading: bool = False
    timer: asyncio.TimerHandle | None = None
    expires_at: float | None = None  # wall clock (time.time()) when idle with a finite keep_alive
    extra: dict[str, Any] = field(default_factory=dict)


class Scheduler:
    def __init__(
        self,
        engine: Engine,
        stats: LabStats,
        *,
        default_keep_alive: float,
        num_parallel: int,
        max_loaded_models: int,
        max_queue: int,
        time_scale: float,
        load_timeout: float = 0.0,  # OLLAMA_LOAD_TIMEOUT, unscaled seconds (<= 0: none)
        memory_bytes: int = 0,
    ) -> None:
        self.engine = engine
        self.stats = stats
        self.default_keep_alive = default_keep_alive
        self.num_parallel = num_parallel
        self.max_loaded_models = max_loaded_models
        self.max_queue = max_queue
        self.time_scale = time_scale
        self.load_timeout = load_timeout
        self.memory_bytes = memory_bytes  # 0: no memory limit, only max_loaded_models
        self.runners: dict[str, Runner] = {}
        self.pending = 0
        self._changed = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    # -- acquiring and releasing ---------------------------------------------------------------------------
    async def acquire(self, spec: ModelSpec, num_ctx: int, keep_alive: float | None) -> Runner:
        """A loaded runner for ``spec`` with a reference held; call ``release`` when done."""
        runner = self.runners.get(spec.name)
        if runner is not None and self._usable(runner, num_ctx):
            return self._use(runner, keep_alive)
        if self.pending >= self.max_queue:
            self.stats.busy_503 += 1
            raise ServerBusy(ServerBusy.message)
        self.pending += 1
        try:
            while True:
                runner = self.runners.get(spec.name)
                if runner is None:
                    if len(self.runners) >= self.max_loaded_models or not self._fits(spec):
                        victim = self._idle_victim()
                        if victim is None:
                            await self._wait_change()
                        else:
                            await self._unload(victim)
                        continue
                    runner = self._start_load(spec, num_ctx)
                if runner.unloading:
                    await self._wait_change()
                    continue
                if runner.num_ctx != num_ctx:
                    if runner.model is not None and runner.refs == 0 and runner.waiters == 0:
                        await self._unload(runner)
                    else:
                        await self._wait_change()
                    continue
                if runner.model is None:
                    await self._await_load(runner)
                    continue
                return self._use(runner, keep_alive)
        finally:
            self.pending -= 1

    def release(self, runner: Runner) -> None:
        runner.refs -= 1
        if runner.refs == 0 and runner.waiters == 0:
            self._go_idle(runner)
        self._notify()

    async def slot(self, runner: Runner) -> None:
        await runner.slots.acquire()
        self.stats.model(runner.spec.name).slot_taken()

    def free_slot(self, runner: Runner) -> None:
        self.stats.model(runner.spec.name).slot_freed()
        runner.slots.release()

    async def expire(self, spec: ModelSpec) -> None:
        """keep_alive 0 with an empty request: unload now if idle, else as soon as it goes idle."""
        runner = self.runners.get(spec.name)
        if runner is None:
            return
        runner.session = 0.0
        if runner.model is not None and runner.refs == 0 and runner.waiters == 0 and not runner.unloading:
            await self._unload(runner)

    async def close(self) -> None:
        for runner in list(self.runners.values()):
            if runner.load_task is not None and not runner.load_task.done():
                runner.load_task.cancel()
            if runner.model is not None:
                await runner.model.close()
        self.runners.clear()

    # -- introspection -------------------------------------------------------------------------------------
    def resident(self) -> list[Runner]:
        return [r for r in self.runners.values() if r.model is not None and not r.unloading]

    def expires_at(self, runner: Runner) -> datetime:
        now = time.time()
        if runner.expires_at is not None:
            at = runner.expires_at
        elif math.isinf(runner.session):
            at = now + FOREVER_SECONDS
        else:
            at = now + runner.session * self.time_scale
        return datetime.fromtimestamp(now).astimezone() + timedelta(seconds=at - now)

    # -- internals -----------------------------------------------------------------------------------------
    def _fits(self, spec: ModelSpec) -> bool:
        if not self.memory_bytes or not self.runners:
            return True
        used = sum(r.spec.size_vram for r in self.runners.values())
        return used + spec.size_vram <= self.memory_bytes

    def _usable(self, runner: Runner, num_ctx: int) -> bool:
        return runner.model is not None and not runner.unloading and runner.num_ctx == num_ctx

    def _use(self, runner: Runner, keep_alive: float | None) -> Runner:
        runner.refs += 1
        if runner.timer is not None:
            runner.timer.cancel()
            runner.timer = None
        runner.expires_at = None
        if keep_alive is not None:
            runner.session = keep_alive
        return runner

    def _go_idle(self, runner: Runner) -> None:
        if runner.model is None or runner.unloading:
            return
        if runner.session <= 0:
            self._spawn(self._unload_if_idle(runner))
        elif math.isinf(runner.session):
            runner.expires_at = time.time() + FOREVER_SECONDS
        else:
            delay = runner.session * self.time_scale
            runner.expires_at = time.time() + delay
            loop = asyncio.get_running_loop()
            runner.timer = loop.call_later(delay, self._on_timer, runner)

    def _on_timer(self, runner: Runner) -> None:
        runner.timer = None
        self._spawn(self._unload_if_idle(runner))

    async def _unload_if_idle(self, runner: Runner) -> None:
        if runner.refs == 0 and runner.waiters == 0 and self.runners.get(runner.spec.name) is runner:
            await self._unload(runner)

    def _idle_victim(self) -> Runner | None:
        idle = [
            r
            for r in self.runners.values()
            if r.model is not None and r.refs == 0 and r.waiters == 0 and not r.unloading
        ]
        if not idle:
            return None
        return min(idle, key=lambda r: r.expires_at if r.expires_at is not None else math.inf)

    def _start_load(self, spec: ModelSpec, num_ctx: int) -> Runner:
        runner = Runner(
            spec=spec,
            num_ctx=num_ctx,
            session=self.default_keep_alive,
            slots=asyncio.Semaphore(self.num_parallel),
        )
        self.runners[spec.name] = runner
        runner.load_task = asyncio.create_task(self._load(runner))
        return runner

    async def _load(self, runner: Runner) -> LoadedModel:
        counters = self.stats.model(runner.spec.name)
        try:
            limit = load_limit(self.load_timeout, self.time_scale)
            loading = self.engine.load(runner.spec, runner.num_ctx)
            model = await (loading if limit is None else asyncio.wait_for(loading, limit))
        except TimeoutError:
            counters.load_timeouts += 1
            if self.runners.get(runner.spec.name) is runner:
                del self.runners[runner.spec.name]
            self._notify()
            raise LoadTimedOut() from None
        except BaseException as err:
            if isinstance(err, asyncio.CancelledError):
                counters.aborted_loads += 1
            if self.runners.get(runner.spec.name) is runner:
                del self.runners[runner.spec.name]
            self._notify()
            raise
        runner.model = model
        counters.loads += 1
        self._notify()
        return model

    async def _await_load(self, runner: Runner) -> None:
        task = runner.load_task
        assert task is not None
        runner.waiters += 1
        try:
            await asyncio.shield(task)
        except BaseException:
            runner.waiters -= 1
            if runner.waiters == 0:
                if not task.done():
                    task.cancel()  # every client that wanted this load has gone: abort it
                elif runner.refs == 0 and runner.model is not None:
                    self._go_idle(runner)
            raise
        runner.waiters -= 1

    async def _unload(self, runner: Runner) -> None:
        if runner.unloading:
            return
        runner.unloading = True
        if runner.timer is not None:
            runner.timer.cancel()
            runner.timer = None
        try:
            if runner.model is not None:
                await runner.model.close()
        finally:
            self.stats.model(runner.spec.name).unloads += 1
            if self.runners.get(runner.spec.name) is runner:
                del self.runners[runner.spec.name]
            self._notify()

    async def _wait_change(self) -> None:
        await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
