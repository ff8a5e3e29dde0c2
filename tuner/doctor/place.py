"""Where Chatchat runs: the same probe run there and here, compared. I/O edge.

``--python PATH`` runs ``tuner.doctor.placeprobe`` with Chatchat's own interpreter; ``--exec PREFIX`` runs
it through a command prefix the user named (``docker exec CONTAINER``, ``wsl -d DISTRO --``,
``ip netns exec NS``): ``PREFIX PYTHON -c BOOTSTRAP SOURCE CONFIG``, both base64 (``remote_command``).
Nothing a file names is ever run. The prefix is split with ``shlex`` (POSIX rules); on Windows with
Windows rules (double quotes group words, see docs/doctor.md). The host side runs the same code
in-process, without the alternates (it resolves no container names and tries no gateway: it only says
whether the targets answer here).
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import json
import shlex
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from tuner.i18n import _
from tuner.install.endpoints import server_root

PLACE_CAP = 4.0  # seconds the remote probe may take in all (its own deadline is a little shorter)
REMOTE_GRACE = 1.0  # for the interpreter (or container exec) to start
TARGET_CAP = 1.0  # one connect + GET
PortState = Literal["free", "in_use", "forbidden", "unknown"]


@dataclass(frozen=True, kw_only=True)
class Reached:
    """One GET as one side saw it."""

    url: str
    host: str
    port: int
    status: int | None  # HTTP status (None: no answer)
    error: str | None  # refused, timeout, unreachable, dns, reset, skipped, error
    seconds: float | None
    connect_s: float | None = None
    addresses: tuple[str, ...] = ()
    detail: str = ""
    via: str = ""  # for an alternate: gateway, host.docker.internal, nameserver
    alternates: tuple[Reached, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status is not None


@dataclass(frozen=True, kw_only=True)
class Side:
    """What one side reported: where it runs and what it reached."""

    targets: tuple[Reached, ...]
    container: str | None = None  # "docker", "podman", "kubepods", ... (None: not a container)
    wsl: bool = False
    platform: str = ""
    hostname: str = ""
    gateway: str | None = None
    names: tuple[tuple[str, tuple[str, ...]], ...] = ()  # host name → addresses ((): does not resolve)
    elapsed: float = 0.0

    def name_resolves(self, name: str) -> bool | None:
        for n, addresses in self.names:
            if n == name:
                return bool(addresses)
        return None


@dataclass(frozen=True, kw_only=True)
class PlaceFacts:
    how: str  # how the remote probe was run, as the user gave it
    host: Side
    remote: Side | None  # None: the remote probe failed (``error`` says why)
    error: str | None = None
    seconds: float = 0.0  # the remote probe's wall time, interpreter start included
    port_state: PortState | None = None  # this machine's Ollama port, when nothing answers here
    targets: tuple[Target, ...] = ()  # what was probed, in the order of each side's ``targets``


@dataclass(frozen=True)
class Target:
    name: str  # the entry
    url: str  # server root
    path: str  # /api/version (Ollama) or /v1/models (other OpenAI-compatible)
    configured: str = ""  # the entry's URL as the install has it (the fix changes its host)


def split_prefix(prefix: str, *, windows: bool | None = None) -> list[str]:
    """The words of a command prefix as the user's shell would split them (ValueError when unbalanced)."""
    if sys.platform == "win32" if windows is None else windows:
        return [
            w[1:-1] if len(w) >= 2 and w[0] == w[-1] == '"' else w for w in shlex.split(prefix, posix=False)
        ]
    return shlex.split(prefix)


