"""A whole search, end to end: probe the facts, run the study, verify the best few, recommend.

The I/O edge of the search package: talks to the server, to Optuna's storage, and reports progress through
callbacks; the CLI renders.

The verdict is judged where the study did not look: the candidates' keep_alive is lifted to cover the
idle-gap profile (:mod:`tuner.search.coverage`), and the best few are re-measured against the baseline on
held-out gaps, drawn from the same profile with other seeds. The verdict's figures are those.
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
from tuner.i18n import _
from tuner.knobs.values import keep_alive_body
from tuner.measure import ollama
from tuner.measure.tls import shared_context
from tuner.measure.workload import draw_gaps
from tuner.search.coverage import Profile, lift_keep_alive
from tuner.search.recommend import Recommendation, recommend
from tuner.search.select import Measured, Verdict, choose, thrift_key, verify
from tuner.search.space import Config, Facts, Space, build_space, resident_gb
from tuner.search.study import StudySpec, result_of, run_study
from tuner.search.trial import Target, evaluate
from tuner.search.users import users_facts

if TYPE_CHECKING:
    import optuna


MEMORY_DRAWS = 5000
HELDOUT_SEED = 1_000_003  # held-out gap sets are drawn with seed + this (+ the repeat): never the study's


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
    traffic_gaps: tuple[float, ...] = ()  # gaps between the user's own arrivals (--traffic), if given


@dataclass(frozen=True)
class SearchOutcome:
    study: optuna.Study
    space: Space
    gaps: tuple[float, ...]
    verdict: Verdict  # on held-out gaps
    recommendation: Recommendation
    new_trials: int = 0  # trials this run added
    held: int = 0  # trials the study now holds (any state)
    complete: int = 0  # of which measured to the end
    heldout_seed: int = 0  # the first held-out gap set's seed
    heldout_requests: int = 0  # requests per candidate on held-out gaps (pooled over the repeats)
    tuned_p95: tuple[float, float] | None = None  # (baseline, winner) p95 on the study's own gaps, real s
    statistic: str = ""  # what a trial's p95 is at the sample size used (see :func:`statistic`)


def statistic(requests: int) -> str:
    """What a trial's "p95" is at this sample size, said plainly (the CLI prints it)."""
    position = 0.95 * (requests - 1)  # tuner.measure.stats.percentile: 0-based, interpolated
    below, above = math.floor(position) + 1, math.ceil(position) + 1  # 1-based ranks, fastest first
    if above < requests:  # the slowest request does not enter it
        if below == above:
            return _("objective: p95 of {n} requests per trial, the request ranked {rank} of {n}").format(
                n=requests, rank=below
            )
        return _(
            "objective: p95 of {n} requests per trial, interpolated between ranks {lo} and {hi} of {n}"
        ).format(n=requests, lo=below, hi=above)
    return _(
        "objective: with {n} requests per trial the p95 leans on the slowest request, a worst-case "
        "statistic; --requests-per-trial 21 or more makes it a percentile"
    ).format(n=requests)


def lab_time_scale(root: str) -> float:
    """The lab's time_scale when ``root`` is the bundled lab; 1.0 for a real Ollama."""
    try:
        resp = httpx.get(
            root.rstrip("/") + "/lab/stats", timeout=5.0, trust_env=False, verify=shared_context()
        )
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
    for _attempt in range(2):
        ollama.unload(admin, t.model)
        loads.append(ollama.preload(admin, t.model, keep_alive=-1) / t.time_scale)
    loaded = ollama.find_loaded(admin, t.model)
    size = loaded.size if loaded is not None else 0
    warm = Config("127.0.0.1" if host == "localhost" else host, "-1", 600.0, 3600.0, 4, True)
    answer = evaluate(t, warm, (0.0, 0.0, 0.0))
    if not answer.totals:  # nothing to search on: say why now, not after a study of failures
        raise UserError(
            _("{root}: none of 3 test requests to {model} succeeded: {reason}").format(
                root=t.root, model=t.model, reason=answer.reason
            )
        )
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
    on_progress: Callable[[int, int], None] = lambda done, total: None,
) -> SearchOutcome:
    from tuner.search.storage import one_process

    with one_process(spec.storage):  # SQLite: this process only, refused at once when another holds it
        return _search(inputs, spec, host=host, on_trial=on_trial, on_stage=on_stage, on_progress=on_progress)


