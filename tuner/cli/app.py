"""The typer app and the one place commands are registered; the commands never import it.

Each command is a plain function in its own module (``tuner.cli.apply``, ``bench``, ...): it parses its
options, calls one core function and hands the result to ``tuner.cli.render*``. Those modules import only
typer and ``tuner.cli.options`` at the top, so building ``--help`` stays cheap; what a command needs
(optuna, libcst, ruamel, httpx, ...) is imported inside it.
"""

from __future__ import annotations

import typer

from tuner.cli import apply, bench, demo, doctor, inspect, search
from tuner.lab.cli import app as lab_app

app = typer.Typer(
    name="chatchat-tune",
    help="Measure, tune and safely patch a Langchain-Chatchat install that talks to Ollama.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(lab_app, name="lab", help="The bundled Ollama-compatible lab server.")

COMMANDS = (  # in the order `--help` lists them
    ("inspect", inspect.inspect),
    ("apply", apply.apply),
    ("rollback", apply.rollback),
    ("demo", demo.demo),
    ("bench", bench.bench),
    ("doctor", doctor.doctor),
    ("search", search.search),
    ("report", search.report),
    ("warm", search.warm),
)
for _name, _command in COMMANDS:
    app.command(name=_name)(_command)
