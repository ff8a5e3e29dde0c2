"""Where Chatchat runs: a network probe run by Chatchat's own interpreter, standard library only.

It must run wherever Chatchat's Python runs (a container, WSL, a venv of another Python), so it imports
nothing outside the standard library and nothing of ``tuner``: ``tuner.doctor.place`` passes this file's
source with ``python -c SOURCE CONFIG_JSON`` (through a command prefix the user named, if any), and runs the
same ``run`` in-process for the host side. Contract: one JSON object on stdout, within ``deadline_s``.

The probe reports, for each target URL: its host's resolution, the TCP connect (time or error kind), and
the HTTP status of one GET; for a target that fails, the same for the addresses the machine it runs in
would use to reach its host (the default gateway, ``host.docker.internal``, the WSL name server). And
where it runs: a container (``/.dockerenv``, ``/run/.containerenv``, ``/proc/1/cgroup``) or WSL (the
kernel release names Microsoft).
"""

from __future__ import annotations

import errno
import http.client
import json
import os
import platform
import socket
import sys
import threading
import time
from typing import Any
from urllib.parse import urlsplit

SCHEMA_VERSION = 1
NAME_CAP = 0.5  # seconds for the host names (they only inform the fixes)
HOST_NAMES = ("host.docker.internal", "gateway.docker.internal", "host.containers.internal")
UNREACHABLE = {errno.ENETUNREACH, errno.EHOSTUNREACH, getattr(errno, "EADDRNOTAVAIL", -1)}


class Clock:
    def __init__(self, deadline: float) -> None:
        self.t0 = time.perf_counter()
        self.deadline = deadline

    def left(self, cap: float) -> float:
        return min(cap, self.deadline - (time.perf_counter() - self.t0))


def _kind(exc: BaseException) -> str:
    if isinstance(exc, socket.gaierror):
        return "dns"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timeout"
    if isinstance(exc, ConnectionResetError):
        return "reset"
    if isinstance(exc, OSError) and exc.errno in UNREACHABLE:
        return "unreachable"
    return "error"


def resolve(host: str, port: int, timeout: float) -> tuple[list[str], float, str | None]:
    """(addresses, seconds, error kind): getaddrinfo in a thread, given up after ``timeout`` (a resolver
    can wait 5 s per server and attempt; the thread is left to finish on its own)."""
    t0 = time.perf_counter()
    result: list[Any] = []

    def lookup() -> None:
        try:
            result.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except OSError as exc:
            result.append(exc)

    worker = threading.Thread(target=lookup, daemon=True)
    worker.start()
    worker.join(max(timeout, 0.0))
    seconds = time.perf_counter() - t0
    if not result:
        return [], seconds, "timeout"
    if isinstance(result[0], OSError):
        return [], seconds, _kind(result[0])
    seen: list[str] = []
    for info in result[0]:
        address = str(info[4][0])
        if address not in seen:
            seen.append(address)
    return seen, seconds, None


