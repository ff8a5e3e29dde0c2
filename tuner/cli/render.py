"""Turn core results into terminal output (rich) or JSON. No decisions are made here."""

from __future__ import annotations

import contextlib
import difflib
import json
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from tuner.cli.layout import prose
from tuner.i18n import _
from tuner.shell import command

if TYPE_CHECKING:  # types only: importing them would load httpx and the editors for every command
    from tuner.apply.rollback import Restored
    from tuner.apply.run import ApplyOutcome
    from tuner.knobs.report import InspectReport
    from tuner.measure.runner import RunResult
    from tuner.measure.stats import Summary
    from tuner.plan.build import Plan

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def in_file_syntax(value: object, file: str) -> str:
    """A value as the user's own file writes it: YAML's ``true``/``null``/bare strings, Python's repr,
    JSON for the 0.3.0 workspace."""
    if file.endswith(".py"):
        return repr(value)
    if file.endswith(".json"):
        from tuner.jsonout import dumps

        return dumps(value).strip()
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        plain = value and value.strip() == value and value[0] not in "!&*'\"{[|>%@`#-?:" and ": " not in value
        if plain and value.lower() not in ("true", "false", "null", "yes", "no", "~"):
            return value
        return json.dumps(value, ensure_ascii=False)  # a YAML double-quoted scalar
    return str(value)


def print_json(obj: Any) -> None:
    from tuner.jsonout import dumps

    sys.stdout.write(dumps(obj))


_HONOURED_STYLE = {"yes": "green", "partly": "yellow", "no": "red", "service": "cyan", "patch": "magenta"}


def inspect(report: InspectReport, *, as_json: bool, wide: bool = False) -> None:
    """The install, one line per knob value (``wide``: also where it is written, ``file:line``)."""
    from tuner.cli import layout
    from tuner.i18n import _

    if as_json:
        from tuner.cli.jsonmodels import inspect_json

        print_json(inspect_json(report))
        return
    layout.prose(out, Text.assemble((report.label, "bold"), " ", _("at {root}").format(root=report.root)))
    if not report.configured:
        layout.prose(out, _("not configured yet: only *.py.example files are present"), style="yellow")
    layout.prose(out, _("files: {files}").format(files=", ".join(rel for _r, rel in report.files)))
    if report.code_patch:
        layout.prose(out, _("chatchat package: {state}").format(state=report.code_patch))
    columns = ("knob", "value", "where", "effect") if wide else ("knob", "value", "effect")
    table = layout.table(*columns, title="knobs")
    rows: list[list[str]] = []
    for k in report.knobs:
        if k.service_var:
            shown = f"{k.service_var}={k.shell_value} (this shell)" if k.shell_value else "-"
            rows.append([k.name, shown, "Ollama service", k.honoured])
            continue
        if not k.values:
            rows.append([k.name, "-", "not in this install", k.honoured])
            continue
        for v in k.values:
            name = f"{k.name}[{v.entry}]" if v.entry else k.name
            where = f"{v.file}:{v.line}" if v.line else f"{v.file} (absent)"
            value = in_file_syntax(v.value, v.file) if v.literal else f"{v.value} (expression)"
            rows.append([name, value, where, k.honoured])
    shown_rows = [row if wide else [row[0], row[1], row[3]] for row in rows]
    for row in shown_rows:
        cells = [Text(c) for c in row]
        cells[-1].stylize(_HONOURED_STYLE.get(row[-1], ""))
        table.add_row(*cells)
    layout.print_table(out, table, shown_rows, wide=wide)
    if not wide:
        layout.prose(out, _("(where each value is written, file:line: --wide)"), style="dim")
    out.print(Text(_("what takes effect"), style="bold"))
    for k in report.knobs:
        layout.prose(
            out,
            Text.assemble(f"{k.name}: ", (k.honoured, _HONOURED_STYLE.get(k.honoured, "")), f" - {k.effect}"),
            indent="  ",
        )
        for v in k.values:
            if v.note:
                layout.prose(out, f"{v.path}: {v.note}", indent="    ", style="dim")
    if report.ollama:
        out.print(Text(_("entries that point at Ollama"), style="bold"))
        files = dict(report.files)
        for e in report.ollama:
            layout.prose(
                out,
                f"{e.name}: {e.url}  ({files.get(e.role, e.role)}:{e.line})  "
                + _("models: {models}").format(models=", ".join(e.models) or "-"),
                indent="  ",
            )
    else:
        layout.prose(out, _("no entry points at Ollama"), style="yellow")
    for o in report.overrides:
        layout.prose(
            out,
            Text.assemble(
                (_("environment overrides") + " ", "yellow"), f"{o.role}.{o.field}: {o.var}={o.value}"
            ),
        )
    for line in report.advice:
        layout.prose(out, Text.assemble((_("advice") + " ", "bold"), line))


