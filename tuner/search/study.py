"""Optuna glue: create or resume the study, enqueue the baseline, run trials, record what each measured.

The sampler is TPE, seeded and multivariate (docs/search.md says why). Errors, timeouts and 503s are
constraints (``Trial.set_constraint``), never penalty numbers; the objective is the p95 of the trial's
completed requests in real milliseconds (and resident memory with ``multi``).
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import re
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from tuner.errors import UserError
from tuner.i18n import _
from tuner.measure.ollama import ServerUnreachable
from tuner.measure.reasons import one_line
from tuner.redact import mask_url
from tuner.search.fingerprint import ATTR, Fingerprint, differences
from tuner.search.space import Space, resident_gb
from tuner.search.trial import Target, TrialResult, evaluate

if TYPE_CHECKING:
    import optuna

Objective = Literal["p95", "multi"]

HEARTBEAT_SECONDS = 20  # a running trial's worker writes a heartbeat this often (RDB storages)
GRACE_SECONDS = 60  # a running trial without a heartbeat for this long belongs to a dead worker
FAILURES_IN_A_ROW = 3  # trials whose server calls fail outright, one after another, before the study stops

# The package that brings a SQLAlchemy driver module, for the one-line `pip install` hint.
DRIVER_PACKAGES = {
    "psycopg2": "psycopg2-binary",
    "psycopg": "'psycopg[binary]'",
    "pg8000": "pg8000",
    "asyncpg": "asyncpg",
    "pymysql": "PyMySQL",
    "MySQLdb": "mysqlclient",
    "mysql": "mysql-connector-python",
    "oracledb": "oracledb",
    "cx_Oracle": "cx_Oracle",
    "pyodbc": "pyodbc",
    "pymssql": "pymssql",
}


@dataclass(frozen=True)
class StudySpec:
    storage: str  # any Optuna storage URL (sqlite by default), or journal:PATH
    name: str
    trials: int  # new trials this run adds to the study (a resumed study keeps its finished ones)
    seed: int = 0
    objective: Objective = "p95"
    memory_budget_gb: float | None = None  # constraint on average resident model memory
    heartbeat_interval: int = HEARTBEAT_SECONDS
    grace_period: int = GRACE_SECONDS
    workload: Fingerprint | None = None  # stored with the study; a resume with another one is refused


# --- Optuna's own output: routed through the tool ------------------------------------------------------

_FAILED_TRIAL = re.compile(r"Trial \d+ failed")


class OptunaNotes(logging.Handler):
    """Optuna's log records and Python warnings, kept instead of printed. Its failed-trial records (with a
    traceback) are dropped: the tool reports failed trials itself."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.kept: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a malformed record must not surface as a logging traceback
            return
        if not _FAILED_TRIAL.match(text):
            self.note(text)

    def note(self, text: str) -> None:
        line = one_line(text)
        if line and line not in self.kept:
            self.kept.append(line)

    def summary(self) -> str | None:
        """At most one line for everything Optuna said, or None."""
        if not self.kept:
            return None
        more = len(self.kept) - 1
        if more:
            return _("optuna: {note} (and {more} more)").format(note=self.kept[0], more=more)
        return _("optuna: {note}").format(note=self.kept[0])


NOTES = OptunaNotes()


def quiet_optuna() -> OptunaNotes:
    """Optuna logs through its own stderr handler ("[W 2026-…] Trial 3 failed …" with a traceback). Send its
    records to NOTES instead: no default handler, no propagation to the root logger (whose last-resort
    handler would print them) and INFO lines off."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    optuna.logging.disable_default_handler()
    optuna.logging.disable_propagation()
    logger = logging.getLogger("optuna")
    if NOTES not in logger.handlers:
        logger.addHandler(NOTES)
    return NOTES


@contextlib.contextmanager
def _warnings_noted() -> Iterator[None]:
    """Python warnings raised inside Optuna become notes (ExperimentalWarning dropped: the heartbeat is an
    experimental feature the tool chose knowingly)."""
    from optuna.exceptions import ExperimentalWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        warnings.simplefilter("ignore", ExperimentalWarning)
        try:
            yield
        finally:
            for w in caught:
                NOTES.note(f"{w.category.__name__}: {w.message}")


# --- the storage ---------------------------------------------------------------------------------------


def check_storage(url: str) -> None:
    """Refuse, before anything is measured, a storage this Python cannot open: not a database URL, a
    database SQLAlchemy does not know, or a driver that is not installed (with the pip install that fixes
    it). ``journal:PATH`` is Optuna's JournalStorage on a file."""
    from tuner.search.storage import journal_path

    if journal_path(url) is not None:
        return
    try:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError
    except ImportError:
        raise UserError(_("search needs Optuna: pip install 'chatchat-tune[search]'")) from None
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise UserError(
            _(
                "--storage is not a database URL (e.g. sqlite:///search.db, "
                "postgresql+psycopg2://user@host/db, journal:search.journal)"
            )
        ) from None
    try:
        dialect: Any = parsed.get_dialect()
    except NoSuchModuleError:
        raise UserError(
            _("--storage: SQLAlchemy knows no database {name!r}").format(name=parsed.drivername)
        ) from None
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        module = (exc.name or "").split(".")[0] or parsed.get_driver_name()
        if module in ("sqlite3", "_sqlite3"):
            raise UserError(
                _("--storage sqlite: this Python was built without sqlite3; pass a PostgreSQL or MySQL URL")
            ) from None
        package = DRIVER_PACKAGES.get(module, module)
        raise UserError(
            _(
                "--storage {name}: its database driver {module} is not installed: pip install {package}"
            ).format(name=parsed.drivername, module=module, package=package)
        ) from None