def check(url: str, path: str, clock: Clock, cap: float) -> dict[str, Any]:
    """Resolve, connect and GET ``path`` on ``url``'s server: what answered, in how long, or why not."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    out: dict[str, Any] = {"url": url, "host": host, "port": port, "path": path, "status": None}
    addresses, out["resolve_s"], error = resolve(host, port, clock.left(cap))
    out["addresses"] = addresses
    if error is not None:
        return {**out, "error": "dns", "detail": f"name does not resolve ({error})"}
    timeout = clock.left(cap)
    if timeout < 0.05:
        return {**out, "error": "skipped", "detail": "no time left"}
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = cls(host, port, timeout=timeout)
    t0 = time.perf_counter()
    try:
        conn.connect()
        out["connect_s"] = time.perf_counter() - t0
        conn.request("GET", path, headers={"Accept": "application/json"})
        response = conn.getresponse()
        body = response.read(2048)
        out["status"] = response.status
        out["body"] = body.decode("utf-8", "replace")[:200]
    except (OSError, http.client.HTTPException) as exc:
        out["error"] = _kind(exc) if isinstance(exc, OSError) else "protocol"
        out["detail"] = (str(exc) or type(exc).__name__)[:200]
    finally:
        out["seconds"] = time.perf_counter() - t0
        conn.close()
    return out


def _read(path: str, limit: int = 65536) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read(limit)
    except OSError:
        return ""


def gateway() -> str | None:
    """The IPv4 default gateway (Linux: /proc/net/route), else None."""
    for line in _read("/proc/net/route").splitlines()[1:]:
        fields = line.split()
        if len(fields) > 2 and fields[1] == "00000000":
            try:
                return socket.inet_ntoa(int(fields[2], 16).to_bytes(4, "little"))
            except (ValueError, OverflowError):
                return None
    return None


def nameservers() -> list[str]:
    out = []
    for line in _read("/etc/resolv.conf").splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "nameserver":
            out.append(fields[1])
    return out[:3]


def where() -> dict[str, Any]:
    cgroup = _read("/proc/1/cgroup")
    engine = next((e for e in ("docker", "kubepods", "containerd", "libpod", "lxc") if e in cgroup), None)
    release = platform.release()
    osrelease = _read("/proc/sys/kernel/osrelease").strip() or release
    wsl = "microsoft" in osrelease.lower() or "wsl" in osrelease.lower()
    return {
        "platform": sys.platform,
        "python": platform.python_version(),
        "hostname": socket.gethostname(),
        "kernel": osrelease[:200],
        "dockerenv": os.path.exists("/.dockerenv"),
        "containerenv": os.path.exists("/run/.containerenv"),
        "cgroup_engine": engine,
        "wsl": wsl,
        "wsl2": wsl and "wsl2" in osrelease.lower(),
    }


def _alternates(url: str, path: str, clock: Clock, cap: float, names: dict[str, Any]) -> list[dict[str, Any]]:
    """The same port and path on the addresses this machine would use to reach its host."""
    parts = urlsplit(url)
    tried: set[str] = {parts.hostname or ""}
    out = []
    candidates: list[tuple[str, str]] = []
    gw = gateway()
    if gw:
        candidates.append(("gateway", gw))
    for name, info in names.items():
        if info.get("addresses"):
            candidates.append((name, name))
    candidates += [("nameserver", ns) for ns in nameservers() if not ns.startswith("127.")]
    for via, host in candidates:
        if host in tried or clock.left(cap) < 0.05:
            continue
        tried.add(host)
        shown = f"[{host}]" if ":" in host else host
        netloc = f"{shown}:{parts.port}" if parts.port else shown
        got = check(parts._replace(netloc=netloc).geturl(), path, clock, cap)
        out.append({**got, "via": via})
    return out


def resolve_all(names: list[str], timeout: float) -> dict[str, Any]:
    """Each name resolved at once, in parallel, all within ``timeout``."""
    out: dict[str, Any] = {}
    lock = threading.Lock()

    def one(name: str, left: float) -> None:
        addresses, seconds, error = resolve(name, 80, left)
        with lock:
            out[name] = {"addresses": addresses, "seconds": seconds, "error": error}

    t0 = time.perf_counter()
    workers = [threading.Thread(target=one, args=(n, timeout), daemon=True) for n in names]
    for w in workers:
        w.start()
    for w in workers:
        w.join(max(timeout - (time.perf_counter() - t0), 0.0) + 0.05)
    with lock:
        return {n: out.get(n, {"addresses": [], "seconds": timeout, "error": "timeout"}) for n in names}


def run(config: dict[str, Any]) -> dict[str, Any]:
    clock = Clock(float(config.get("deadline_s", 3.0)))
    cap = float(config.get("timeout_s", 1.5))
    names = resolve_all([str(n) for n in config.get("names", HOST_NAMES)], clock.left(min(cap, NAME_CAP)))
    targets = []
    for target in config.get("targets", []):
        got = check(str(target["url"]), str(target.get("path", "/")), clock, cap)
        if got["status"] is None and config.get("alternates", True):
            got["alternates"] = _alternates(str(target["url"]), got["path"], clock, cap, names)
        targets.append(got)
    return {
        "schema_version": SCHEMA_VERSION,
        "where": where(),
        "gateway": gateway(),
        "nameservers": nameservers(),
        "names": names,
        "targets": targets,
        "elapsed_s": time.perf_counter() - clock.t0,
    }


def main(argv: list[str]) -> int:
    try:
        config = json.loads(argv[0]) if argv else {}
    except ValueError:
        config = None
    if not isinstance(config, dict):
        sys.stdout.write(json.dumps({"schema_version": SCHEMA_VERSION, "error": "bad configuration"}) + "\n")
        return 2
    sys.stdout.write(json.dumps(run(config)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
