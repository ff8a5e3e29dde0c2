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


def _patch() -> str:
    return _("the code patch (chatchat-tune apply --patch-code)")


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
    return _("paid by every new connection")


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
                _("request"),
                (
                    _("connecting to {url} failed after {time}: {detail}").format(
                        url=i.ollama_root, time=_ms(r.seconds or 0), detail=r.detail
                    ),
                    *evidence,
                    _("configured as {url} ({label}, entry {entry})").format(
                        url=i.ollama_url, label=i.label, entry=i.entry
                    ),
                ),
                (
                    *fixes,
                    Fix(
                        "setting",
                        _("or point the entry at where Ollama listens"),
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
                _("{url} does not accept connections in time").format(url=i.ollama_root),
                None,
                _("request"),
                (
                    _("connect timed out after {time}: {detail}").format(
                        time=_ms(r.seconds or 0), detail=r.detail
                    ),
                ),
                (
                    Fix(
                        "command",
                        _("check that Ollama runs on that host and that no firewall drops the connection"),
                    ),
                ),
            )
        ]
    return []


def _hang(i: InstallFacts, p: ProbeFacts) -> list[Finding]:
    bound = i.model_call_bound
    if not i.timeout_bounds_model_call and i.code_patch_possible:
        held = (
            _(
                "{label} calls the model with openai's defaults: {read:.0f} s read timeout x {attempts} "
                "attempts = up to {minutes:.0f} min per request; {source}={timeout} does not bound it"
            ).format(
                label=i.label,
                read=i.model_call_read_timeout or 0,
                attempts=i.model_call_attempts,
                minutes=bound / 60,
                source=i.timeout_source,
                timeout=i.timeout,
            )
            if bound
            else ""
        )
        fixes: tuple[Fix, ...] = (
            Fix(
                "code_patch",
                _("{patch}: makes HTTPX_DEFAULT_TIMEOUT bound the model call").format(patch=_patch()),
            ),
            Fix("setting", _("then a timeout above the cold-load time"), "api_timeout=120"),
        )
    elif not i.timeout_bounds_model_call:
        held = _(
            "{label} builds the model client without a timeout; {setting} does not bound the model call"
        ).format(
            label=i.label,
            setting=i.timeout_source + (f"={i.timeout:g} s" if i.timeout is not None else ""),
        )
        fixes = (
            Fix(
                "command",
                _(
                    "no setting of this version bounds the model call: keep Ollama reachable and the model "
                    "warm (chatchat-tune warm), or upgrade to 0.3.1+ where the code patch can bound it"
                ),
            ),
        )
    else:
        held = (
            _("{source}={timeout:g} s bounds each call").format(source=i.timeout_source, timeout=i.timeout)
            if i.timeout is not None
            else _("no configured timeout bounds the call")
        )
        fixes = (Fix("setting", _("bound every call to the model"), "api_timeout=120"),)
    if p.hang is not None:
        no_answer = _("no answer: {detail}").format(detail=p.hang)
        return [
            Finding(
                "backend_hang",
                "error",
                _("the backend accepts requests and never answers"),
                bound,
                _("request"),
                (no_answer, held) if held else (no_answer,),
                (
                    *fixes,
                    Fix(
                        "command",
                        _("restart Ollama; if it hangs again, look at its log (a stuck model runner)"),
                    ),
                ),
                unbounded=bound is None,
            )
        ]
    if bound is None or bound > 600:
        title = (
            _("a backend that hung would hold each request up to {minutes:.0f} min").format(
                minutes=bound / 60
            )
            if bound
            else _("a backend that hung would hold each request with no bound")
        )
        return [
            Finding(
                "hang_unbounded",
                "info",
                title,
                bound,
                _("request"),
                (_("no hang now; this is what the settings allow"), held) if held else (_("no hang now"),),
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
                _("model {model} is not pulled on this Ollama").format(model=m.model),
                None,
                _("request"),
                (
                    _("POST /api/chat answered 404: {detail}").format(detail=m.detail)
                    if m.detail
                    else _("not in GET /api/tags"),
                    _("{label} asks for it (entry {entry})").format(label=i.label, entry=i.entry),
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
                _("a request for {model} failed").format(model=m.model),
                None,
                _("request"),
                (m.detail,),
                (Fix("command", _("look at Ollama's log for this request")),),
            )
        )
    load = m.load if m.status == "ok" and not m.resident_before else None
    timeout = i.timeout if i.timeout_bounds_model_call else None
    if load is not None and timeout is not None and load >= timeout:
        out.append(
            Finding(
                "abort_loop",
                "error",
                _("the timeout is shorter than the model's cold load: every attempt starts over"),
                None,
                _("request after the model unloads"),
                (
                    _("cold load of {model}: {time} (load_duration of a native request)").format(
                        model=m.model, time=_ms(load)
                    ),
                    _(
                        "{source}={timeout:g} s bounds the call; the client gives up first, Ollama aborts "
                        "the load, and the retry loads from scratch"
                    ).format(source=i.timeout_source, timeout=timeout),
                ),
                (
                    Fix(
                        "setting",
                        _("a timeout well above the cold-load time"),
                        f"api_timeout={max(60, math.ceil(load * 3))}",
                    ),
                    Fix("service", _("and keep the model loaded"), "keep_alive=-1"),
                ),
                unbounded=True,
            )
        )
    ka = m.keep_alive
    if idle_gap is not None and ka is not None and not math.isnan(ka) and 0 <= ka < idle_gap:
        severity: Severity = "warn" if load is None or load >= COLD_LOAD_WARN else "info"
        cost = (
            _("each pays a cold load of {time}").format(time=_ms(load))
            if load is not None
            else _("each pays a cold load (not measured: the model was already loaded)")
        )
        out.append(
            Finding(
                "keep_alive_expiry",
                severity,
                _("the model unloads between requests (keep_alive shorter than the idle gaps)"),
                load,
                _("request after an idle gap"),
                (
                    _("after a request the model stays loaded {time} (GET /api/ps expires_at)").format(
                        time=_ms(ka)
                    ),
                    _(
                        "idle gap {gap:g} s (--idle-gap): requests after such a gap find it unloaded; {cost}"
                    ).format(gap=idle_gap, cost=cost),
                    _(
                        "Chatchat calls /v1, which ignores a per-request keep_alive: only the service "
                        "setting counts"
                    ),
                ),
                (
                    Fix(
                        "service",
                        _("OLLAMA_KEEP_ALIVE above the idle gap on the Ollama service"),
                        f"keep_alive={_duration(idle_gap * 2)}",
                    ),
                ),
            )
        )
    elif load is not None and load >= COLD_LOAD_WARN:
        left = _ms(ka) if ka is not None and not math.isnan(ka) and ka >= 0 else _("its keep_alive")
        out.append(
            Finding(
                "cold_load",
                "info",
                _("a cold load of {model} costs {time}").format(model=m.model, time=_ms(load)),
                load,
                _("request after the model unloads"),
                (
                    _("the model was not loaded; load_duration {time}").format(time=_ms(load)),
                    _(
                        "it now stays loaded {left} after each request; pass --idle-gap SECONDS to "
                        "check your gaps"
                    ).format(left=left),
                ),
                (Fix("service", _("keep the model loaded longer"), "keep_alive=1h"),),
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
            _("new connections to '{host}' are slow: {time} more than to {address}").format(
                host=n.host, time=_ms(max(cost, 0)), address=n.address
            ),
            max(cost, 0.0),
            _("request (new connection)"),
            (
                _(
                    "GET /api/version on a new connection: by name p50 {by_name}, by address p50 "
                    "{by_address} ({n} each)"
                ).format(
                    by_name=_ms(statistics.median(n.by_name)),
                    by_address=_ms(statistics.median(n.by_address)),
                    n=len(n.by_name),
                ),
                _("connect attempts by name: {attempts}").format(attempts=", ".join(n.attempts) or "-")
                + (_("; name resolution {time}").format(time=_ms(n.dns)) if n.dns is not None else ""),
                _new_connection_words(i),
            ),
            (
                Fix(
                    "setting",
                    _("use the address in {entry}'s URL").format(entry=i.entry),
                    f"ollama_url{_entry(i)}={url}",
                ),
                Fix(
                    "code_patch",
                    _("{patch}: reuse connections, so only the first one pays").format(patch=_patch()),
                ),
            ),
        )
    ]


def _proxy(i: InstallFacts, v: ProxyVerdict | None) -> list[Finding]:
    if v is None:
        return []
    host = urlsplit(i.ollama_url or "").hostname or ""
    fixes = [
        Fix(
            "environment",
            _("add {host} to NO_PROXY in the environment Chatchat starts from").format(host=host),
        )
    ]
    if host in ("::1",) or host.startswith("127."):
        fixes.append(
            Fix(
                "setting",
                _("or use 127.0.0.1, which Chatchat always exempts"),
                f"ollama_url{_entry(i)}={with_host(i.ollama_url or '', '127.0.0.1')}",
            )
        )
    return [
        Finding(
            "proxy",
            "warn",
            _("a proxy would carry Chatchat's requests to Ollama ({host})").format(host=host),
            None,
            _("request"),
            (
                _(
                    "{source}: httpx (trust_env, as the openai client uses it) sends {url} through {proxy}"
                ).format(source=v.source, url=i.ollama_url, proxy=v.proxy),
                _("NO_PROXY={no_proxy}; Chatchat adds only http://127.0.0.1 and http://localhost").format(
                    no_proxy=v.no_proxy or _("(unset)")
                ),
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
                _("stop detecting models on {platform}").format(platform=a.platform.name),
                f"auto_detect_model[{a.platform.name}]=false",
            ),
        )
        time = _ms(a.seconds or 0)
        what = {
            "refused": _("refuses connections ({time} to fail here; ~1-2 s on Windows)").format(time=time),
            "timeout": _("does not answer (no reply in {time})").format(time=time),
            "error": _("fails ({detail})").format(detail=a.detail),
        }[a.status]
        evidence = (
            _("{platform} ({url}) has auto_detect_model: true and {what}").format(
                platform=a.platform.name, url=a.platform.url, what=what
            ),
        )
        if a.client == "absent":
            out.append(
                Finding(
                    "auto_detect",
                    "info",
                    _("auto_detect_model on {platform} has no effect").format(platform=a.platform.name),
                    None,
                    "-",
                    (
                        *evidence,
                        _(
                            "the xinference client is not installed in Chatchat's "
                            "environment, so detection stops before any network call"
                        ),
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
                    _("auto_detect_model on {platform}: unknown whether it costs time").format(
                        platform=a.platform.name
                    ),
                    None,
                    _("first chat after each 60 s cache expiry"),
                    (
                        *evidence,
                        _(
                            "unknown whether the xinference client is installed in Chatchat's environment: "
                            "pass --python PATH/TO/chatchat/venv/python to check"
                        ),
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
                (
                    _("auto_detect_model calls {platform}, which hangs")
                    if hang
                    else _("auto_detect_model calls {platform}, which is down")
                ).format(platform=a.platform.name),
                None if hang else a.seconds,
                _("first chat after each 60 s cache expiry"),
                (
                    *evidence,
                    _(
                        "the xinference client is installed in Chatchat's environment: the first chat after "
                        "each 60 s cache expiry calls that host with no timeout; GET /v1/models queries it "
                        "with retries"
                    ),
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
        _(
            "1 request alone: {single}; 2 at once: {first} and {second}; the later one waited {wait} for a "
            "slot (load_duration) while the other computed for {work}: the server runs one request at a "
            "time per model"
        ).format(
            single=_ms(c.single),
            first=_ms(c.pair[0]),
            second=_ms(c.pair[1]),
            wait=_ms(c.wait),
            work=_ms(c.work),
        ),
    )
    if i.api_concurrencies is None or i.api_concurrencies <= 1:
        return [
            Finding(
                "queueing",
                "info",
                _("Ollama serves one request at a time: concurrent users queue"),
                wait,
                _("queued request"),
                evidence,
                (Fix("service", _("more parallel slots (uses more memory)"), "num_parallel=2"),),
            )
        ]
    n = i.api_concurrencies
    return [
        Finding(
            "queueing",
            "warn",
            _("api_concurrencies ({n}) is above Ollama's parallel slots (1): requests queue").format(n=n),
            wait,
            _("queued request"),
            (
                *evidence,
                _(
                    "{entry} has api_concurrencies: {n}; each request beyond the first waits a whole answer"
                ).format(entry=i.entry, n=n),
                _(
                    "Chatchat's /chat/chat/completions does not limit itself (api_concurrencies is not "
                    "honoured there)"
                ),
            ),
            (
                Fix(
                    "service",
                    _("OLLAMA_NUM_PARALLEL={n} on the Ollama service (more memory per loaded model)").format(
                        n=n
                    ),
                    f"num_parallel={n}",
                ),
                Fix(
                    "setting",
                    _(
                        "or match the slots (honoured on Chatchat's /v1 routes, and everywhere with {patch})"
                    ).format(patch=_patch()),
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
            _("Chatchat adds {time} to each request").format(time=_ms(max(cost, 0))),
            max(cost, 0.0),
            _("request"),
            (
                _(
                    "p50 through Chatchat's /chat/chat/completions {via} vs straight to Ollama's /v1 "
                    "{direct} ({n} each, not streaming)"
                ).format(via=_ms(o.via_chatchat), direct=_ms(o.direct), n=o.n),
                _("as shipped, 0.3.1.3 builds a new OpenAI client (~20 ms) and a new connection per request"),
            ),
            (Fix("code_patch", _("{patch}: one pooled client per platform").format(patch=_patch())),),
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
            _("{failed} of {total} model requests failed").format(failed=failed, total=p.generation_requests),
            None,
            _("request"),
            (_("by kind: {kinds}").format(kinds=kinds),),
            (Fix("command", _("look at Ollama's log; http_503 means its queue is full (OLLAMA_MAX_QUEUE)")),),
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
