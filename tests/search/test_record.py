"""A trial's figures are one storage write (one user attribute), counted on a real SQLite storage."""

from __future__ import annotations

from typing import Any

import optuna
from sqlalchemy import event
from sqlalchemy.engine import Engine

from tuner.search.study import StudySpec, make_storage, record, result_of
from tuner.search.trial import TrialResult


def test_a_trials_results_are_one_write() -> None:
    storage = make_storage(StudySpec("sqlite:///:memory:", "r", 1))
    study = optuna.create_study(storage=storage, study_name="r")
    trial = study.ask()
    writes: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith(("INSERT", "UPDATE", "DELETE")):
            writes.append(statement.split("(")[0])

    event.listen(Engine, "before_cursor_execute", seen)
    try:
        result = TrialResult(0.4, 2.5, 1, ("http_500",), 2, 10, (0.3, 0.4, 2.5), "boom", 0.016)
        record(trial, result, 1.7)
    finally:
        event.remove(Engine, "before_cursor_execute", seen)
    assert len(writes) == 1 and "trial_user_attributes" in writes[0], writes
    study.tell(trial, 2500.0)
    stored = result_of(study.trials[0])
    assert stored["p95_ms"] == 2500.0 and stored["errors"] == 1 and stored["client_build_ms"] == 16.0
    assert stored["totals_ms"] == [300.0, 400.0, 2500.0] and stored["resident_gb"] == 1.7
