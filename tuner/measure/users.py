"""Several users: the options ``--users``, ``--rate`` and ``--traffic`` as one arrival process.

- ``--users N``: N users at once, closed loop; each waits an idle gap drawn from the idle-gap profile (its
  own seeded draws) before each of its requests. Without ``--idle-gap`` they send back to back.
- ``--rate R``: open loop, Poisson arrivals at R requests/s (seeded).
- ``--traffic FILE``: open loop, the arrival times in the file (``tuner.measure.traffic``).

Open loops need a worker per request in flight: they get ``min(MAX_CONCURRENCY, requests)`` workers (or
``--concurrency`` when larger), so at most that many requests are in flight; an arrival finding every
worker busy is sent late, and its sample's ``start`` shows it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

from tuner.errors import UserError
from tuner.i18n import _
from tuner.measure.workload import MAX_CONCURRENCY, Arrival

Distribution = Literal["exponential", "fixed", "uniform"]


def arrival_for(
    *,
    users: int | None,
    rate: float | None,
    traffic: Path | None,
    mean_gap: float | None,
    distribution: Distribution,
    concurrency: int,
    requests: int,
) -> tuple[Arrival, int]:
    """The arrival process and the number of workers for the options given (one of the three at most)."""
    given = [
        name for name, v in (("--users", users), ("--rate", rate), ("--traffic", traffic)) if v is not None
    ]
    if len(given) > 1:
        raise UserError(_("{a} and {b} describe the arrivals twice; give one").format(a=given[0], b=given[1]))
    open_workers = max(concurrency, min(MAX_CONCURRENCY, requests))
    if users is not None:
        if not 1 <= users <= MAX_CONCURRENCY:
            raise UserError(_("--users must be 1..{n}, not {users}").format(n=MAX_CONCURRENCY, users=users))
        return Arrival("users", mean_gap=mean_gap or 0.0, distribution=distribution), users
    if rate is not None:
        if not (rate > 0 and math.isfinite(rate)):
            raise UserError(_("--rate must be a finite number of requests per second > 0"))
        return Arrival("rate", rate=rate), open_workers
    if traffic is not None:
        from tuner.measure.traffic import load_traffic

        return Arrival("trace", times=load_traffic(traffic)), open_workers
    if mean_gap is not None:
        return Arrival("gaps", mean_gap=mean_gap, distribution=distribution), concurrency
    return Arrival(), concurrency