def diff_text(plan: Plan) -> str:
    chunks: list[str] = []
    for f in plan.changed_files:
        before = f.before.decode("utf-8-sig").splitlines(keepends=True)
        after = f.after.decode("utf-8-sig").splitlines(keepends=True)
        try:
            name = f.file.path.relative_to(plan.root).as_posix()
        except ValueError:  # outside the root (the code patch): the full path
            name = f.file.path.as_posix().lstrip("/")
        chunks.extend(difflib.unified_diff(before, after, f"a/{name}", f"b/{name}"))
    return "".join(line if line.endswith("\n") else line + "\n" for line in chunks)


def plan(p: Plan) -> None:
    diff = diff_text(p)
    if diff:
        if out.is_terminal:
            for line in diff.splitlines():
                style = "green" if line.startswith("+") else "red" if line.startswith("-") else ""
                style = "bold" if line.startswith(("+++", "---")) else style
                out.print(Text(line, style=style))
        else:
            sys.stdout.write(diff)
            sys.stdout.flush()
    elif not p.service and not p.models:
        prose(out, _("nothing to change: the install already has these values"))
    for note in p.notes:
        prose(out, _("note: {note}").format(note=note), style="dim", hanging="      ")


def service(
    env: Mapping[str, str], *, all_systems: bool = False, models: Sequence[tuple[str, str, str]] = ()
) -> None:
    """The service commands (and derived models' Modelfiles) for the system this runs on (every system's
    with ``all_systems``)."""
    from tuner.service.artifact import artifacts, for_system
    from tuner.service.modelfile import modelfile_artifacts

    prose(
        out,
        Text.assemble(
            (_("Ollama service settings"), "bold"), " " + _("(not in Chatchat's files; apply them yourself):")
        ),
    )
    every = (*artifacts(env), *modelfile_artifacts(models))
    shown = every if all_systems else for_system(every, sys.platform)
    for art in shown:
        prose(out, f"# --- {art.title}: {art.filename}", hanging="#     ")
        sys.stdout.write(art.text.replace("\r\n", "\n"))
        sys.stdout.flush()
    if len(shown) < len(every):
        prose(out, _("(other systems: --all-systems shows them; --service-out DIR writes them all)"))


def written(paths: Sequence[Path]) -> None:
    for path in paths:
        prose(out, _("wrote {file}").format(file=path))


def service_settings(p: Plan, artifacts: Sequence[Path], *, all_systems: bool = False) -> None:
    """Ollama's service settings, if the plan has any: the artifacts written, else the settings shown."""
    if not p.service and not p.models:
        return
    if artifacts:
        written(artifacts)
    else:
        service(dict(p.service), all_systems=all_systems, models=p.models)


def apply_preview(o: ApplyOutcome, *, all_systems: bool = False) -> None:
    """What an apply is about to do (the install not yet written): the diff and the service settings."""
    plan(o.plan)
    service_settings(o.plan, o.service_written, all_systems=all_systems)


def applied(p: Plan, backup: Path | None) -> None:
    """Where the files went and how to undo it; nothing when nothing was written (``backup`` None)."""
    if backup is None:
        return
    names = ", ".join(str(f.file.path) for f in p.changed_files)
    prose(out, _("applied: {files}").format(files=names))
    prose(
        out,
        _("backup: {backup} (undo with: {command})").format(
            backup=backup, command=command("rollback", "--root", p.root)
        ),
    )


