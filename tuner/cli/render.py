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


def inspect(report: InspectReport, *, as_json: bool) -> None:
    if as_json:
        print_json(report)
        return
    out.print(Text.assemble((report.label, "bold"), f" at {report.root}"))
    if not report.configured:
        out.print(Text("not configured yet: only *.py.example files are present", style="yellow"))
    out.print(Text("files: " + ", ".join(rel for _, rel in report.files)))
    if report.code_patch:
        out.print(Text(f"chatchat package: {report.code_patch}"))
    table = Table(title="knobs", title_justify="left", box=None, pad_edge=False)
    for col in ("knob", "value", "where", "effect"):
        table.add_column(col, overflow="fold")
    for k in report.knobs:
        verdict = Text(k.honoured, style=_HONOURED_STYLE.get(k.honoured, ""))
        if k.service_var:
            shown = f"{k.service_var}={k.shell_value} (this shell)" if k.shell_value else "-"
            table.add_row(k.name, shown, "Ollama service", verdict)
            continue
        if not k.values:
            table.add_row(k.name, "-", "not in this install", verdict)
            continue
        for v in k.values:
            name = f"{k.name}[{v.entry}]" if v.entry else k.name
            where = f"{v.file}:{v.line}" if v.line else f"{v.file} (absent)"
            value = in_file_syntax(v.value, v.file) if v.literal else f"{v.value} (expression)"
            table.add_row(Text(name), Text(value), Text(where), verdict)
    out.print(table)
    out.print(Text("what takes effect", style="bold"))
    for k in report.knobs:
        out.print(
            Text.assemble(
                f"  {k.name}: ", (k.honoured, _HONOURED_STYLE.get(k.honoured, "")), f" - {k.effect}"
            )
        )
        for v in k.values:
            if v.note:
                out.print(Text(f"    {v.path}: {v.note}", style="dim"))
    if report.ollama:
        out.print(Text("entries that point at Ollama", style="bold"))
        files = dict(report.files)
        for e in report.ollama:
            out.print(
                Text(
                    f"  {e.name}: {e.url}  ({files.get(e.role, e.role)}:{e.line})  "
                    f"models: {', '.join(e.models) or '-'}"
                )
            )
    else:
        out.print(Text("no entry points at Ollama", style="yellow"))
    for o in report.overrides:
        out.print(
            Text.assemble(("environment overrides ", "yellow"), f"{o.role}.{o.field}: {o.var}={o.value}")
        )
    for line in report.advice:
        out.print(Text.assemble(("advice ", "bold"), line))


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
        out.print("nothing to change: the install already has these values")
    for note in p.notes:
        out.print(Text(f"note: {note}", style="dim"))


def service(
    env: Mapping[str, str], *, all_systems: bool = False, models: Sequence[tuple[str, str, str]] = ()
) -> None:
    """The service commands (and derived models' Modelfiles) for the system this runs on (every system's
    with ``all_systems``)."""
    from tuner.service.artifact import artifacts, for_system
    from tuner.service.modelfile import modelfile_artifacts

    out.print("[bold]Ollama service settings[/bold] (not in Chatchat's files; apply them yourself):")
    every = (*artifacts(env), *modelfile_artifacts(models))
    shown = every if all_systems else for_system(every, sys.platform)
    for art in shown:
        out.print(f"# --- {art.title}: {art.filename}")
        sys.stdout.write(art.text.replace("\r\n", "\n"))
        sys.stdout.flush()
    if len(shown) < len(every):
        out.print("(other systems: --all-systems shows them; --service-out DIR writes them all)")


def written(paths: Sequence[Path]) -> None:
    for path in paths:
        out.print(f"wrote {path}")


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
    out.print(f"applied: {names}")
    out.print(Text(f"backup: {backup} (undo with: {command('rollback', '--root', p.root)})"))


def rolled_back(r: Restored) -> None:
    verb = "would restore" if r.dry_run else "restored"
    for path in r.restored:
        out.print(f"{verb} {path}")
    for path in r.unchanged:
        out.print(f"unchanged {path} (already as before)")
    out.print(f"from backup {r.backup.folder}")


# --- bench ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def progress(total: int, label: str) -> Iterator[Callable[[], None]]:
    """A progress bar on stderr when it is a terminal; a no-op otherwise."""
    if not err.is_terminal or total < 10:
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
    table = Table(title=title, title_justify="left", box=None, pad_edge=False)
    table.add_column("phase (ms)")
    for col in ("n", "p50", "p90", "p95", "p99", "max"):
        table.add_column(col, justify="right")
    for p in s.phases:
        table.add_row(p.phase, str(p.n), _ms(p.p50), _ms(p.p90), _ms(p.p95), _ms(p.p99), _ms(p.max))
    return table


def bench(result: RunResult, *, as_json: bool) -> None:
    from tuner.measure.stats import summarize

    s = summarize(result)
    if as_json:
        from tuner.measure.files import to_json

        sys.stdout.write(to_json(result))
        return
    w = result.workload
    out.print(
        Text(
            f"{w.path} {result.url}  model {w.model}  {s.requests} requests, concurrency {w.concurrency}, "
            f"{'streaming' if w.stream else 'not streaming'}"
        )
    )
    out.print(summary_table(s, "latency"))
    errors = ", ".join(f"{k} {v}" for k, v in s.errors.items()) or "none"
    out.print(
        Text(
            f"ok {s.ok}/{s.requests}   errors: {errors}   new connections: {s.new_connections}   "
            f"{s.throughput:.2f} req/s   wall {s.wall:.2f} s   client CPU {s.cpu:.2f} s"
        )
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
    table = Table(title="p50 / p95 (ms)", title_justify="left", box=None, pad_edge=False)
    table.add_column("phase")
    for name, _, _ in runs:
        table.add_column(name, justify="right")
    phases = list(dict.fromkeys(p.phase for _, _, s in runs for p in s.phases))
    for phase in phases:
        cells = []
        for _, _, s in runs:
            p = s.phase(phase)
            cells.append(f"{_ms(p.p50)} / {_ms(p.p95)}" if p else "-")
        table.add_row(phase, *cells)
    table.add_row("ok / requests", *[f"{s.ok}/{s.requests}" for _, _, s in runs])
    table.add_row("new connections", *[str(s.new_connections) for _, _, s in runs])
    table.add_row("errors", *[", ".join(f"{k} {v}" for k, v in s.errors.items()) or "-" for _, _, s in runs])
    out.print(table)