def _in_memory(url: str) -> bool:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:")


def _is_storage_error(exc: BaseException) -> bool:
    from optuna.exceptions import StorageInternalError

    return isinstance(exc, StorageInternalError) or type(exc).__module__.startswith("sqlalchemy")


def make_storage(spec: StudySpec) -> optuna.storages.BaseStorage:
    """The study's storage: JournalStorage for ``journal:PATH``, else the RDB storage (with heartbeat)."""
    from tuner.search.storage import journal_path, journal_storage

    path = journal_path(spec.storage)
    return journal_storage(path) if path is not None else _rdb_storage(spec)


def _rdb_storage(spec: StudySpec) -> optuna.storages.RDBStorage:
    """The RDB storage, with Optuna's heartbeat for a database that outlives the process: a trial whose worker
    was killed is failed (and retried once) when a worker next runs the study, after the grace period."""
    import optuna
    from optuna.storages import RetryHeartbeatStaleTrialCallback

    class Storage(optuna.storages.RDBStorage):
        def record_heartbeat(self, trial_id: int) -> None:
            # Runs on Optuna's heartbeat thread: an error there would print a thread traceback. The main
            # thread meets the same storage error at its next write and reports it in one line.
            with contextlib.suppress(Exception):
                super().record_heartbeat(trial_id)

    if _in_memory(spec.storage):  # gone with the process: no one to resume, no thread to share it with
        return Storage(spec.storage)
    return Storage(
        spec.storage,
        heartbeat_interval=spec.heartbeat_interval,
        grace_period=spec.grace_period,
        heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=1),
    )


def make_sampler(seed: int) -> optuna.samplers.BaseSampler:
    import optuna

    return optuna.samplers.TPESampler(seed=seed, multivariate=True, n_startup_trials=8, constant_liar=True)


def open_study(spec: StudySpec) -> optuna.Study:
    """Create the study or resume it. With ``spec.workload``, a study measured under another workload is
    refused in one line naming what differs; a new study stores it."""
    study = _open(spec)
    if spec.workload is not None:
        check_workload(study, spec.name, spec.workload)
    return study


def check_workload(study: optuna.Study, name: str, workload: Fingerprint) -> None:
    stored = study.user_attrs.get(ATTR)
    if isinstance(stored, dict):
        differ = differences(stored, workload)
        if differ:
            raise UserError(
                _(
                    "study {name!r} was measured under another workload ({differ}): run with the same "
                    "options to resume it, or pass a new --study-name"
                ).format(name=name, differ="; ".join(differ))
            )
    elif study.get_trials(deepcopy=False):
        raise UserError(
            _(
                "study {name!r} holds trials of an unknown workload (made by an older chatchat-tune): "
                "pass a new --study-name"
            ).format(name=name)
        )
    else:
        study.set_user_attr(ATTR, workload.as_attr())


def _open(spec: StudySpec) -> optuna.Study:
    import optuna

    check_storage(spec.storage)
    quiet_optuna()
    directions: list[Literal["minimize", "maximize"]] = ["minimize"] * (2 if spec.objective == "multi" else 1)
    for attempt in range(6):
        try:
            with _warnings_noted():
                return optuna.create_study(
                    storage=make_storage(spec),
                    study_name=spec.name,
                    directions=directions,
                    sampler=make_sampler(spec.seed),
                    load_if_exists=True,
                )
        except ValueError as exc:  # e.g. a study of that name with other directions
            raise UserError(
                _("study {name!r}: {problem}").format(name=spec.name, problem=one_line(str(exc)))
            ) from None
        except Exception as exc:
            # Several workers opening a fresh RDB storage at once race to create its schema: try again.
            if not _is_storage_error(exc):
                raise
            if attempt == 5:
                raise UserError(
                    _("cannot open the study storage {storage}: {problem}").format(
                        storage=mask_url(spec.storage),
                        problem=one_line(str(exc).splitlines()[0] if str(exc) else type(exc).__name__),
                    )
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
    """Trials measured to the end. A failed trial is not one (its params come back from the sampler or,
    for a killed worker's trial, from the heartbeat's retry)."""
    import optuna

    return sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.get_trials(deepcopy=False))