def _search(
    inputs: SearchInputs,
    spec: StudySpec,
    *,
    host: str,
    on_trial: Callable[[optuna.Study, optuna.trial.FrozenTrial], None] | None,
    on_stage: Callable[[str], None],
    on_progress: Callable[[int, int], None],
) -> SearchOutcome:
    from tuner.search.study import open_study, quiet_optuna

    study = open_study(spec)  # the storage first: a bad one is refused before anything is measured
    notes = quiet_optuna()
    on_stage(_("measuring cold-load and answer times"))
    try:
        facts = probe_facts(inputs, host)
        facts = users_facts(facts, inputs.target, host)  # several users: slots, pool, loaded models
        space = build_space(facts)
        gaps = draw_gaps(inputs.mean_gap, inputs.requests_per_trial, spec.seed, inputs.gap_distribution)
        # Memory and keep_alive coverage are judged on the gap profile at large, not on the few gaps a
        # trial can afford.
        memory_gaps = draw_gaps(inputs.mean_gap, MEMORY_DRAWS, spec.seed + 1, inputs.gap_distribution)
        profile = Profile(gaps=memory_gaps, traffic=inputs.traffic_gaps)
        on_stage(
            _("study {name}: {count} new trials; {statistic}").format(
                name=spec.name, count=spec.trials, statistic=statistic(inputs.requests_per_trial)
            )
        )
        study = run_study(spec, space, inputs.target, gaps, memory_gaps, on_trial=on_trial, study=study)
        on_stage(_("re-measuring the best against the current settings on held-out gaps"))
        verdict, tuned = _verify(study, space, inputs, profile, spec, on_progress)
    finally:
        _restore(inputs, host)
    said = notes.summary()
    if said is not None:
        on_stage(said)
    rec = recommend(
        verdict,
        facts,
        profile,
        entry=inputs.entry,
        configured_url=inputs.configured_url,
        memory_free=inputs.memory_free,
    )
    trials = study.get_trials(deepcopy=False)
    import optuna

    outcome = SearchOutcome(
        study,
        space,
        gaps,
        verdict,
        rec,
        new_trials=spec.trials,  # optimize ran them all, or a UserError stopped the search
        held=len(trials),
        complete=sum(t.state == optuna.trial.TrialState.COMPLETE for t in trials),
        heldout_seed=spec.seed + HELDOUT_SEED,
        heldout_requests=inputs.requests_per_trial * inputs.verify_repeats,
        tuned_p95=tuned,
        statistic=statistic(inputs.requests_per_trial),
    )
    from tuner.search.summary import store_verdict

    store_verdict(outcome, outcome.statistic)
    return outcome


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
        last = next((f for f in reversed(failed) if f), _("no trial ran"))
        return _("no trial completed: {last}").format(last=last)
    if all(t.constraints.get("errors", 0) > 0 for t in done):
        reasons = [str(result_of(t).get("error_reason") or "") for t in done]
        common = max(set(reasons), key=reasons.count) or _("see the error kinds in the study")
        return _("every trial had failed requests ({count} trials): {reason}").format(
            count=len(done), reason=common
        )
    return _("no trial fits --memory-budget ({count} trials); raise it or leave it out").format(
        count=len(done)
    )


