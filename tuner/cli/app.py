"""The typer app and the one place commands are registered; the commands never import it.

Each command is a plain function in its own module (``tuner.cli.apply``, ``bench``, ...): it parses its
options, calls one core function and hands the result to ``tuner.cli.render*``. Those modules import only
typer and ``tuner.cli.options`` at the top, so building ``--help`` stays cheap; what a command needs
(optuna, libcst, ruamel, httpx, ...) is imported inside it.
"""

from __future__ import annotations

from typing import Annotated

import typer

from tuner.cli import apply, bench, demo, doctor, inspect, search, watch
from tuner.lab.cli import app as lab_app

app = typer.Typer(
    name="chatchat-tune",
    help="Measure, tune and safely patch a Langchain-Chatchat install that talks to Ollama.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["--help", "-h"]},  # inherited by every command and `lab`
)
app.add_typer(lab_app, name="lab", help="The bundled Ollama-compatible lab server.")


def version() -> str:
    """The installed distribution's version, else ``tuner.__version__`` (a source tree not installed)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("chatchat-tune")
    except PackageNotFoundError:
        import tuner

        return str(getattr(tuner, "__version__", "unknown"))


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"chatchat-tune {version()}")
        raise typer.Exit(0)


@app.callback()
def _root(
    _version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    pass


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
    ("watch", watch.watch),
)
for _name, _command in COMMANDS:
    app.command(name=_name)(_command)
