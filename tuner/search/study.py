"""Optuna glue: create or resume the study, enqueue the baseline, run trials, record what each measured.

The sampler is TPE, seeded and multivariate (docs/search.md says why). Errors, timeouts and 503s are
constraints (``Trial.set_constraint``), never penalty numbers; the objective is the p95 of the trial's
completed requests in real milliseconds (and resident memory with ``multi``).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from tuner.errors import UserError
from tuner.search.space import Space, resident_gb
from tuner.search.trial import Target, TrialResult, evaluate

if TYPE_CHECKING:
    import optuna

Objective = Literal["p95", "multi"]


@dataclass(frozen=True)
class StudySpec:
    storage: str  # any Optuna storage URL; sqlite by default
    name: str
    trials: int  # total wanted in the study (a resumed study runs only the rest)
    seed: int = 0
    objective: Objective = "p95"
    memory_budget_gb: float | None = None  # constraint on average resident model memory


def make_sampler(seed: int) -> optuna.samplers.BaseSampler:
    import optuna

    return optuna.samplers.TPESampler(seed=seed, multivariate=True, n_startup_trials=8, constant_liar=True)


def open_study(spec: StudySpec) -> optuna.Study:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    directions: list[Literal["minimize", "maximize"]] = ["minimize"] * (2 if spec.objective == "multi" else 1)
    for attempt in range(6):
        try:
            return optuna.create_study(
                storage=spec.storage,
                study_name=spec.name,
                directions=directions,
                sampler=make_sampler(spec.seed),
                load_if_exists=True,
            )
        except ValueError as exc:  # e.g. a study of that name with other directions
            raise UserError(f"study {spec.name!r}: {exc}") from None
        except Exception as exc:
            # Several workers opening a fresh RDB storage at once race to create its schema: try again.
            if "sqlalchemy" not in type(exc).__module__:
                raise
            if attempt == 5:
                raise UserError(
                    f"cannot open the study storage {spec.storage}: {str(exc).splitlines()[0]}"
                ) from None
            time.sleep(0.2 + random.random())
    raise AssertionError("unreachable")


def suggest(trial: optuna.Trial, space: Space) -> dict[str, object]:
    params: dict[str, object] = {}
    for d in space.dimensions:
        if d.kind == "categorical":
            params[d.name] = trial.suggest_categorical(d.name, list(d.choices))  # type: ignore[arg-type]
        else:
            params[d.name] = trial.suggest_int(d.name, d.low, d.high)
    return params


def finished(study: optuna.Study) -> int:
    import optuna

    done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL)
    return sum(t.state in done for t in study.get_trials(deepcopy=False))


def record(trial: optuna.Trial, result: TrialResult, memory: float) -> None:
    trial.set_user_attr("p50_ms", result.p50 * 1000 if math.isfinite(result.p50) else None)
    trial.set_user_attr("p95_ms", result.p95 * 1000 if math.isfinite(result.p95) else None)
    trial.set_user_attr("errors", result.errors)
    trial.set_user_attr("error_kinds", list(result.error_kinds))
    trial.set_user_attr("cold_loads", result.cold_loads)
    trial.set_user_attr("new_connections", result.new_connections)
    trial.set_user_attr("resident_gb", memory)
    trial.set_user_attr("totals_ms", [round(t * 1000, 3) for t in result.totals])


def run_study(
    spec: StudySpec,
    space: Space,
    target: Target,
    gaps: tuple[float, ...],
    memory_gaps: tuple[float, ...],
    *,
    on_trial: Callable[[optuna.Study, optuna.trial.FrozenTrial], None] | None = None,
) -> optuna.Study:
    study = open_study(spec)
    if not study.get_trials(deepcopy=False):
        study.enqueue_trial(space.baseline(), user_attrs={"baseline": True})
    remaining = spec.trials - finished(study)
    worst = max(60_000.0, 1000 * space.timeout_floor)

    def objective(trial: optuna.Trial) -> float | tuple[float, float]:
        config = space.config(suggest(trial, space), baseline=bool(trial.user_attrs.get("baseline")))
        result = evaluate(target, config, gaps, prompt_offset=trial.number * len(gaps))
        memory = resident_gb(config, memory_gaps, space.facts.model_bytes)
        record(trial, result, memory)
        trial.set_constraint("errors", float(result.errors))
        if spec.memory_budget_gb is not None:
            trial.set_constraint("memory_gb", memory - spec.memory_budget_gb)
        p95 = result.p95 * 1000 if math.isfinite(result.p95) else float(worst)
        return (p95, memory) if spec.objective == "multi" else p95

    if remaining > 0:
        import optuna

        states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL)
        # Several workers may share the study (an RDB storage): stop when the study as a whole has enough.
        callbacks: list[Callable[[optuna.Study, optuna.trial.FrozenTrial], None]] = [
            optuna.study.MaxTrialsCallback(spec.trials, states=states)
        ]
        if on_trial is not None:
            callbacks.append(on_trial)
        # A trial whose server calls fail outright (UserError) is recorded as failed; the study goes on.
        study.optimize(
            objective, n_trials=remaining, callbacks=callbacks, gc_after_trial=False, catch=(UserError,)
        )
    return study
