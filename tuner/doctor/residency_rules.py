"""Findings about where the model runs: ``gpu_offload``, ``ctx_reload``, ``ctx_truncation``,
``load_timeout``. Pure: the probe's ``Residency`` and the install's prompt size in, findings out.

Facts (read in ollama/ollama; docs/doctor.md names file and version): ``ollama ps`` prints the CPU share as
``1 - size_vram/size``; a resident runner is reloaded when a request's runner options (``num_ctx`` among
them) differ (server/sched.go ``needsReload``); a prompt longer than the context is cut from the start
(server/prompt.go, runner ``truncate``); the /v1 API sends no ``num_ctx``, so Chatchat gets the model's
Modelfile ``PARAMETER num_ctx``, else ``OLLAMA_CONTEXT_LENGTH`` (from v0.5.13), else the default (2048 up
to v0.6.6, 4096 from v0.6.7, by VRAM from v0.15.5); a load that makes no progress for
``OLLAMA_LOAD_TIMEOUT`` (default 5m, from v0.3.10) fails with "timed out waiting for llama runner to start".
"""

from __future__ import annotations

import math

from tuner.doctor.model import Finding, Fix, InstallFacts, ProbeFacts, Severity
from tuner.doctor.residency import Residency
from tuner.i18n import _
from tuner.install.prompts import HISTORY_ROUND_TOKENS, TEMPLATE_TOKENS, TOKENS_PER_CHAR
from tuner.ollama_ps import Loaded

GB = 1_000_000_000
RELOAD_MIN = 0.05  # seconds of load_duration that mean a (re)load, not a slot wait
LOAD_TIMEOUT_SHARE = 0.5  # a cold load at half the load timeout "approaches" it
ANSWER_TOKENS = 512  # room left for the answer when a context size is proposed
CONTEXT_LENGTH_SINCE = (0, 5, 13)  # OLLAMA_CONTEXT_LENGTH appeared in v0.5.13
LOAD_TIMEOUT_ERROR = "timed out waiting for llama runner"


def _version(text: str | None) -> tuple[int, ...] | None:
    if not text:
        return None
    parts = []
    for piece in text.lstrip("v").split("-")[0].split("."):
        if not piece.isdigit():
            return None
        parts.append(int(piece))
    return tuple(parts)


def default_context(version: str | None) -> int | None:
    """Ollama's default context for a caller that sends none (None: unknown or chosen by VRAM)."""
    v = _version(version)
    if v is None:
        return None
    if v < (0, 6, 7):
        return 2048
    return 4096 if v < (0, 15, 5) else None


def _gb(n: int) -> str:
    return f"{n / GB:.1f} GB"


def _split(m: Loaded) -> str:
    cpu = round(m.cpu_share * 100)
    return "100% CPU" if cpu >= 100 else f"{cpu}%/{100 - cpu}% CPU/GPU"


def _modelfile_fix(model: str, num_ctx: int) -> Fix:
    return Fix(
        "service",
        _(
            "a derived model with PARAMETER num_ctx {n} (apply writes the Modelfile and the ollama create "
            "command; then name {model}-ctx{n} in Chatchat's model list)"
        ).format(n=num_ctx, model=model),
        f"num_ctx={num_ctx}",
    )


def _context_length_fix(version: str | None, num_ctx: int) -> Fix:
    v = _version(version)
    if v is not None and v < CONTEXT_LENGTH_SINCE:
        return Fix(
            "command",
            _(
                "or upgrade Ollama ({version}) to 0.5.13 or later, where OLLAMA_CONTEXT_LENGTH sets the "
                "default"
            ).format(version=version),
        )
    return Fix(
        "service",
        _(
            "or the default context of every model for callers that send none (OLLAMA_CONTEXT_LENGTH, Ollama "
            "0.5.13+)"
        ),
        f"context_length={num_ctx}",
    )


