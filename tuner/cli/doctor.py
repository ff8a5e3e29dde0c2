"""`chatchat-tune doctor`: a short bounded probe of the install's endpoints, then causes ranked by cost."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tuner.cli.options import JsonOpt, RootOpt, duration_option
from tuner.errors import UserError
from tuner.i18n import _


def doctor(
    root: RootOpt = None,
    as_json: JsonOpt = False,
    budget: Annotated[
        float,
        typer.Option(help=_("Seconds the probes may take in all (each request is bounded by what is left).")),
    ] = 8.0,
    idle_gap: Annotated[
        str | None,
        typer.Option(
            help=_("Typical idle time between your requests, e.g. 10m or 600 (checked against keep_alive).")
        ),
    ] = None,
    python: Annotated[
        Path | None,
        typer.Option(
            help=_(
                "Chatchat's own Python (its venv), to check what is installed there (the xinference client) "
                "and to probe the network from it; with --exec, the interpreter on the other side "
                "(default python3)."
            )
        ),
    ] = None,
    exec_prefix: Annotated[
        str | None,
        typer.Option(
            "--exec",
            metavar="PREFIX",
            help=_(
                "Run the network probe where Chatchat runs, through this command prefix, e.g. "
                "'docker exec CONTAINER' or 'wsl -d DISTRO --'."
            ),
        ),
    ] = None,
    kb: Annotated[
        str | None, typer.Option(help=_("Knowledge base to probe (default: the install's default KB)."))
    ] = None,
    allow_write: Annotated[
        bool,
        typer.Option(
            help=_(
                "Measure a real upload into a temporary knowledge base (created, then deleted); "
                "never the user's own."
            )
        ),
    ] = False,
    ingest_bytes: Annotated[
        int | None,
        typer.Option(help=_("Document size to check uploads with (default: the KB's largest document).")),
    ] = None,
) -> int:
    """Measured causes of latency, worst first, each with its evidence and fix.

    Exit 0 when nothing is above info, 3 when a finding is at warn or error, 1 when doctor itself failed."""
    from tuner.cli import FINDINGS, OK, render_doctor
    from tuner.doctor.run import diagnose
    from tuner.install.loading import open_install

    if not 0 < budget <= 120:
        raise UserError(_("--budget must be more than 0 and at most 120 seconds"))
    gap = duration_option(idle_gap, "--idle-gap", allow_zero=True) if idle_gap is not None else None
    if ingest_bytes is not None and ingest_bytes < 1:
        raise UserError(_("--ingest-bytes must be a positive number of bytes"))
    if python is not None and exec_prefix is None and not python.exists():
        raise UserError(_("no such interpreter"), python)
    loaded = open_install(root)
    with render_doctor.status(_("probing for up to {budget:g} s").format(budget=budget)):
        report = diagnose(
            loaded, budget=budget, python=python, idle_gap=gap, exec_prefix=exec_prefix, kb=kb,
            allow_write=allow_write, ingest_bytes=ingest_bytes,
        )  # fmt: skip
    render_doctor.report(report, as_json=as_json)
    return OK if report.worst == "info" else FINDINGS
