"""One model request from arrival to last byte: queue and load, a slot, the engine's output, timings."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from tuner.lab.engine import Chunk, Final, GenRequest, ModelSpec
from tuner.lab.protocol import ns
from tuner.lab.scheduler import Runner, Scheduler
from tuner.lab.stats import ModelCounters


@dataclass(frozen=True)
class Metrics:
    """The native final object's timings (nanoseconds) and counts."""

    total_duration: int
    load_duration: int
    prompt_eval_count: int
    prompt_eval_duration: int
    eval_count: int
    eval_duration: int
    done_reason: str

    def native(self) -> dict[str, object]:
        return {
            "done_reason": self.done_reason,
            "done": True,
            "total_duration": self.total_duration,
            "load_duration": self.load_duration,
            "prompt_eval_count": self.prompt_eval_count,
            "prompt_eval_duration": self.prompt_eval_duration,
            "eval_count": self.eval_count,
            "eval_duration": self.eval_duration,
        }

    def usage(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_eval_count,
            "completion_tokens": self.eval_count,
            "total_tokens": self.prompt_eval_count + self.eval_count,
        }


class Job:
    """Holds a reference on the runner (and counts the request in flight) until ``close``."""

    def __init__(
        self, scheduler: Scheduler, spec: ModelSpec, runner: Runner, counters: ModelCounters, t0: float
    ) -> None:
        self.scheduler = scheduler
        self.spec = spec
        self.runner = runner
        self.counters = counters
        self.t0 = t0
        self._open = True

    async def tokens(self, request: GenRequest) -> AsyncIterator[Chunk | Metrics]:
        """Text chunks, then one Metrics. Waits for a slot first (that wait counts as load time)."""
        await self.scheduler.slot(self.runner)
        try:
            t_slot = time.perf_counter()
            model = self.runner.model
            assert model is not None
            async for item in model.generate(request):
                if isinstance(item, Final):
                    yield Metrics(
                        total_duration=ns(time.perf_counter() - self.t0),
                        load_duration=ns(t_slot - self.t0),
                        prompt_eval_count=item.prompt_eval_count,
                        prompt_eval_duration=ns(item.prompt_eval_seconds),
                        eval_count=item.eval_count,
                        eval_duration=ns(item.eval_seconds),
                        done_reason=item.done_reason,
                    )
                else:
                    yield item
        finally:
            self.scheduler.free_slot(self.runner)

    async def embed(self, texts: Sequence[str]) -> tuple[list[list[float]], Metrics]:
        await self.scheduler.slot(self.runner)
        try:
            t_slot = time.perf_counter()
            model = self.runner.model
            assert model is not None
            vectors = await model.embed(texts)
            done = time.perf_counter()
        finally:
            self.scheduler.free_slot(self.runner)
        count = sum(len(t.split()) for t in texts)
        metrics = Metrics(
            total_duration=ns(done - self.t0),
            load_duration=ns(t_slot - self.t0),
            prompt_eval_count=count,
            prompt_eval_duration=ns(done - t_slot),
            eval_count=0,
            eval_duration=0,
            done_reason="stop",
        )
        return vectors, metrics

    def close(self) -> None:
        if self._open:
            self._open = False
            self.scheduler.release(self.runner)
            self.counters.leave()
