"""What one round may send, and when: bounded in requests and time, only to the install's endpoints. Pure.

Rules:
- Every round: ``GET /api/version`` on a new connection (up, connect, first byte), ``GET /api/ps``
  (residency). Both are read-only in Ollama: neither touches a model's idle timer.
- When the configured host is a name (``localhost``), also ``GET /api/version`` by the address it resolved
  to (the doctor's localhost rule), every ``NAME_EVERY`` rounds.
- ``GET /api/tags`` (is the model pulled?) every ``TAGS_EVERY`` rounds, the first included.
- Chatchat's API: ``GET /docs`` (a static page; no model call).
- A chat request only with ``--probe-chat``, every ``chat_every`` rounds: it resets Ollama's idle timer
  and keeps the model loaded, so it is never sent by default. ``/api/ps`` is read again right after it.
- At most ``MAX_REQUESTS`` requests and ``budget`` seconds per round; the interval has a floor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from urllib.parse import urlsplit

from tuner.watch.model import Hop, Target

MIN_INTERVAL = 5.0  # seconds (install time): a watcher may not poll faster
MAX_REQUESTS = 7  # per round, whatever the options
ADMIN_CAP = 2.0  # seconds: a running Ollama answers /api/version and /api/ps in milliseconds
MAX_ROUND_SECONDS = 120.0  # a round never takes longer (a chat probe through a cold load included)
MIN_ROUND_SECONDS = 5.0  # a round may take this long even when the interval is shorter (the lab's time)
TAGS_EVERY = 10
NAME_EVERY = 5


@dataclass(frozen=True, kw_only=True)
class Planned:
    name: str
    hop: Hop
    method: str
    url: str
    cap: float  # seconds this request may take at most


@dataclass(frozen=True, kw_only=True)
class RoundPlan:
    requests: tuple[Planned, ...]
    budget: float  # seconds the whole round may take (real)


def round_budget(interval: float) -> float:
    """Real seconds a round may take: most of the interval (at least MIN_ROUND_SECONDS, for the lab's
    compressed time), never more than MAX_ROUND_SECONDS."""
    return min(max(0.8 * interval, MIN_ROUND_SECONDS), MAX_ROUND_SECONDS)


def chat_every(probe_every: float | None, interval: float) -> int | None:
    """``--probe-chat EVERY`` as a number of rounds (rounded up, at least 1); None: no chat probe."""
    if probe_every is None:
        return None
    return max(1, math.ceil(probe_every / interval - 1e-9))


def is_name(url: str | None) -> bool:
    import ipaddress

    host = urlsplit(url or "").hostname or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return bool(host)
    return False


def plan_round(target: Target, round_no: int, *, budget: float, every: int | None) -> RoundPlan:
    """The requests of round ``round_no`` (0-based), in the order they are sent."""
    out: list[Planned] = []
    root = (target.ollama_root or "").rstrip("/")
    if root:
        out.append(
            Planned(name="version", hop="ollama", method="GET", url=root + "/api/version", cap=ADMIN_CAP)
        )
        if is_name(target.ollama_url) and round_no % NAME_EVERY == 0:
            out.append(
                Planned(
                    name="version_by_address",
                    hop="ollama",
                    method="GET",
                    url=root + "/api/version",
                    cap=ADMIN_CAP,
                )
            )
        out.append(Planned(name="ps", hop="ollama", method="GET", url=root + "/api/ps", cap=ADMIN_CAP))
        if round_no % TAGS_EVERY == 0:
            out.append(
                Planned(name="tags", hop="ollama", method="GET", url=root + "/api/tags", cap=ADMIN_CAP)
            )
    if target.chatchat_api:
        api = target.chatchat_api.rstrip("/")
        out.append(Planned(name="chatchat", hop="chatchat", method="GET", url=api + "/docs", cap=ADMIN_CAP))
    if every is not None and target.ollama_url and target.model and round_no % every == 0:
        url = target.ollama_url.rstrip("/")
        url = url if url.endswith("/v1") else url + "/v1"
        # After the read-only requests, so that the first /api/ps shows what the install's own traffic
        # left; then /api/ps again: the expiry the chat left tells the keep_alive in force to within the
        # chat's own duration.
        out.append(
            Planned(name="chat", hop="ollama", method="POST", url=url + "/chat/completions", cap=budget)
        )
        if root:
            out.append(
                Planned(name="ps_after", hop="ollama", method="GET", url=root + "/api/ps", cap=ADMIN_CAP)
            )
    return RoundPlan(requests=tuple(out[:MAX_REQUESTS]), budget=budget)
