"""The probes: a few bounded requests to the install's own endpoints, within one time budget. I/O edge.

Every request is bounded by what is left of the budget (and a smaller cap where a quick answer is
expected); a probe that does not fit is skipped and said so. Requests go direct (no environment proxy):
the doctor measures the servers, and reports a proxy from the configuration (``tuner.doctor.proxy``).
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
import statistics
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import httpx

from tuner.doctor.http import Got, new_client, request
from tuner.doctor.model import (
    AutoDetectProbe,
    ClientState,
    Concurrency,
    InstallFacts,
    ModelProbe,
    NameVsAddress,
    Overhead,
    ProbeFacts,
    Reach,
    Status,
)
from tuner.doctor.probes_place import (
    PS_CAP,
    PlaceRequest,
    ollama_port_state,
    ps_snapshot,
    residency,
    run_place,
)
from tuner.durations import seconds_until
from tuner.install.endpoints import server_root, with_host
from tuner.measure.ollama import tagged
from tuner.measure.protocols import Reader

REACH_CAP = 2.0  # a running Ollama answers GET /api/version in milliseconds
AUTODETECT_CAP = 1.5
NAME_PAIRS = 3


class Budget:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.t0 = time.perf_counter()

    def left(self) -> float:
        return self.seconds - (time.perf_counter() - self.t0)

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def timeout(self, cap: float = math.inf) -> float | None:
        """A request timeout that fits what is left (None: nothing worth sending is left)."""
        t = min(cap, self.left())
        return t if t >= 0.05 else None


def _status(got: Got) -> Status:
    if got.status is not None:
        return "ok"
    if got.kind in ("connect", "connect_timeout"):
        return "refused" if got.kind == "connect" else "timeout"
    return "timeout" if got.kind in ("timeout", "pool_timeout") else "error"


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class Prober:
    def __init__(self, install: InstallFacts, budget: float, python: Path | None) -> None:
        self.install = install
        self.budget = Budget(budget)
        self.python = python
        self.errors: Counter[str] = Counter()
        self.generation_requests = 0
        self.skipped: list[str] = []
        self.hang: str | None = None
        self.root = (install.ollama_root or "").rstrip("/")

    # -- the generation requests, counted ------------------------------------------------------------------
    def _generate(self, body: dict[str, object], timeout: float, client: httpx.Client | None = None) -> Got:
        got = request("POST", self.root + "/api/chat", timeout=timeout, body=body, client=client)
        self.generation_requests += 1
        if got.status is None:
            self.errors[got.kind or "transport"] += 1
        elif got.status != 200:
            self.errors[f"http_{got.status}"] += 1
        return got

    def _chat_body(self, tag: str, tokens: int) -> dict[str, object]:
        prompt = f"[chatchat-tune doctor {tag} {time.time_ns() % 10**9}] Reply with one word."
        return {
            "model": self.install.model,
            "messages": [{"role": "user", "content": prompt}],
            "stream": False,
            "options": {"num_predict": tokens},
        }

    # -- probes --------------------------------------------------------------------------------------------
    def reach(self) -> Reach:
        timeout = self.budget.timeout(REACH_CAP)
        if timeout is None:
            return Reach("skipped", None, "no time left")
        got = request("GET", self.root + "/api/version", timeout=timeout)
        status = _status(got)
        if status == "timeout" and got.kind not in ("connect_timeout",):
            self.hang = f"GET {self.root}/api/version (no answer in {got.seconds:.1f} s)"
        if got.status is None:
            return Reach(status, got.seconds, got.detail)
        data = got.json()
        version = str(data.get("version")) if isinstance(data, dict) and data.get("version") else None
        if got.status != 200:
            return Reach("ok", got.seconds, f"GET /api/version answered HTTP {got.status}")
        return Reach("ok", got.seconds, "", version)

    def model(self) -> ModelProbe:
        model = self.install.model or ""
        tags = request("GET", self.root + "/api/tags", timeout=self.budget.timeout(REACH_CAP) or 0.05)
        listed: bool | None = None
        data = tags.json() if tags.ok else None
        if isinstance(data, dict) and isinstance(data.get("models"), list):
            names = {
                tagged(str(m.get("name") or m.get("model"))) for m in data["models"] if isinstance(m, dict)
            }
            listed = tagged(model) in names
        resident_before = self._resident(model) is not None
        timeout = self.budget.timeout()
        if timeout is None:
            self.skipped.append("model request (no time left)")
            return ModelProbe(model, "skipped", listed, resident_before, None, None, None)
        got = self._generate(self._chat_body("probe", 1), timeout)

        def failed(status: Literal["missing", "timeout", "error"], detail: str) -> ModelProbe:
            return ModelProbe(model, status, listed, resident_before, None, got.seconds, None, detail)

        if got.status == 404:
            text = got.text()
            if "not found" in text and "model" in text:
                return failed("missing", text)
            return failed("error", f"no native /api/chat here (HTTP 404: {text})")
        if got.status is None:
            if _status(got) == "timeout":
                self.hang = f"POST {self.root}/api/chat for {model} (no answer in {got.seconds:.1f} s)"
                return failed("timeout", got.detail)
            return failed("error", f"{got.kind}: {got.detail}")
        if got.status != 200:
            return failed("error", f"HTTP {got.status}: {got.text()}")
        reader = Reader("native", False)
        reader.feed(got.body.decode("utf-8", "replace"))
        out = reader.finish()
        keep_alive = self._resident(model)
        status: Literal["ok", "error"] = "ok" if out.complete else "error"
        return ModelProbe(
            model,
            status,
            listed,
            resident_before,
            out.load,
            got.seconds,
            keep_alive,
            "" if out.complete else f"incomplete answer: {got.text()}",
        )

    def _resident(self, model: str) -> float | None:
        """Seconds the model stays loaded (from /api/ps; -1 forever), or None when it is not loaded."""
        timeout = self.budget.timeout(REACH_CAP)
        if timeout is None:
            return None
        data = request("GET", self.root + "/api/ps", timeout=timeout).json()
        for m in data.get("models", []) if isinstance(data, dict) else []:
            if isinstance(m, dict) and tagged(str(m.get("name") or m.get("model"))) == tagged(model):
                left = seconds_until(str(m.get("expires_at", "")))
                return left if left is not None else math.nan
        return None

    def localhost(self) -> NameVsAddress | None:
        url = self.install.ollama_url or ""
        host = urlsplit(url).hostname or ""
        if not host or _is_address(host):
            return None
        by_name: list[float] = []
        by_address: list[float] = []
        attempts: tuple[str, ...] = ()
        dns: float | None = None
        address: str | None = None
        for _ in range(NAME_PAIRS):
            timeout = self.budget.timeout(REACH_CAP)
            if timeout is None:
                break
            got = request("GET", with_host(self.root, host) + "/api/version", timeout=timeout)
            if got.status is None:
                break
            by_name.append(got.seconds)
            if not attempts:
                attempts = tuple(
                    f"{a.address} {'ok' if a.ok else 'failed'} {a.seconds * 1000:.1f} ms"
                    for a in got.trace.attempts
                )
                dns = got.trace.dns
                address = next((a.address for a in got.trace.attempts if a.ok), None)
            if address is None:
                break
            timeout = self.budget.timeout(REACH_CAP)
            if timeout is None:
                break
            got = request("GET", with_host(self.root, address) + "/api/version", timeout=timeout)
            if got.status is None:
                break
            by_address.append(got.seconds)
        if not by_name or not by_address or address is None:
            self.skipped.append(f"{host} vs its address (no complete pair)")
            return None
        return NameVsAddress(host, address, tuple(by_name), tuple(by_address), attempts, dns)

    def concurrency(self, single_hint: float | None) -> Concurrency | None:
        need = 4 * (single_hint or 0.1) + 0.2
        if self.budget.left() < need:
            self.skipped.append("2 concurrent vs 1 (not enough budget left)")
            return None
        singles = []
        for _ in range(2):
            timeout = self.budget.timeout()
            if timeout is None:
                return None
            got = self._generate(self._chat_body("single", 8), timeout)
            if not got.ok:
                return None
            singles.append(got.seconds)
        results: list[Got | None] = [None, None]
        barrier = threading.Barrier(2)
        timeout = self.budget.timeout()
        if timeout is None:
            return None

        def one(i: int) -> None:
            body = self._chat_body(f"pair{i}", 8)
            with new_client(timeout) as client:  # built before the barrier: building one takes milliseconds
                client.get(self.root + "/api/version")  # connected before the barrier, too
                with contextlib.suppress(threading.BrokenBarrierError):
                    barrier.wait(2.0)
                results[i] = self._generate(body, timeout, client=client)

        threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout + 1.0)
        if not all(r is not None and r.ok for r in results):
            return None
        pair = (results[0].seconds, results[1].seconds)  # type: ignore[union-attr]
        timings = [_native_timings(r) for r in results if r is not None]
        if any(t is None for t in timings):
            return None
        loads = [t[0] for t in timings if t is not None]
        work = min(t[1] for t in timings if t is not None)
        wait = max(loads) - min(loads)
        # The server's own clock: load_duration includes the wait for a slot (Ollama and the lab alike).
        serialised = work >= 0.002 and wait >= 0.5 * work
        single = min(singles)
        return Concurrency(single, pair, serialised, wait, work)

    def chatchat(self) -> tuple[Reach | None, Overhead | None]:
        api = self.install.chatchat_api
        if not api:
            return None, None
        timeout = self.budget.timeout(1.0)
        if timeout is None:
            self.skipped.append("Chatchat overhead (no time left)")
            return None, None
        got = request("GET", api.rstrip("/") + "/docs", timeout=timeout)
        reach = Reach(_status(got), got.seconds, got.detail if got.status is None else f"HTTP {got.status}")
        if got.status is None:
            return reach, None
        direct: list[float] = []
        via: list[float] = []
        model = self.install.model
        for i in range(3):
            for path, sink in (("/v1/chat/completions", direct), ("/chat/chat/completions", via)):
                timeout = self.budget.timeout()
                if timeout is None or self.budget.left() < 0.5:
                    break
                body = {
                    "model": model,
                    "messages": [{"role": "user", "content": f"[doctor {i}] Say OK."}],
                    "stream": False,
                    "max_tokens": 8,
                }
                base = self.root if path.startswith("/v1") else api.rstrip("/")
                r = request("POST", base + path, timeout=timeout, body=body)
                if r.ok:
                    sink.append(r.seconds)
        if not direct or not via:
            self.skipped.append("Chatchat overhead (no successful pair)")
            return reach, None
        return reach, Overhead(statistics.median(direct), statistics.median(via), min(len(direct), len(via)))

    def auto_detect(self) -> tuple[AutoDetectProbe, ...]:
        out = []
        client = _client_state(self.python) if self.install.auto_detect else "unknown"
        for p in self.install.auto_detect:
            if p.platform_type != "xinference":  # Chatchat only detects on xinference platforms
                continue
            timeout = self.budget.timeout(AUTODETECT_CAP)
            if timeout is None:
                out.append(AutoDetectProbe(p, "skipped", None, client, "no time left"))
                continue
            got = request("GET", server_root(p.url, keep_path=False) + "/v1/models", timeout=timeout)
            out.append(
                AutoDetectProbe(
                    p,
                    _status(got),
                    got.seconds,
                    client,
                    got.detail if got.status is None else f"HTTP {got.status}",
                )
            )
        return tuple(out)


def _native_timings(got: Got) -> tuple[float, float] | None:
    """(load_duration, prompt_eval + eval) of a native answer, seconds."""
    reader = Reader("native", False)
    reader.feed(got.body.decode("utf-8", "replace"))
    out = reader.finish()
    if not out.complete or out.load is None:
        return None
    return out.load, (out.prompt_eval or 0.0) + (out.eval or 0.0)


def _client_state(python: Path | None) -> ClientState:
    """Is the xinference client importable by Chatchat's interpreter? (find_spec; nothing is imported.)"""
    if python is None:
        return "unknown"
    code = "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec('xinference_client') else 3)"
    try:
        proc = subprocess.run([str(python), "-c", code], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return {0: "installed", 3: "absent"}.get(proc.returncode, "unknown")  # type: ignore[return-value]


def probe(
    install: InstallFacts,
    *,
    budget: float,
    python: Path | None = None,
    place: PlaceRequest | None = None,
    environ: Mapping[str, str] | None = None,
) -> ProbeFacts:
    """Probe the install's endpoints within ``budget`` seconds (a hung endpoint costs at most the budget).

    ``place``: also run the probe where Chatchat runs (tuner.doctor.place), first, within the budget."""
    p = Prober(install, budget, python)
    if not p.root:
        return ProbeFacts(budget, 0.0, Reach("skipped", None, "no Ollama entry in the install"))
    placed = run_place(place, p.budget.left()) if place is not None else None
    reach = p.reach()
    model = localhost = concurrency = overhead = None
    chatchat = None
    where = None
    if reach.status == "ok":
        before = ps_snapshot(p.root, p.budget.timeout(PS_CAP))
        model = p.model()
        where = residency(install, p.root, before, model, reach.version, p.budget, environ or {})
        if p.hang is None:
            localhost = p.localhost()
    auto = p.auto_detect()
    if reach.status == "ok" and p.hang is None and model is not None and model.status == "ok":
        chatchat, overhead = p.chatchat()
        concurrency = p.concurrency(model.total)
    return ProbeFacts(
        budget,
        p.budget.elapsed(),
        reach,
        p.hang,
        localhost,
        model,
        concurrency,
        chatchat,
        overhead,
        auto,
        dict(p.errors),
        p.generation_requests,
        tuple(p.skipped),
        place=placed,
        port_state=ollama_port_state(p.root) if reach.status == "refused" else None,
        residency=where,
    )
