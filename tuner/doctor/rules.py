"""From facts to findings: each rule names one cause, its measured cost, the evidence and the fix. Pure.

Ranking: error before warn before info; within a severity, unbounded costs first, then the measured cost
per affected request, largest first (causes with no measured cost last).
"""

from __future__ import annotations

import math
import statistics
from urllib.parse import urlsplit

from tuner.doctor.model import (
    SEVERITY_RANK,
    Finding,
    Fix,
    InstallFacts,
    ProbeFacts,
    ProxyVerdict,
    Severity,
)
from tuner.doctor.place_rules import down_fixes, reached_elsewhere, unreachable
from tuner.doctor.residency_rules import findings as residency_findings
from tuner.i18n import _
from tuner.install.endpoints import with_host

LOCALHOST_WARN = 0.020  # seconds per new connection by name over by address
OVERHEAD_WARN = 0.050  # Chatchat's own overhead per request
COLD_LOAD_WARN = 0.050
PATCH = "the code patch (chatchat-tune apply --patch-code)"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def _duration(seconds: float) -> str:
    """A Go duration Ollama accepts, rounded up to whole minutes (at least 30m)."""
    minutes = max(30, math.ceil(seconds / 60))
    return (
        f"{minutes // 60}h{minutes % 60}m"
        if minutes >= 60 and minutes % 60
        else (f"{minutes // 60}h" if minutes >= 60 else f"{minutes}m")
    )


def _entry(i: InstallFacts) -> str:
    return f"[{i.entry}]" if i.entry else ""


def _new_connection_words(i: InstallFacts) -> str:
    if i.per_request_words and not i.code_patched:
        return i.per_request_words
    return "paid by every new connection"


def _reach(i: InstallFacts, p: ProbeFacts) -> list[Finding]:
    r = p.reach
    if r.status == "refused" and not reached_elsewhere(p):
        evidence, fixes = down_fixes(i, p)
        return [
            Finding(
                "ollama_down",
                "error",
                _("nothing answers at {root}, from here or from where Chatchat runs").format(
                    root=i.ollama_root
                )
                if p.place is not None and p.place.remote is not None
                else _("nothing answers at {root}").format(root=i.ollama_root),
                None,
                "request",
                (
                    f"connecting to {i.ollama_root} failed after {_ms(r.seconds or 0)}: {r.detail}",
                    *evidence,
                    f"configured as {i.ollama_url} ({i.label}, entry {i.entry})",
                ),
                (
                    *fixes,
                    Fix(
                        "setting",
                        "or point the entry at where Ollama listens",
                        f"ollama_url{_entry(i)}=http://127.0.0.1:11434/v1",
                    ),
                ),
            )
        ]
    if r.status == "timeout" and p.hang is None:
        return [
            Finding(
                "ollama_unreachable",
                "error",
                f"{i.ollama_root} does not accept connections in time",
                None,
                "request",
                (f"connect timed out after {_ms(r.seconds or 0)}: {r.detail}",),
                (
                    Fix(
                        "command",
                        "check that Ollama runs on that host and that no firewall drops the connection",
                    ),
                ),
            )
        ]
    return []


def _hang(i: InstallFacts, p: ProbeFacts) -> list[Finding]:
    bound = i.model_call_bound
    if not i.timeout_bounds_model_call and i.code_patch_possible:
        held = (
            f"{i.label} calls the model with openai's defaults: "
            f"{(i.model_call_read_timeout or 0):.0f} s read timeout x {i.model_call_attempts} attempts = up "
            f"to {bound / 60:.0f} min per request; {i.timeout_source}={i.timeout} does not bound it"
            if bound
            else ""
        )
        fixes: tuple[Fix, ...] = (
            Fix("code_patch", f"{PATCH}: makes HTTPX_DEFAULT_TIMEOUT bound the model call"),
            Fix("setting", "then a timeout above the cold-load time", "api_timeout=120"),
        )
    elif not i.timeout_bounds_model_call:
        held = (
            f"{i.label} builds the model client without a timeout; {i.timeout_source}"
            f"{f'={i.timeout:g} s' if i.timeout is not None else ''} does not bound the model call"
        )
        fixes = (
            Fix(
                "command",
                "no setting of this version bounds the model call: keep Ollama reachable and the model "
                "warm (chatchat-tune warm), or upgrade to 0.3.1+ where the code patch can bound it",
            ),
        )
    else:
        held = (
            f"{i.timeout_source}={i.timeout:g} s bounds each call"
            if i.timeout is not None
            else "no configured timeout bounds the call"
        )
        fixes = (Fix("setting", "bound every call to the model", "api_timeout=120"),)
    if p.hang is not None:
        return [
            Finding(
                "backend_hang",
                "error",
                "the backend accepts requests and never answers",
                bound,
                "request",
                (f"no answer: {p.hang}", held) if held else (f"no answer: {p.hang}",),
                (
                    *fixes,
                    Fix(
                        "command", "restart Ollama; if it hangs again, look at its log (a stuck model runner)"
                    ),
                ),
                unbounded=bound is None,
            )
        ]
    if bound is None or bound > 600:
        what = f"up to {bound / 60:.0f} min" if bound else "with no bound"
        return [
            Finding(
                "hang_unbounded",
                "info",
                f"a backend that hung would hold each request {what}",
                bound,
                "request",
                ("no hang now; this is what the settings allow", held) if held else ("no hang now",),
                fixes,
                unbounded=bound is None,
            )
        ]
    return []


