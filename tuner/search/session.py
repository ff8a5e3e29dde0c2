"""A whole search, end to end: probe the facts, run the study, verify the best few, recommend.

The I/O edge of the search package: talks to the server, to Optuna's storage, and reports progress through
callbacks; the CLI renders.
"""

from __future__ import annotations

import contextlib
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from tuner.errors import UserError
from tuner.knobs.values import keep_alive_body
from tuner.measure import ollama
from tuner.measure.workload import draw_gaps
from tuner.search.recommend import Recommendation, recommend
from tuner.search.select import Measured, Verdict, choose, thrift_key, verify
from tuner.search.space import Config, Facts, Space, build_space, resident_gb
from tuner.search.study import StudySpec, run_study
from tuner.search.trial import Target, evaluate
from tuner.search.users import users_facts

if TYPE_CHECKING:
    import optuna


MEMORY_DRAWS = 5000


@dataclass(frozen=True)
class SearchInputs:
    target: Target
    generation: str
    reuse: bool
    current_timeout: float
    current_keep_alive: str
    mean_gap: float  # real seconds
    gap_distribution: str
    requests_per_trial: int
    memory_free: bool
    current_expiry: float = 5.0  # httpx's default keep-alive expiry; the patch's setting once patched
    reuse_now: bool = False  # the install reuses connections today (the code patch is applied)
    answer_tokens: int = 1024  # the longest answer the timeout must allow (the install's MAX_TOKENS)
    verify_top: int = 3
    verify_repeats: int = 3
    entry: str | None = None
    configured_url: str | None = None


@dataclass(frozen=True)
class SearchOutcome:
    study: optuna.Study
    space: Space
    gaps: tuple[float, ...]
    verdict: Verdict
    recommendation: Recommendation


def lab_time_scale(root: str) -> float:
    """The lab's time_scale when ``root`` is the bundled lab; 1.0 for a real Ollama."""
    try:
        resp = httpx.get(root.rstrip("/") + "/lab/stats", timeout=5.0, trust_env=False)
        data = resp.json() if resp.status_code == 200 else None
        scale = float(data.get("time_scale", 1.0)) if isinstance(data, dict) else 1.0
    except (httpx.HTTPError, ValueError, TypeError):  # not the lab, or not answering: a real Ollama's scale
        return 1.0
    return scale if math.isfinite(scale) and scale > 0 else 1.0


def probe_facts(inputs: SearchInputs, host: str) -> Facts:
    """Cold-load and warm answer times (real seconds) and the model's resident size, measured."""
    t = inputs.target
    admin = t.admin_root(host)
    loads = []
    for _ in range(2):
        ollama.unload(admin, t.model)
        loads.append(ollama.preload(admin, t.model, keep_alive=-1) / t.time_scale)
    loaded = ollama.find_loaded(admin, t.model)
    size = loaded.size if loaded is not None else 0
    warm = Config("127.0.0.1" if host == "localhost" else host, "-1", 600.0, 3600.0, 4, True)
    answer = evaluate(t, warm, (0.0, 0.0, 0.0))
    if not answer.totals:  # nothing to search on: say why now, not after a study of failures
        raise UserError(f"{t.root}: none of 3 test requests to {t.model} succeeded: {answer.reason}")
    short = answer.p50 if math.isfinite(answer.p50) else 0.0
    # Time per token from a short answer over-counts (it includes the prompt): a safe side for timeouts.
    longest = short / max(t.max_tokens, 1) * max(inputs.answer_tokens, t.max_tokens)
    return Facts(
        inputs.generation,
        host,
        inputs.reuse,
        statistics.median(loads),
        longest,
        size,
        inputs.current_timeout,
        inputs.current_keep_alive,
        inputs.current_expiry,
        concurrency=1,
        reuse_now=inputs.reuse_now,
    )


def search(
    inputs: SearchInputs,
    spec: StudySpec,
    *,
    host: str,
    on_trial: Callable[[optuna.Study, optuna.trial.FrozenTrial], None] | None = None,
    on_stage: Callable[[str], None] = lambda _: None,
) -> SearchOutcome:
    from tuner.search.study import open_study, quiet_optuna

    study = open_study(spec)  # the storage first: a bad one is refused before anything is measured
    notes = quiet_optuna()
    on_stage("measuring cold-load and answer times")
    try:
        facts = probe_facts(inputs, host)
        facts = users_facts(facts, inputs.target, host)  # several users: slots, pool, loaded models
        space = build_space(facts)
        gaps = draw_gaps(inputs.mean_gap, inputs.requests_per_trial, spec.seed, inputs.gap_distribution)
        # Memory is judged on the gap profile at large, not on the few gaps a trial can afford.
        memory_gaps = draw_gaps(inputs.mean_gap, MEMORY_DRAWS, spec.seed + 1, inputs.gap_distribution)
        on_stage(f"study {spec.name}: {spec.trials} trials")
        study = run_study(spec, space, inputs.target, gaps, memory_gaps, on_trial=on_trial, study=study)
        on_stage("re-measuring the best against the current settings")
        verdict = _verify(study, space, inputs, gaps, memory_gaps, spec)
    finally:
        _restore(inputs, host)
    said = notes.summary()
    if said is not None:
        on_stage(said)
    rec = recommend(
        verdict,
        facts,
        memory_gaps,
        entry=inputs.entry,
        configured_url=inputs.configured_url,
        memory_free=inputs.memory_free,
    )
    return SearchOutcome(study, space, gaps, verdict, rec)