def gpu_offload(i: InstallFacts, r: Residency) -> list[Finding]:
    m = r.after or r.before
    if m is None or m.size <= 0 or m.cpu_share <= 0:
        return []
    on_gpu = [o for o in r.others if o.size_vram > 0]
    partly = m.size_vram > 0
    severity: Severity = "warn" if partly or on_gpu else "info"
    evidence = [
        _("/api/ps: {model} takes {size}, {vram} of it in VRAM: ollama ps shows {split}").format(
            model=m.name, size=_gb(m.size), vram=_gb(m.size_vram), split=_split(m)
        )
    ]
    if r.rate is not None:
        evidence.append(
            _(
                "measured: {rate:.1f} tokens/s ({n} tokens in {s:.2f} s, the server's "
                "eval_count/eval_duration); "
                "each token waits for the layers on the CPU"
            ).format(rate=r.rate.per_second, n=r.rate.tokens, s=r.rate.seconds)
        )
    if not partly:
        evidence.append(
            _("wholly on the CPU: if this machine has a GPU, the model did not fit in its free VRAM")
        )
    for o in on_gpu:
        evidence.append(
            _("also loaded: {name} with {vram} in VRAM").format(name=o.name, vram=_gb(o.size_vram))
        )
    fixes = []
    if partly:
        fixes.append(
            Fix(
                "command",
                _(
                    "a smaller quantisation of {model}: at most about {fit} in all fits the VRAM it got "
                    "now (e.g. "
                    "a q4_K_M tag instead of q8_0 or fp16)"
                ).format(model=m.name, fit=_gb(int(m.size_vram * 0.9))),
            )
        )
    fixes.append(
        Fix("service", _("fewer parallel slots: each slot keeps its own context in VRAM"), "num_parallel=1")
    )
    smaller = max(2048, (m.context_length or 0) // 2)
    fits = i.prompt is None or i.prompt.tokens + ANSWER_TOKENS <= smaller
    if m.context_length and m.context_length > 2048 and fits:
        fixes.append(
            Fix(
                "service",
                _("a smaller context ({n} now), if the prompts fit in it: it shrinks the KV cache").format(
                    n=m.context_length
                ),
                f"num_ctx={smaller}",
            )
        )
    if on_gpu:
        fixes.append(
            Fix(
                "service",
                _("one model loaded at a time, so this one gets all the VRAM"),
                "max_loaded_models=1",
            )
        )
    return [
        Finding(
            "gpu_offload",
            severity,
            _("{model} runs {share}% on the CPU").format(model=m.name, share=round(m.cpu_share * 100)),
            None,
            "token",
            tuple(evidence),
            tuple(fixes),
        )
    ]


def ctx_reload(i: InstallFacts, p: ProbeFacts, r: Residency) -> list[Finding]:
    m = p.model
    before, after = r.before, r.after
    if m is None or m.status != "ok" or before is None or m.load is None or m.load < RELOAD_MIN:
        return []
    if before.context_length is None or after is None or before.context_length == after.context_length:
        return []  # no context reported (an older Ollama), or reloaded with the same one: not this cause
    old = before.context_length
    new = after.context_length if after is not None else None
    size = max(n for n in (old, new, 2048) if n is not None)
    return [
        Finding(
            "ctx_reload",
            "warn",
            _("{model} was reloaded although it was loaded: another caller uses another context size").format(
                model=before.name
            ),
            m.load,
            _("request after a caller with another num_ctx"),
            (
                _(
                    "/api/ps listed {model} with context_length {old} before a request without num_ctx (as "
                    "Chatchat's /v1 calls are); that request's load_duration was {load:.2f} s and the "
                    "model now "
                    "has context_length {new}"
                ).format(model=before.name, old=old or "?", new=new or "?", load=m.load),
                _(
                    "Ollama reloads a resident model whenever a request's num_ctx (or another runner option) "
                    "differs: two callers with different sizes make it reload back and forth"
                ),
            ),
            (
                _modelfile_fix(before.name, size),
                _context_length_fix(r.version, size),
                Fix("command", _("and let the other caller send the same num_ctx, or none")),
            ),
        )
    ]


def ctx_truncation(i: InstallFacts, r: Residency) -> list[Finding]:
    size = i.prompt
    if size is None:
        return []
    m = r.after or r.before
    ctx = m.context_length if m is not None and m.context_length else default_context(r.version)
    if ctx is None or size.tokens <= ctx:
        return []
    where = (
        _("/api/ps context_length")
        if m is not None and m.context_length
        else _("the default of Ollama {version}").format(version=r.version)
    )
    need = math.ceil((size.tokens + ANSWER_TOKENS) / 1024) * 1024
    return [
        Finding(
            "ctx_truncation",
            "warn",
            _(
                "the longest knowledge-base prompt (~{tokens} tokens) exceeds {model}'s context ({ctx})"
            ).format(tokens=size.tokens, model=r.model, ctx=ctx),
            None,
            _("knowledge-base request"),
            (
                _(
                    "estimated: {k} chunks x {chars} characters x {tpc} tokens/character + {tmpl} "
                    "(template) + "
                    "{rounds} history rounds x {hist} = {tokens} tokens ({sources})"
                ).format(
                    k=size.top_k,
                    chars=size.chunk_chars,
                    tpc=TOKENS_PER_CHAR,
                    tmpl=TEMPLATE_TOKENS,
                    rounds=size.history_rounds,
                    hist=HISTORY_ROUND_TOKENS,
                    tokens=size.tokens,
                    sources=", ".join(size.sources),
                ),
                _(
                    "the model runs with a context of {ctx} tokens ({where}); Chatchat calls /v1, which "
                    "sends no "
                    "num_ctx: Ollama drops the beginning of a longer prompt without an error "
                    "(prompt_eval_count "
                    "stops at {ctx})"
                ).format(ctx=ctx, where=where),
            ),
            (
                _modelfile_fix(r.model, need),
                _context_length_fix(r.version, need),
                Fix(
                    "command",
                    _("or send less: a smaller VECTOR_SEARCH_TOP_K or CHUNK_SIZE, or a shorter HISTORY_LEN"),
                ),
            ),
        )
    ]


def _go(seconds: float) -> str:
    minutes = max(10, math.ceil(seconds / 60))
    return f"{minutes}m"


def load_timeout(i: InstallFacts, p: ProbeFacts, r: Residency) -> list[Finding]:
    m = p.model
    if m is None:
        return []
    limit = r.load_timeout
    if m.status == "error" and LOAD_TIMEOUT_ERROR in m.detail:
        return [
            Finding(
                "load_timeout",
                "error",
                _("loading {model} timed out: Ollama gave up before it was ready").format(model=m.model),
                None,
                "request",
                (m.detail, _("the load timeout: {source}").format(source=r.load_timeout_source)),
                (
                    Fix(
                        "service",
                        _("a longer load timeout on the Ollama service"),
                        f"load_timeout={_go(2 * limit)}",
                    ),
                    Fix("command", _("or a smaller model / quantisation, which loads faster")),
                ),
                unbounded=True,
            )
        ]
    load = m.load if m.status == "ok" and not m.resident_before else None
    if load is None or not math.isfinite(limit) or load < LOAD_TIMEOUT_SHARE * limit:
        return []
    return [
        Finding(
            "load_timeout",
            "warn",
            _("the cold load of {model} ({load:.1f} s) approaches the load timeout ({limit:g} s)").format(
                model=m.model, load=load, limit=limit
            ),
            load,
            _("request after the model unloads"),
            (
                _("load_duration of a request that found the model unloaded: {load:.2f} s").format(load=load),
                _(
                    "{source}: a load that makes no progress for that long fails with 'timed out waiting "
                    "for llama "
                    "runner to start'"
                ).format(source=r.load_timeout_source),
            ),
            (
                Fix(
                    "service",
                    _("a longer load timeout on the Ollama service"),
                    f"load_timeout={_go(4 * load)}",
                ),
                Fix("service", _("and keep the model loaded, so the cold load is rare"), "keep_alive=1h"),
            ),
        )
    ]


def findings(i: InstallFacts, p: ProbeFacts) -> list[Finding]:
    r = p.residency
    if r is None:
        return []
    return [*gpu_offload(i, r), *ctx_reload(i, p, r), *ctx_truncation(i, r), *load_timeout(i, p, r)]