def _model(i: InstallFacts, p: ProbeFacts, idle_gap: float | None) -> list[Finding]:
    m = p.model
    if m is None:
        return []
    out: list[Finding] = []
    if m.status == "missing" or (m.listed is False and m.status != "ok"):
        out.append(
            Finding(
                "model_missing",
                "error",
                f"model {m.model} is not pulled on this Ollama",
                None,
                "request",
                (
                    f"POST /api/chat answered 404: {m.detail}" if m.detail else "not in GET /api/tags",
                    f"{i.label} asks for it (entry {i.entry})",
                ),
                (Fix("command", f"ollama pull {m.model}"),),
            )
        )
        return out
    if m.status == "error" and m.detail:
        out.append(
            Finding(
                "model_error",
                "warn",
                f"a request for {m.model} failed",
                None,
                "request",
                (m.detail,),
                (Fix("command", "look at Ollama's log for this request"),),
            )
        )
    load = m.load if m.status == "ok" and not m.resident_before else None
    timeout = i.timeout if i.timeout_bounds_model_call else None
    if load is not None and timeout is not None and load >= timeout:
        out.append(
            Finding(
                "abort_loop",
                "error",
                "the timeout is shorter than the model's cold load: every attempt starts over",
                None,
                "request after the model unloads",
                (
                    f"cold load of {m.model}: {_ms(load)} (load_duration of a native request)",
                    f"{i.timeout_source}={timeout:g} s bounds the call; the client gives up first, "
                    f"Ollama aborts "
                    "the load, and the retry loads from scratch",
                ),
                (
                    Fix(
                        "setting",
                        "a timeout well above the cold-load time",
                        f"api_timeout={max(60, math.ceil(load * 3))}",
                    ),
                    Fix("service", "and keep the model loaded", "keep_alive=-1"),
                ),
                unbounded=True,
            )
        )
    ka = m.keep_alive
    if idle_gap is not None and ka is not None and not math.isnan(ka) and 0 <= ka < idle_gap:
        severity: Severity = "warn" if load is None or load >= COLD_LOAD_WARN else "info"
        cost = (
            f"each pays a cold load of {_ms(load)}"
            if load is not None
            else "each pays a cold load (not measured: the model was already loaded)"
        )
        out.append(
            Finding(
                "keep_alive_expiry",
                severity,
                "the model unloads between requests (keep_alive shorter than the idle gaps)",
                load,
                "request after an idle gap",
                (
                    f"after a request the model stays loaded {_ms(ka)} (GET /api/ps expires_at)",
                    f"idle gap {idle_gap:g} s (--idle-gap): requests after such a gap find it "
                    f"unloaded; {cost}",
                    "Chatchat calls /v1, which ignores a per-request keep_alive: only the service "
                    "setting counts",
                ),
                (
                    Fix(
                        "service",
                        "OLLAMA_KEEP_ALIVE above the idle gap on the Ollama service",
                        f"keep_alive={_duration(idle_gap * 2)}",
                    ),
                ),
            )
        )
    elif load is not None and load >= COLD_LOAD_WARN:
        left = f"{_ms(ka)}" if ka is not None and not math.isnan(ka) and ka >= 0 else "its keep_alive"
        out.append(
            Finding(
                "cold_load",
                "info",
                f"a cold load of {m.model} costs {_ms(load)}",
                load,
                "request after the model unloads",
                (
                    f"the model was not loaded; load_duration {_ms(load)}",
                    f"it now stays loaded {left} after each request; pass --idle-gap SECONDS to "
                    f"check your gaps",
                ),
                (Fix("service", "keep the model loaded longer", "keep_alive=1h"),),
            )
        )
    return out


