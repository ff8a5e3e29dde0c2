"""Render a doctor report: findings worst first, with evidence and fixes; or JSON."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from rich.text import Text

from tuner.cli.render import err, out, print_json
from tuner.doctor.model import Finding, Report
from tuner.i18n import _
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
        return _("not measured")
    return f"{f.cost * 1000:.0f} ms" if f.cost < 10 else f"{f.cost:.1f} s"


def report(r: Report, *, as_json: bool) -> None:
    if as_json:
        from tuner.cli.json_doctor import doctor_json
        from tuner.cli.jsonmodels import SCHEMA_VERSION

        print_json(doctor_json(r, SCHEMA_VERSION))
        return
    from tuner.cli.layout import prose

    i, p = r.install, r.probe
    prose(
        out,
        Text.assemble(
            (i.label, "bold"),
            "  "
            + _("Ollama {url} ({entry})  model {model}  probed {elapsed} s of {budget} s").format(
                url=i.ollama_url or "-",
                entry=i.entry or _("no entry"),
                model=i.model or "-",
                elapsed=f"{p.elapsed:.1f}",
                budget=f"{p.budget:g}",
            )
            + (
                _(" (+ {elapsed} s along the KB/embedding path)").format(elapsed=f"{r.path.elapsed:.1f}")
                if r.path is not None
                else ""
            ),
        ),
    )
    if not r.findings:
        prose(out, _("no findings: nothing measured costs time here"), style="green")
    for n, f in enumerate(r.findings, 1):
        prose(
            out,
            Text.assemble(
                f"{n}. ",
                (f.severity.upper(), _STYLE[f.severity]),
                f"  {f.title}",
                ("  [" + _("{cost} per {per}").format(cost=_cost(f), per=f.per) + "]", "dim"),
            ),
            hanging="     ",
        )
        for line in f.evidence:
            prose(out, f"- {line}", indent="     ", hanging="       ")
        for fix in f.fixes:
            how = set_command(fix.setting) if fix.setting else ""
            prose(
                out,
                Text.assemble(_("fix:") + " ", fix.text, (f"  ({how})" if how else "", "green")),
                indent="     ",
                hanging="          ",
            )
    if p.skipped:
        prose(out, _("not probed: {probes}").format(probes="; ".join(p.skipped)), style="dim")
