"""Rendering for `search`: progress while trials run, then the verdict, reasons and the plan written."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text

from tuner.cli import render
from tuner.cli.render import err, out
from tuner.i18n import _
from tuner.measure.reasons import one_line
from tuner.plan.build import Plan
from tuner.search.recommend import human_seconds

if TYPE_CHECKING:
    from tuner.search.run import SearchPlan
    from tuner.search.session import SearchOutcome


def stage(text: str) -> None:
    err.print(Text(f"· {text}", style="dim"))


@dataclass(frozen=True)
class SearchProgress:
    """The callbacks :func:`tuner.search.run.run_search` reports through."""

    on_stage: Callable[[str], None]
    on_trial: Callable[[Any, Any], None]
    on_progress: Callable[[int, int], None]


@contextlib.contextmanager
def progress(total: int) -> Iterator[SearchProgress]:
    """Every stage of a search on stderr: on a terminal one live line (a spinner and the time spent while
    the baseline is measured; a bar with the time left for the trials and for re-measuring the winner);
    in a pipe the stage lines and one line per trial."""
    t0 = time.perf_counter()
    best = [math.inf]

    def line(trial: Any) -> str:
        value = trial.values[0] if trial.values else math.inf
        if trial.user_attrs.get("errors", 1) == 0:
            best[0] = min(best[0], value)
        n = trial.number + 1
        left = (time.perf_counter() - t0) / n * max(total - n, 0)
        shown = human_seconds(best[0] / 1000) if math.isfinite(best[0]) else "-"
        if not trial.values:  # failed outright: the server's reason, not a p95
            failure = one_line(str(trial.user_attrs.get("failure") or "no result"), 120)
            return f"trial {n}/{total}  failed: {failure}  best {shown}"
        errors = trial.user_attrs.get("errors", 0)
        failed = f"  {errors} failed requests" if errors else ""
        return (
            f"trial {n}/{total}  p95 {human_seconds(value / 1000)}{failed}  best {shown}  ~{left:.0f} s left"
        )

    if not err.is_terminal:
        yield SearchProgress(
            on_stage=stage,
            on_trial=lambda study, trial: err.print(
                Text(line(trial))
            ),  # Text: a server's words are no markup
            on_progress=lambda done, total: None,
        )
        return
    from rich.progress import (
        BarColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("", total=None)

        def on_stage(text: str) -> None:
            bar.console.print(Text(f"· {text}", style="dim"))
            trials = text.startswith("study ")
            bar.reset(task, total=total if trials else None, description=text)

        def on_trial(study: Any, trial: Any) -> None:
            bar.update(task, advance=1, description=line(trial))

        def on_progress(done: int, steps: int) -> None:
            bar.update(task, total=steps, completed=done)

        yield SearchProgress(on_stage=on_stage, on_trial=on_trial, on_progress=on_progress)


def outcome(result: SearchOutcome, *, multi: bool) -> None:
    from tuner.cli import layout
    from tuner.measure.stats import percentile

    v = result.verdict
    facts = result.space.facts
    layout.prose(
        out,
        _("cold load {cold}, longest answer ~{answer}, model {size} GB (measured)").format(
            cold=human_seconds(facts.cold_load),
            answer=human_seconds(facts.answer),
            size=f"{facts.model_bytes / 1e9:.1f}",
        ),
    )
    columns = ("candidate", "settings", "p50", "p95", "errors", "resident GB")
    table = layout.table(
        *columns,
        title="re-measured against the current settings",
        right=("p50", "p95", "errors", "resident GB"),
    )
    rows: list[list[str]] = []
    for m in result.study.user_attrs.get("verify", []):
        mark = " ← winner" if m["label"] == v.winner.label else ""
        totals = sorted(m["totals_ms"])
        p50 = totals[len(totals) // 2] / 1000 if totals else math.inf
        p95 = percentile([t / 1000 for t in totals], 0.95) if totals else math.inf
        settings = ", ".join(f"{k}={_short(val)}" for k, val in m["params"].items())
        row = [m["label"] + mark, settings, human_seconds(p50), human_seconds(p95), str(m["errors"])]
        rows.append([*row, f"{m['resident_gb']:.1f}"])
    for row in rows:
        table.add_row(*row)
    layout.print_table(
        out, table, [[r[0], f"p50 {r[2]}", f"p95 {r[3]}", f"errors {r[4]}", f"{r[5]} GB", r[1]] for r in rows]
    )
    if multi:
        front = layout.table("trial", "settings", "p95", "resident GB", title="latency / memory Pareto front")
        front_rows = [
            [
                str(t.number),
                ", ".join(f"{k}={_short(x)}" for k, x in t.params.items()),
                human_seconds(t.values[0] / 1000),
                f"{t.values[1]:.1f}",
            ]
            for t in sorted(result.study.best_trials, key=lambda t: t.values[0])
        ]
        for row in front_rows:
            front.add_row(*row)
        layout.print_table(out, front, [[r[0], f"p95 {r[2]}", f"{r[3]} GB", r[1]] for r in front_rows])
    verdict = (
        _("{winner} is better beyond noise (p95 ×{ratio}, 95% CI ×{low}–×{high})")
        if v.significant
        else _("{winner} is not better beyond noise (p95 ×{ratio}, 95% CI ×{low}–×{high})")
    ).format(winner=v.winner.label, ratio=f"{v.ratio:.2f}", low=f"{v.ci[0]:.2f}", high=f"{v.ci[1]:.2f}")
    layout.prose(
        out,
        Text.assemble(
            (_("verdict:") + " ", "bold"),
            verdict,
        ),
    )
    for reason in result.recommendation.reasons:
        layout.prose(out, f"- {reason}", indent="  ", hanging="    ")


def _short(value: object) -> str:
    return f"{value:.0f}" if isinstance(value, float) else str(value)


def planned(p: SearchPlan, *, review: bool) -> None:
    """The plan file written; with ``review`` (``--apply``), the diff and service settings to confirm."""
    plan_written(p.path, p.plan)
    if review and (p.plan.changed_files or p.plan.service):
        render.plan(p.plan)
        render.service_settings(p.plan, p.service_written)
    elif p.service_written:
        render.written(p.service_written)


def plan_written(path: Path, plan: Plan) -> None:
    files = ", ".join(f.file.path.name for f in plan.changed_files) or _("no file changes")
    service = ", ".join(f"{k}={v}" for k, v in plan.service) or _("none")
    from tuner.cli.layout import prose
    from tuner.shell import command

    prose(
        out,
        _("plan: {file}  ({files}; Ollama service: {service})").format(
            file=path, files=files, service=service
        ),
    )
    prose(
        out,
        _("review it with: {command}").format(command=command("apply", "--plan", path, "--dry-run")),
        style="dim",
    )