def _local_host(host: str) -> bool:
    """Loopback, private or link-local addresses, and names with no dot (container and host names)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "." not in host or host.endswith((".internal", ".local", ".lan"))
    return address.is_loopback or address.is_private or address.is_link_local


def targets(entries: Any, ollama_entry: str | None) -> tuple[Target, ...]:
    """The install's Ollama entry first (whatever its host), then its other OpenAI-compatible entries on
    local hosts (never a public service: the doctor talks to the user's own machines only)."""
    out: list[Target] = []
    ordered = sorted(entries, key=lambda e: e.name != ollama_entry)  # stable: the Ollama entry first
    for e in ordered:
        if not e.url or not e.openai_compatible:
            continue
        if e.ollama:
            target = Target(e.name, server_root(e.url), "/api/version", e.url)
        else:
            base = urlsplit(e.url).path.rstrip("/")
            target = Target(e.name, server_root(e.url, keep_path=False), f"{base}/models", e.url)
        mine = e.name == ollama_entry or _local_host(urlsplit(e.url).hostname or "")
        if mine and all(t.url != target.url for t in out):
            out.append(target)
    return tuple(out[:4])


def _reached(data: Any) -> Reached:
    if not isinstance(data, dict):
        return Reached(url="", host="", port=0, status=None, error="error", seconds=None, detail="bad report")
    status = data.get("status")
    return Reached(
        url=str(data.get("url", "")),
        host=str(data.get("host", "")),
        port=port if isinstance(port := data.get("port"), int) and not isinstance(port, bool) else 0,
        status=status if isinstance(status, int) else None,
        error=str(data["error"]) if data.get("error") else None,
        seconds=_num(data.get("seconds")),
        connect_s=_num(data.get("connect_s")),
        addresses=tuple(str(a) for a in data.get("addresses") or ()),
        detail=str(data.get("detail", ""))[:200],
        via=str(data.get("via", "")),
        alternates=tuple(_reached(a) for a in data.get("alternates") or ()),
    )


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def side(report: dict[str, Any]) -> Side:
    """A probe's JSON report as a Side (unknown keys ignored; a missing key is an empty value)."""
    where = report.get("where") if isinstance(report.get("where"), dict) else {}
    assert isinstance(where, dict)
    engine = where.get("cgroup_engine")
    container = (
        "podman"
        if where.get("containerenv")
        else "docker"
        if where.get("dockerenv")
        else str(engine)
        if engine
        else None
    )
    names = report.get("names") if isinstance(report.get("names"), dict) else {}
    assert isinstance(names, dict)
    return Side(
        targets=tuple(_reached(t) for t in report.get("targets") or ()),
        container=container,
        wsl=bool(where.get("wsl")),
        platform=str(where.get("platform", "")),
        hostname=str(where.get("hostname", "")),
        gateway=str(report["gateway"]) if report.get("gateway") else None,
        names=tuple(
            (str(n), tuple(str(a) for a in (v.get("addresses") or ()) if isinstance(v, dict)))
            for n, v in names.items()
        ),
        elapsed=_num(report.get("elapsed_s")) or 0.0,
    )


def _config(found: tuple[Target, ...], deadline: float, *, alternates: bool) -> dict[str, Any]:
    return {
        "targets": [{"url": t.url, "path": t.path} for t in found],
        "timeout_s": min(TARGET_CAP, deadline),
        "deadline_s": deadline,
        "alternates": alternates,
        **({} if alternates else {"names": []}),
    }


def probe_source() -> str:
    from tuner.doctor import placeprobe

    return Path(placeprobe.__file__).read_text(encoding="utf-8")


# The source and the configuration travel base64-encoded behind a one-line bootstrap: a prefix that hands
# the command line to a shell (``wsl ... --`` does) can re-split or expand quotes, ``$`` and backslashes in
# them, but not in base64 ([A-Za-z0-9+/=]) or in this line (no ``$``, backslash or backquote).
BOOTSTRAP = (
    "import base64,sys;s=base64.b64decode(sys.argv[1]);"
    "sys.argv=['placeprobe',base64.b64decode(sys.argv[2]).decode()];exec(compile(s,'placeprobe','exec'))"
)


def remote_command(prefix: list[str], python: str, config: dict[str, Any]) -> list[str]:
    """``PREFIX PYTHON -c BOOTSTRAP SOURCE64 CONFIG64``."""
    source = base64.b64encode(probe_source().encode("utf-8")).decode("ascii")
    encoded = base64.b64encode(json.dumps(config).encode("utf-8")).decode("ascii")
    return [*prefix, python, "-c", BOOTSTRAP, source, encoded]


def run_remote(argv: list[str], timeout: float) -> tuple[dict[str, Any] | None, str | None, float]:
    """(report, error, seconds): the probe run as ``argv``, stopped after ``timeout`` seconds (on POSIX
    with everything the prefix started: it runs in its own session, and the session is killed)."""
    t0 = time.perf_counter()
    posix = sys.platform != "win32"
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=posix,
        )
    except FileNotFoundError:
        return None, _("{program}: no such program").format(program=argv[0]), time.perf_counter() - t0
    except OSError as exc:
        why = _("{program}: {error}").format(program=argv[0], error=exc.strerror or exc)
        return None, why, time.perf_counter() - t0
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(proc, posix)
        return None, _("no report in {seconds:.1f} s").format(seconds=timeout), time.perf_counter() - t0
    seconds = time.perf_counter() - t0
    lines = out.decode("utf-8", "replace").strip().splitlines()
    try:
        report = json.loads(lines[-1]) if lines else None
    except ValueError:
        report = None
    if not isinstance(report, dict) or "targets" not in report:
        errors = err.decode("utf-8", "replace").strip().splitlines()
        why = errors[-1][:200] if errors else _("exit code {code}, no report").format(code=proc.returncode)
        return None, why, seconds
    return report, None, seconds


def _kill(proc: subprocess.Popen[bytes], posix: bool) -> None:
    """Stop the prefix and what it started (its session on POSIX), and reap it."""
    if posix:
        import os
        import signal

        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.communicate(timeout=1.0)


def port_state(host: str, port: int) -> PortState:
    """Whether this machine could listen on ``host:port`` (loopback only): ``forbidden`` is what a
    Windows excluded port range (or a missing privilege) gives; ``in_use``: something holds it."""
    try:
        if not ipaddress.ip_address(host).is_loopback:
            return "unknown"
    except ValueError:
        if host != "localhost":
            return "unknown"
        host = "127.0.0.1"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except PermissionError:
            return "forbidden"
        except OSError as exc:
            if getattr(exc, "winerror", None) == 10013:  # WSAEACCES: an excluded port range
                return "forbidden"
            return "in_use" if exc.errno in (48, 98, 10048) else "unknown"
    return "free"


def probe_place(
    found: tuple[Target, ...],
    *,
    prefix: list[str],
    python: str,
    how: str,
    cap: float = PLACE_CAP,
) -> PlaceFacts:
    """The remote probe (at most ``cap`` seconds, interpreter start included) and the host side's."""
    from tuner.doctor import placeprobe

    here = side(placeprobe.run(_config(found, min(cap, 2.0), alternates=False)))
    deadline = max(cap - REMOTE_GRACE, 0.5)
    argv = remote_command(prefix, python, _config(found, deadline, alternates=True))
    report, error, seconds = run_remote(argv, cap)
    remote = side(report) if report is not None else None
    return PlaceFacts(how=how, host=here, remote=remote, error=error, seconds=seconds, targets=found)
