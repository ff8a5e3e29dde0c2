"""Render a doctor report: findings worst first, with evidence and fixes; or JSON."""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Iterator
from typing import Any

from rich.text import Text

from tuner.cli.render import err, out, print_json
from tuner.doctor.model import Finding, Report
from tuner.shell import set_command

_STYLE = {"error": "bold red", "warn": "yellow", "info": "cyan"}


@contextlib.contextmanager
def status(label: str) -> Iterator[None]:
    """A spinner on stderr when it is a terminal."""
    if not err.is_terminal:
        yield
        return
    with err.status(label):
        yield


def _cost(f: Finding) -> str:
    if f.unbounded:
        return "unbounded"
    if f.cost is None:
        return "not measured"
    return f"{f.cost * 1000:.0f} ms" if f.cost < 10 else f"{f.cost:.1f} s"


def _clean(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    return obj


def to_dict(r: Report) -> dict[str, Any]:
    data: dict[str, Any] = _clean(
        {
            "worst": r.worst,
            "findings": [dataclasses.asdict(f) for f in r.findings],
            "install": dataclasses.asdict(r.install),
            "probe": dataclasses.asdict(r.probe),
            "proxy": dataclasses.asdict(r.proxy) if r.proxy else None,
            "idle_gap": r.idle_gap,
            "path": dataclasses.asdict(r.path) if r.path is not None else None,
        }
    )
    return data


def report(r: Report, *, as_json: bool) -> None:
    if as_json:
        print_json(to_dict(r))
        return
    i, p = r.install, r.probe
    out.print(
        Text.assemble(
            (i.label, "bold"),
            f"  Ollama {i.ollama_url or '-'} ({i.entry or 'no entry'})  "
            f"model {i.model or '-'}  probed {p.elapsed:.1f} s of {p.budget:g} s"
            + (f" (+ {r.path.elapsed:.1f} s along the KB/embedding path)" if r.path is not None else ""),
        )
    )
    if not r.findings:
        out.print(Text("no findings: nothing measured costs time here", style="green"))
    for n, f in enumerate(r.findings, 1):
        out.print(
            Text.assemble(
                f"{n}. ",
                (f.severity.upper(), _STYLE[f.severity]),
                f"  {f.title}",
                (f"  [{_cost(f)} per {f.per}]", "dim"),
            )
        )
        for line in f.evidence:
            out.print(Text(f"     - {line}"))
        for fix in f.fixes:
            how = set_command(fix.setting) if fix.setting else ""
            out.print(Text.assemble("     fix: ", fix.text, (f"  ({how})" if how else "", "green")))
    if p.skipped:
        out.print(Text("not probed: " + "; ".join(p.skipped), style="dim"))
