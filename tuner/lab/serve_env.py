"""`lab serve` as an Ollama stand-in: its address and defaults from Ollama's own variables, and an access log.

Flags win over the environment; the environment over the profile. See ``tuner.ollama_env`` for how each
variable is read (as Ollama reads it). The lab listens on loopback only: an ``OLLAMA_HOST`` that means
"every interface" (``0.0.0.0``, ``::``, ``:11434``) becomes 127.0.0.1 with the same port.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tuner.errors import UserError
from tuner.i18n import _
from tuner.ollama_env import env_count, env_value, ollama_host


def address(host: str | None, port: int | None, environ: Mapping[str, str]) -> tuple[str, int]:
    """``--host``/``--port``, else ``$OLLAMA_HOST`` (the unspecified address → 127.0.0.1), else Ollama's
    default 127.0.0.1:11434. A host from the environment that is not loopback is refused, naming it."""
    parsed = ollama_host(environ)
    if host is None:
        host = "127.0.0.1" if parsed.unspecified else parsed.host
        from tuner.lab.cli import is_loopback

        if not is_loopback(host):
            raise UserError(
                _(
                    "OLLAMA_HOST={value} is not loopback; the lab listens only on loopback (pass --host)"
                ).format(value=env_value(environ, "OLLAMA_HOST"))
            )
    return host, parsed.port if port is None else port


@dataclass(frozen=True, kw_only=True)
class EnvDefaults:
    keep_alive: str | None
    num_parallel: int | None
    max_loaded_models: int | None
    max_queue: int | None


def env_defaults(environ: Mapping[str, str]) -> EnvDefaults:
    """The ``OLLAMA_*`` settings the lab models, from the environment (``None``: not set, or 0 = auto)."""
    keep_alive = env_value(environ, "OLLAMA_KEEP_ALIVE") or None
    if keep_alive is not None:
        from tuner.knobs.values import KEEP_ALIVE, BadValue

        try:
            keep_alive = str(KEEP_ALIVE.parse(keep_alive))
        except BadValue as exc:
            raise UserError(_("OLLAMA_KEEP_ALIVE: {problem}").format(problem=exc)) from None
    return EnvDefaults(
        keep_alive=keep_alive,
        num_parallel=env_count(environ, "OLLAMA_NUM_PARALLEL"),
        max_loaded_models=env_count(environ, "OLLAMA_MAX_LOADED_MODELS"),
        max_queue=env_count(environ, "OLLAMA_MAX_QUEUE"),
    )


def access_line(method: str, path: str, status: int | str, seconds: float, connection: int) -> str:
    """One request, as an access log shows it: time, status, duration, connection, method and path."""
    stamp = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    return f"{stamp} | {status} | {seconds * 1000:9.2f} ms | conn {connection} | {method} {path}"


def access_logged(cls: Any) -> Any:
    """``cls`` (the lab's app) with one access-log line on stderr per request (status at the headers)."""

    class Logged(cls):  # type: ignore[misc]
        async def __call__(self, request: Any) -> Any:
            start = time.perf_counter()
            result = await super().__call__(request)
            status = getattr(result, "status", "hang")
            line = access_line(
                request.method, request.path, status, time.perf_counter() - start, request.connection_id
            )
            print(line, file=sys.stderr, flush=True)
            return result

    return Logged