def rolled_back(r: Restored) -> None:
    restored = _("would restore {file}") if r.dry_run else _("restored {file}")
    for path in r.restored:
        prose(out, restored.format(file=path))
    for path in r.unchanged:
        prose(out, _("unchanged {file} (already as before)").format(file=path))
    prose(out, _("from backup {backup}").format(backup=r.backup.folder))


# --- bench ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def progress(total: int, label: str) -> Iterator[Callable[[], None]]:
    """A progress bar with the time left on stderr when it is a terminal (even for a few requests); a no-op
    otherwise (a pipe, a log file)."""
    if not err.is_terminal:
        yield lambda: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda: bar.advance(task)


def _ms(value: float) -> str:
    return f"{value * 1000:.2f}"


def summary_table(s: Summary, title: str) -> Table:
    from tuner.cli.layout import table as new_table

    table = new_table(
        "phase (ms)",
        "n",
        "p50",
        "p90",
        "p95",
        "p99",
        "max",
        title=title,
        right=("n", "p50", "p90", "p95", "p99", "max"),
    )
    for p in s.phases:
        table.add_row(p.phase, str(p.n), _ms(p.p50), _ms(p.p90), _ms(p.p95), _ms(p.p99), _ms(p.max))
    return table


def bench(result: RunResult, *, as_json: bool) -> None:
    from tuner.measure.stats import summarize

    if as_json:
        from tuner.measure.benchjson import bench_json

        print_json(bench_json(result))
        return
    s = summarize(result)
    from tuner.cli.layout import prose

    w = result.workload
    prose(
        out,
        f"{w.path} {result.url}  model {w.model}  {s.requests} requests, concurrency {w.concurrency}, "
        f"{'streaming' if w.stream else 'not streaming'}",
    )
    out.print(summary_table(s, "latency"))
    errors = ", ".join(f"{k} {v}" for k, v in s.errors.items()) or "none"
    prose(
        out,
        _(
            "ok {ok}/{requests}   errors: {errors}   new connections: {connections}   {rate} req/s   "
            "wall {wall} s   client CPU {cpu} s"
        ).format(
            ok=s.ok,
            requests=s.requests,
            errors=errors,
            connections=s.new_connections,
            rate=f"{s.throughput:.2f}",
            wall=f"{s.wall:.2f}",
            cpu=f"{s.cpu:.2f}",
        ),
    )
    if result.interrupted:
        out.print(Text("interrupted: the figures cover the requests that finished", style="yellow"))
    cap = w.max_tokens
    if cap is not None and any(x.tokens is not None and x.tokens > cap for x in result.samples):
        out.print(
            Text(
                f"warning: the server returned more than max_tokens={cap} tokens (it ignores the cap)",
                style="yellow",
            )
        )


def compare(runs: list[tuple[str, dict[str, Any], Summary]]) -> None:
    from tuner.cli import layout

    names = [name for name, _header, _summary in runs]
    table = layout.table("phase", *names, title="p50 / p95 (ms)", right=names)
    rows: list[list[str]] = []
    phases = list(dict.fromkeys(p.phase for _name, _header, s in runs for p in s.phases))
    for phase in phases:
        cells = []
        for _name, _header, s in runs:
            p = s.phase(phase)
            cells.append(f"{_ms(p.p50)} / {_ms(p.p95)}" if p else "-")
        rows.append([phase, *cells])
    rows.append(["ok / requests", *[f"{s.ok}/{s.requests}" for _name, _header, s in runs]])
    rows.append(["new connections", *[str(s.new_connections) for _name, _header, s in runs]])
    rows.append(
        ["errors", *[", ".join(f"{k} {v}" for k, v in s.errors.items()) or "-" for _name, _header, s in runs]]
    )
    for row in rows:
        table.add_row(*row)
    layout.print_table(
        out, table, [[r[0], *(f"{n}: {c}" for n, c in zip(names, r[1:], strict=True))] for r in rows]
    )