def _restore(inputs: SearchInputs, host: str) -> None:
    """Trials load the model with keep_alive -1 (they unload it themselves); hand it back to the server's
    own keep_alive so it is not left loaded for good."""
    t = inputs.target
    admin = t.admin_root(host)
    with contextlib.suppress(UserError):
        if ollama.is_loaded(admin, t.model):
            ollama.preload(
                admin, t.model, keep_alive=keep_alive_body(inputs.current_keep_alive), timeout=60.0
            )


def _feasible(t: optuna.trial.FrozenTrial) -> bool:
    return bool(t.values) and all(v <= 0 for v in t.constraints.values())


def _nothing_feasible(study: optuna.Study, done: list[optuna.trial.FrozenTrial]) -> str:
    """Why no trial can be recommended: none completed, all had errors, or all broke the memory budget."""
    if not done:
        failed = [t.user_attrs.get("failure") for t in study.get_trials(deepcopy=False)]
        last = next((f for f in reversed(failed) if f), "no trial ran")
        return f"no trial completed: {last}"
    if all(t.constraints.get("errors", 0) > 0 for t in done):
        reasons = [str(t.user_attrs.get("error_reason") or "") for t in done]
        common = max(set(reasons), key=reasons.count) or "see the error kinds in the study"
        return f"every trial had failed requests ({len(done)} trials): {common}"
    return f"no trial fits --memory-budget ({len(done)} trials); raise it or leave it out"


def _verify(
    study: optuna.Study,
    space: Space,
    inputs: SearchInputs,
    gaps: tuple[float, ...],
    memory_gaps: tuple[float, ...],
    spec: StudySpec,
) -> Verdict:
    import optuna

    done = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
    feasible = sorted((t for t in done if _feasible(t)), key=lambda t: t.values[0])
    if not feasible:
        raise UserError(_nothing_feasible(study, done))
    baseline_params = space.baseline()
    base_cfg = space.config(baseline_params, baseline=True)
    # Candidates: the near-best (within 15% of the best p95), thriftiest first, then the plain best.
    near = [t for t in feasible if t.values[0] <= feasible[0].values[0] * 1.15]
    near.sort(key=lambda t: thrift_key(space.config(t.params), t.user_attrs.get("resident_gb", 0.0)))
    picked: list[tuple[str, dict[str, object], Config, float]] = []
    seen: set[Config] = {base_cfg}
    for t in [*near[: max(inputs.verify_top - 1, 1)], *feasible]:
        cfg = space.config(t.params)
        if cfg not in seen:
            seen.add(cfg)
            picked.append(
                (
                    f"trial {t.number}",
                    dict(t.params),
                    cfg,
                    resident_gb(cfg, memory_gaps, space.facts.model_bytes),
                )
            )
        if len(picked) >= inputs.verify_top:
            break
    baseline = (
        "baseline",
        baseline_params,
        base_cfg,
        resident_gb(base_cfg, memory_gaps, space.facts.model_bytes),
    )

    def measure(config: Config, repeat: int) -> tuple[tuple[float, ...], int]:
        result = evaluate(inputs.target, config, gaps, prompt_offset=100_000 * (repeat + 1))
        return result.totals, result.errors

    measured = verify([baseline, *picked], measure, inputs.verify_repeats)
    base = next(m for m in measured if m.label == "baseline")
    candidates: list[Measured] = [m for m in measured if m.label != "baseline"]
    if spec.memory_budget_gb is not None:
        candidates = [m for m in candidates if m.resident_gb <= spec.memory_budget_gb]
    verdict = choose(candidates, base, memory_free=inputs.memory_free, seed=spec.seed)
    study.set_user_attr(
        "verify",
        [
            {
                "label": m.label,
                "params": m.params,
                "totals_ms": [x * 1000 for x in m.totals],
                "errors": m.errors,
                "resident_gb": m.resident_gb,
            }
            for m in measured
        ],
    )
    return verdict
