"""Turn core results into terminal output (rich) or JSON. No decisions are made here."""

from __future__ import annotations

import dataclasses
import difflib
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from tuner.apply.rollback import Restored
from tuner.install.report import InspectReport
from tuner.plan.build import Plan

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if obj is None or isinstance(obj, str | int | float | bool):
        return obj
    return str(obj)


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(_jsonable(obj), indent=2, ensure_ascii=False) + "\n")


_HONOURED_STYLE = {"yes": "green", "partly": "yellow", "no": "red", "service": "cyan"}


def inspect(report: InspectReport, *, as_json: bool) -> None:
    if as_json:
        print_json(report)
        return
    out.print(Text.assemble((report.label, "bold"), f" at {report.root}"))
    if not report.configured:
        out.print(Text("not configured yet: only *.py.example files are present", style="yellow"))
    out.print(Text("files: " + ", ".join(rel for _, rel in report.files)))
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
            value = repr(v.value) if v.literal else f"{v.value} (expression)"
            table.add_row(Text(name), Text(value), Text(where), verdict)
    out.print(table)
    out.print(Text("what takes effect", style="bold"))
    for k in report.knobs:
        out.print(Text.assemble(f"  {k.name}: ", (k.honoured, _HONOURED_STYLE.get(k.honoured, "")),
                                f" - {k.effect}"))
        for v in k.values:
            if v.note:
                out.print(Text(f"    {v.path}: {v.note}", style="dim"))
    if report.ollama:
        out.print(Text("entries that point at Ollama", style="bold"))
        files = dict(report.files)
        for e in report.ollama:
            out.print(Text(f"  {e.name}: {e.url}  ({files.get(e.role, e.role)}:{e.line})  models: {', '.join(e.models) or '-'}"))
    else:
        out.print(Text("no entry points at Ollama", style="yellow"))
    for o in report.overrides:
        out.print(Text.assemble(("environment overrides ", "yellow"), f"{o.role}.{o.field}: {o.var}={o.value}"))
    for line in report.advice:
        out.print(Text.assemble(("advice ", "bold"), line))


def diff_text(plan: Plan) -> str:
    chunks = []
    for f in plan.changed_files:
        before = f.before.decode("utf-8-sig").splitlines(keepends=True)
        after = f.after.decode("utf-8-sig").splitlines(keepends=True)
        name = str(f.file.path)
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
    elif not p.service:
        out.print("nothing to change: the install already has these values")
    for note in p.notes:
        out.print(Text(f"note: {note}", style="dim"))


def service(env: Mapping[str, str]) -> None:
    from tuner.service.artifact import artifacts

    out.print("[bold]Ollama service settings[/bold] (not in Chatchat's files; apply them yourself):")
    for art in artifacts(env):
        out.print(f"# --- {art.title}: {art.filename}")
        sys.stdout.write(art.text.replace("\r\n", "\n"))
        sys.stdout.flush()


def written(paths: list[Path]) -> None:
    for path in paths:
        out.print(f"wrote {path}")


def applied(p: Plan, backup: Path) -> None:
    names = ", ".join(str(f.file.path) for f in p.changed_files)
    out.print(f"applied: {names}")
    out.print(f"backup: {backup} (undo with: chatchat-tune rollback --root {p.root})")


def rolled_back(r: Restored, *, dry_run: bool) -> None:
    verb = "would restore" if dry_run else "restored"
    for path in r.restored:
        out.print(f"{verb} {path}")
    for path in r.unchanged:
        out.print(f"unchanged {path} (already as before)")
    out.print(f"from backup {r.backup.folder}")
