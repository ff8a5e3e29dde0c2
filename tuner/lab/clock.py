"""Modelled waits that land where they should: asyncio's sleep overshoots by up to about a millisecond
(the selector's timeout is in whole milliseconds), which would show as error in every measured phase."""

from __future__ import annotations

import asyncio
import time

SPIN = 0.002  # the last part of a wait is spent yielding to other tasks instead of in the selector


async def precise_sleep(seconds: float) -> None:
    if seconds <= 0:
        return
    deadline = time.perf_counter() + seconds
    if seconds > SPIN:
        await asyncio.sleep(seconds - SPIN)
    while time.perf_counter() < deadline:
        await asyncio.sleep(0)