def _verify(
    study: optuna.Study,
    space: Space,
    inputs: SearchInputs,
    profile: Profile,
    spec: StudySpec,
    on_progress: Callable[[int, int], None] = lambda done, total: None,
) -> tuple[Verdict, tuple[float, float] | None]:
    """Re-measure the baseline and the best few on held-out gaps; each candidate's keep_alive lifted to
    cover the profile (within the memory budget). Returns the verdict and, for comparison, the (baseline,
    winner) p95 the study itself measured on its own gaps."""
    import optuna

    done = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
    feasible = sorted((t for t in done if _feasible(t)), key=lambda t: t.values[0])
    if not feasible:
        raise UserError(_nothing_feasible(study, done))
    model_bytes = space.facts.model_bytes
    budget = spec.memory_budget_gb
    keep_choices = next((d.choices for d in space.dimensions if d.name == "keep_alive"), ())

    def fits(keep_alive: str) -> bool:
        cfg = space.config({"keep_alive": keep_alive})
        return budget is None or resident_gb(cfg, profile.gaps, model_bytes) <= budget

    baseline_params = space.baseline()
    base_cfg = space.config(baseline_params, baseline=True)
    # Candidates: the near-best (within 15% of the best p95), thriftiest first, then the plain best.
    near = [t for t in feasible if t.values[0] <= feasible[0].values[0] * 1.15]
    near.sort(key=lambda t: thrift_key(space.config(t.params), result_of(t).get("resident_gb", 0.0)))
    picked: list[tuple[str, dict[str, object], Config, float]] = []
    source: dict[str, optuna.trial.FrozenTrial] = {}
    seen: set[Config] = {base_cfg}
    for t in [*near[: max(inputs.verify_top - 1, 1)], *feasible]:
        params = dict(t.params)
        label = _("trial {number}").format(number=t.number)
        if "keep_alive" in params:
            lifted = lift_keep_alive(
                str(params["keep_alive"]), [str(c) for c in keep_choices], profile, fits=fits
            )
            if lifted != params["keep_alive"]:
                params["keep_alive"] = lifted
                label = _("trial {number}, keep_alive {keep_alive}").format(
                    number=t.number, keep_alive=lifted
                )
        cfg = space.config(params)
        if cfg not in seen:
            seen.add(cfg)
            source[label] = t
            picked.append((label, params, cfg, resident_gb(cfg, profile.gaps, model_bytes)))
        if len(picked) >= inputs.verify_top:
            break
    baseline = ("baseline", baseline_params, base_cfg, resident_gb(base_cfg, profile.gaps, model_bytes))
    seed = spec.seed + HELDOUT_SEED

    steps = [0, (1 + len(picked)) * inputs.verify_repeats]  # measurements done, in all (for on_progress)

    def measure(config: Config, repeat: int) -> tuple[tuple[float, ...], int]:
        heldout = draw_gaps(
            inputs.mean_gap, inputs.requests_per_trial, seed + repeat, inputs.gap_distribution
        )
        result = evaluate(inputs.target, config, heldout, prompt_offset=100_000 * (repeat + 1))
        steps[0] += 1
        on_progress(steps[0], steps[1])
        return result.totals, result.errors

    measured = verify([baseline, *picked], measure, inputs.verify_repeats)
    base = next(m for m in measured if m.label == "baseline")
    candidates: list[Measured] = [m for m in measured if m.label != "baseline"]
    if budget is not None:
        candidates = [m for m in candidates if m.resident_gb <= budget]
    verdict = choose(candidates, base, memory_free=inputs.memory_free, seed=spec.seed)
    # What `watch` compares with: the winner when it beat the baseline beyond noise, else the baseline.
    study.set_user_attr("winner", verdict.winner.label if verdict.significant else "baseline")
    study.set_user_attr(
        "verify",
        [
            {
                "label": m.label,
                "params": m.params,
                "totals_ms": [round(x * 1000, 3) for x in m.totals],
                "errors": m.errors,
                "resident_gb": m.resident_gb,
            }
            for m in measured
        ],
    )
    won = source.get(verdict.winner.label)
    first = next((t for t in done if t.user_attrs.get("baseline")), None)
    tuned = None
    if won is not None and first is not None and won.values and first.values:
        tuned = (first.values[0] / 1000, won.values[0] / 1000)
    return verdict, tuned