RESULT = "result"  # the trial user attribute with everything a trial measured (one write)


def record(trial: optuna.Trial, result: TrialResult, memory: float) -> None:
    """Everything the trial measured as one user attribute: one storage write instead of one per figure."""
    trial.set_user_attr(
        RESULT,
        {
            "p50_ms": result.p50 * 1000 if math.isfinite(result.p50) else None,
            "p95_ms": result.p95 * 1000 if math.isfinite(result.p95) else None,
            "errors": result.errors,
            "error_kinds": list(result.error_kinds),
            "error_reason": result.reason,
            "cold_loads": result.cold_loads,
            "new_connections": result.new_connections,
            "client_build_ms": round(result.client_build * 1000, 3),
            "resident_gb": memory,
            "totals_ms": [round(t * 1000, 3) for t in result.totals],
        },
    )


def result_of(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """What :func:`record` stored for a trial (empty for a trial that failed before it)."""
    value = trial.user_attrs.get(RESULT)
    return value if isinstance(value, dict) else {}


class _Abort(Exception):
    """Stops the study: not in ``catch``, so Optuna records the trial as failed and lets this through."""


def run_study(
    spec: StudySpec,
    space: Space,
    target: Target,
    gaps: tuple[float, ...],
    memory_gaps: tuple[float, ...],
    *,
    on_trial: Callable[[optuna.Study, optuna.trial.FrozenTrial], None] | None = None,
    study: optuna.Study | None = None,
) -> optuna.Study:
    """Run ``spec.trials`` new trials (a resumed study keeps what it holds). A trial whose server calls fail
    outright is recorded as failed and the study goes on, unless the server is unreachable or
    FAILURES_IN_A_ROW trials failed one after another: then the trial is recorded as failed and the study
    stops with a UserError naming the cause. Nothing is left RUNNING, Ctrl-C included (Optuna records the
    trial as failed and re-raises)."""
    study = study if study is not None else open_study(spec)
    quiet_optuna()
    if not study.get_trials(deepcopy=False):
        study.enqueue_trial(space.baseline(), user_attrs={"baseline": True})
    remaining = spec.trials
    worst = max(60_000.0, 1000 * space.timeout_floor)
    in_a_row = [0]

    def objective(trial: optuna.Trial) -> float | tuple[float, float]:
        config = space.config(suggest(trial, space), baseline=bool(trial.user_attrs.get("baseline")))
        try:
            result = evaluate(target, config, gaps, prompt_offset=trial.number * len(gaps))
        except ServerUnreachable as exc:
            trial.set_user_attr("failure", one_line(str(exc)))
            raise _Abort(
                _("the server stopped answering (trial {number}): {problem}").format(
                    number=trial.number, problem=exc
                )
            ) from None
        except UserError as exc:
            trial.set_user_attr("failure", one_line(str(exc)))
            in_a_row[0] += 1
            if in_a_row[0] >= FAILURES_IN_A_ROW:
                raise _Abort(
                    _("{count} trials in a row failed; the last (trial {number}): {problem}").format(
                        count=in_a_row[0], number=trial.number, problem=exc
                    )
                ) from None
            raise
        in_a_row[0] = 0
        memory = resident_gb(config, memory_gaps, space.facts.model_bytes)
        record(trial, result, memory)
        trial.set_constraint("errors", float(result.errors))
        if spec.memory_budget_gb is not None:
            trial.set_constraint("memory_gb", memory - spec.memory_budget_gb)
        p95 = result.p95 * 1000 if math.isfinite(result.p95) else float(worst)
        return (p95, memory) if spec.objective == "multi" else p95

    if remaining > 0:
        # Each worker sharing the study (journal or RDB storage) adds its own ``spec.trials``.
        callbacks: list[Callable[[optuna.Study, optuna.trial.FrozenTrial], None]] = []
        if on_trial is not None:
            callbacks.append(on_trial)
        try:
            with _warnings_noted():
                study.optimize(
                    objective,
                    n_trials=remaining,
                    callbacks=callbacks,
                    gc_after_trial=False,
                    catch=(UserError,),
                )
        except _Abort as exc:
            raise UserError(one_line(str(exc), 400)) from None
        except Exception as exc:
            if not _is_storage_error(exc):
                raise
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise UserError(
                _("the study storage {storage} failed: {problem}").format(
                    storage=mask_url(spec.storage), problem=one_line(first)
                )
            ) from None
    return study