def _localhost(i: InstallFacts, p: ProbeFacts) -> list[Finding]:
    n = p.localhost
    if n is None:
        return []
    cost = statistics.median(n.by_name) - statistics.median(n.by_address)
    failed = any(" failed " in a for a in n.attempts)
    if cost < LOCALHOST_WARN and not failed:
        return []
    severity: Severity = "warn" if cost >= LOCALHOST_WARN else "info"
    url = with_host(i.ollama_url or "", n.address)
    return [
        Finding(
            "localhost_slow",
            severity,
            f"new connections to '{n.host}' are slow: {_ms(max(cost, 0))} more than to {n.address}",
            max(cost, 0.0),
            "request (new connection)",
            (
                f"GET /api/version on a new connection: by name p50 "
                f"{_ms(statistics.median(n.by_name))}, by address "
                f"p50 {_ms(statistics.median(n.by_address))} ({len(n.by_name)} each)",
                "connect attempts by name: "
                + (", ".join(n.attempts) or "-")
                + (f"; name resolution {_ms(n.dns)}" if n.dns is not None else ""),
                _new_connection_words(i),
            ),
            (
                Fix("setting", f"use the address in {i.entry}'s URL", f"ollama_url{_entry(i)}={url}"),
                Fix("code_patch", f"{PATCH}: reuse connections, so only the first one pays"),
            ),
        )
    ]


def _proxy(i: InstallFacts, v: ProxyVerdict | None) -> list[Finding]:
    if v is None:
        return []
    host = urlsplit(i.ollama_url or "").hostname or ""
    fixes = [Fix("environment", f"add {host} to NO_PROXY in the environment Chatchat starts from")]
    if host in ("::1",) or host.startswith("127."):
        fixes.append(
            Fix(
                "setting",
                "or use 127.0.0.1, which Chatchat always exempts",
                f"ollama_url{_entry(i)}={with_host(i.ollama_url or '', '127.0.0.1')}",
            )
        )
    return [
        Finding(
            "proxy",
            "warn",
            f"a proxy would carry Chatchat's requests to Ollama ({host})",
            None,
            "request",
            (
                f"{v.source}: httpx (trust_env, as the openai client uses it) sends {i.ollama_url} "
                f"through {v.proxy}",
                f"NO_PROXY={v.no_proxy or '(unset)'}; Chatchat adds only http://127.0.0.1 and "
                f"http://localhost",
            ),
            tuple(fixes),
        )
    ]


def _auto_detect(i: InstallFacts, p: ProbeFacts) -> list[Finding]:
    out = []
    for a in p.auto_detect:
        if a.status in ("ok", "skipped"):
            continue
        fix = (
            Fix(
                "setting",
                f"stop detecting models on {a.platform.name}",
                f"auto_detect_model[{a.platform.name}]=false",
            ),
        )
        what = {
            "refused": f"refuses connections ({_ms(a.seconds or 0)} to fail here; ~1-2 s on Windows)",
            "timeout": f"does not answer (no reply in {_ms(a.seconds or 0)})",
            "error": f"fails ({a.detail})",
        }[a.status]
        evidence = (f"{a.platform.name} ({a.platform.url}) has auto_detect_model: true and {what}",)
        if a.client == "absent":
            out.append(
                Finding(
                    "auto_detect",
                    "info",
                    f"auto_detect_model on {a.platform.name} has no effect",
                    None,
                    "-",
                    (
                        *evidence,
                        "the xinference client is not installed in Chatchat's "
                        "environment, so detection stops before any network call",
                    ),
                    fix,
                )
            )
            continue
        if a.client == "unknown":
            out.append(
                Finding(
                    "auto_detect",
                    "info",
                    f"auto_detect_model on {a.platform.name}: unknown whether it costs time",
                    None,
                    "first chat after each 60 s cache expiry",
                    (
                        *evidence,
                        "unknown whether the xinference client is installed in Chatchat's environment: pass "
                        "--python PATH/TO/chatchat/venv/python to check",
                    ),
                    fix,
                )
            )
            continue
        hang = a.status == "timeout"
        out.append(
            Finding(
                "auto_detect",
                "error" if hang else "warn",
                f"auto_detect_model calls {a.platform.name}, which {'hangs' if hang else 'is down'}",
                None if hang else a.seconds,
                "first chat after each 60 s cache expiry",
                (
                    *evidence,
                    "the xinference client is installed in Chatchat's environment: the first chat after each "
                    "60 s cache expiry calls that host with no timeout; GET /v1/models queries it "
                    "with retries",
                ),
                fix,
                unbounded=hang,
            )
        )
    return out


