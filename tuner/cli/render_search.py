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
from tuner.measure.stats import percentile
from tuner.plan.build import Plan
from tuner.search.recommend import human_seconds
from tuner.search.study import result_of

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
    ran = [0]

    def line(trial: Any) -> str:
        value = trial.values[0] if trial.values else math.inf
        if result_of(trial).get("errors", 1) == 0:
            best[0] = min(best[0], value)
        ran[0] += 1
        n = ran[0]
        left = (time.perf_counter() - t0) / n * max(total - n, 0)
        shown = human_seconds(best[0] / 1000) if math.isfinite(best[0]) else "-"
        if not trial.values:  # failed outright: the server's reason, not a p95
            failure = one_line(str(trial.user_attrs.get("failure") or _("no result")), 120)
            return _("trial {n}/{total} (#{number})  failed: {failure}  best {best}").format(
                n=n, total=total, number=trial.number, failure=failure, best=shown
            )
        errors = result_of(trial).get("errors", 0)
        failed = _("  {count} failed requests").format(count=errors) if errors else ""
        return _("trial {n}/{total} (#{number})  p95 {p95}{failed}  best {best}  ~{left:.0f} s left").format(
            n=n,
            total=total,
            number=trial.number,
            p95=human_seconds(value / 1000),
            failed=failed,
            best=shown,
            left=left,
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

    v = result.verdict
    facts = result.space.facts
    layout.prose(
        out,
        _("study {name}: {new} new trials; it now holds {held} ({complete} complete)").format(
            name=result.study.study_name,
            new=result.new_trials,
            held=result.held,
            complete=result.complete,
        ),
    )
    if result.statistic:
        layout.prose(out, result.statistic)
    layout.prose(
        out,
        _("cold load {cold}, longest answer ~{answer}, model {size} GB (measured)").format(
            cold=human_seconds(facts.cold_load),
            answer=human_seconds(facts.answer),
            size=f"{facts.model_bytes / 1e9:.1f}",
        ),
    )
    columns = (_("candidate"), _("settings"), "p50", "p95", _("errors"), _("resident GB"))
    table = layout.table(
        *columns,
        title=_(
            "re-measured against the current settings on held-out gaps (seed {seed}, {n} requests each)"
        ).format(seed=result.heldout_seed, n=result.heldout_requests),
        right=columns[2:],
    )
    rows: list[list[str]] = []
    for m in result.study.user_attrs.get("verify", []):
        mark = _(" ← winner") if m["label"] == v.winner.label else ""
        totals = [t / 1000 for t in m["totals_ms"]]
        settings = ", ".join(f"{k}={_short(val)}" for k, val in m["params"].items())
        p50 = human_seconds(percentile(totals, 0.5)) if totals else "-"
        p95 = human_seconds(percentile(totals, 0.95)) if totals else "-"
        rows.append([m["label"] + mark, settings, p50, p95, str(m["errors"]), f"{m['resident_gb']:.1f}"])
    for row in rows:
        table.add_row(*row)
    layout.print_table(
        out, table, [[r[0], f"p50 {r[2]}", f"p95 {r[3]}", f"errors {r[4]}", f"{r[5]} GB", r[1]] for r in rows]
    )
    if multi:
        front = layout.table(
            _("trial"), _("settings"), "p95", _("resident GB"), title=_("latency / memory Pareto front")
        )
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
    layout.prose(out, Text(verdict_line(result)))
    if result.tuned_p95 is not None:
        base, win = result.tuned_p95
        layout.prose(
            out,
            _(
                "  on the study's own gaps the same trial measured p95 {base} → {win} (×{ratio:.2f}); "
                "the verdict rests on the held-out figures"
            ).format(
                base=human_seconds(base),
                win=human_seconds(win),
                ratio=win / base if base > 0 else math.nan,
            ),
            style="dim",
        )
    for reason in result.recommendation.reasons:
        layout.prose(out, f"- {reason}", indent="  ", hanging="    ")


def verdict_line(result: SearchOutcome) -> str:
    """The verdict in one line, with the held-out figures it rests on."""
    v = result.verdict
    verdict = _("better beyond noise") if v.significant else _("not better beyond noise")
    return _(
        "verdict: {winner} is {verdict} on held-out gaps: p95 {base} → {win} (×{ratio:.2f}, 95% CI "
        "×{lo:.2f}–×{hi:.2f}; defaults ÷ tuned {speedup:.1f})"
    ).format(
        winner=v.winner.label,
        verdict=verdict,
        base=human_seconds(v.baseline.p95),
        win=human_seconds(v.winner.p95),
        ratio=v.ratio,
        lo=v.ci[0],
        hi=v.ci[1],
        speedup=1 / v.ratio if v.ratio > 0 else math.inf,
    )


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