def _queueing(i: InstallFacts, p: ProbeFacts) -> list[Finding]:
    c = p.concurrency
    if c is None or not c.serialised:
        return []
    wait = c.wait
    evidence = (
        f"1 request alone: {_ms(c.single)}; 2 at once: {_ms(c.pair[0])} and {_ms(c.pair[1])}; the "
        f"later one waited {_ms(c.wait)} for a slot (load_duration) while the other computed for "
        f"{_ms(c.work)}: the server runs one request at a time per model",
    )
    if i.api_concurrencies is None or i.api_concurrencies <= 1:
        return [
            Finding(
                "queueing",
                "info",
                "Ollama serves one request at a time: concurrent users queue",
                wait,
                "queued request",
                evidence,
                (Fix("service", "more parallel slots (uses more memory)", "num_parallel=2"),),
            )
        ]
    n = i.api_concurrencies
    return [
        Finding(
            "queueing",
            "warn",
            f"api_concurrencies ({n}) is above Ollama's parallel slots (1): requests queue",
            wait,
            "queued request",
            (
                *evidence,
                f"{i.entry} has api_concurrencies: {n}; each request beyond the first waits a whole answer",
                "Chatchat's /chat/chat/completions does not limit itself (api_concurrencies is not "
                "honoured there)",
            ),
            (
                Fix(
                    "service",
                    f"OLLAMA_NUM_PARALLEL={n} on the Ollama service (more memory per loaded model)",
                    f"num_parallel={n}",
                ),
                Fix(
                    "setting",
                    f"or match the slots (honoured on Chatchat's /v1 routes, and everywhere with {PATCH})",
                    f"api_concurrencies{_entry(i)}=1",
                ),
            ),
        )
    ]


def _overhead(i: InstallFacts, p: ProbeFacts) -> list[Finding]:
    o = p.overhead
    if o is None:
        return []
    cost = o.via_chatchat - o.direct
    severity: Severity = "warn" if cost >= OVERHEAD_WARN else "info"
    return [
        Finding(
            "chatchat_overhead",
            severity,
            f"Chatchat adds {_ms(max(cost, 0))} to each request",
            max(cost, 0.0),
            "request",
            (
                f"p50 through Chatchat's /chat/chat/completions {_ms(o.via_chatchat)} vs straight "
                f"to Ollama's /v1 "
                f"{_ms(o.direct)} ({o.n} each, not streaming)",
                "as shipped, 0.3.1.3 builds a new OpenAI client (~20 ms) and a new connection per request",
            ),
            (Fix("code_patch", f"{PATCH}: one pooled client per platform"),),
        )
    ]


def _errors(i: InstallFacts, p: ProbeFacts) -> list[Finding]:
    if not p.errors or p.hang is not None:
        return []
    failed = sum(p.errors.values())
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(p.errors.items()))
    severity: Severity = "error" if failed >= p.generation_requests else "warn"
    return [
        Finding(
            "backend_errors",
            severity,
            f"{failed} of {p.generation_requests} model requests failed",
            None,
            "request",
            (f"by kind: {kinds}",),
            (Fix("command", "look at Ollama's log; http_503 means its queue is full (OLLAMA_MAX_QUEUE)"),),
        )
    ]


def _key(f: Finding) -> tuple[int, int, float]:
    return (-SEVERITY_RANK[f.severity], 0 if f.unbounded else 1, -(f.cost if f.cost is not None else -1.0))


def findings(
    install: InstallFacts, probe: ProbeFacts, proxy: ProxyVerdict | None, idle_gap: float | None = None
) -> tuple[Finding, ...]:
    out = [
        *_reach(install, probe),
        *_hang(install, probe),
        *_model(install, probe, idle_gap),
        *_localhost(install, probe),
        *_proxy(install, proxy),
        *_auto_detect(install, probe),
        *_queueing(install, probe),
        *_overhead(install, probe),
        *_errors(install, probe),
        *unreachable(install, probe),
        *residency_findings(install, probe),
    ]
    if probe.model is not None and probe.model.status == "missing":
        out = [f for f in out if f.code != "backend_errors"]
    return tuple(sorted(out, key=_key))
