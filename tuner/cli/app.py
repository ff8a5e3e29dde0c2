"""The typer app and the one place commands are registered; the commands never import it.

Each command is a plain function in its own module (``tuner.cli.apply``, ``bench``, ...): it parses its
options, calls one core function and hands the result to ``tuner.cli.render*``. Those modules import only
typer and ``tuner.cli.options`` at the top, so building ``--help`` stays cheap; what a command needs
(optuna, libcst, ruamel, httpx, ...) is imported inside it. The commands are named in ``COMMANDS`` and
built only when one runs or shows its help (``tuner.cli.lazy``).
"""

from __future__ import annotations

from typing import Annotated

import typer

from tuner.cli.lazy import LazyTable, lazy_group
from tuner.helptext import HELP_OPTIONS, plain_metavars
from tuner.i18n import Lang, _

COMMANDS: LazyTable = {  # in the order `--help` lists them: name → ("module:function", group help)
    "inspect": ("tuner.cli.inspect:inspect", None),
    "apply": ("tuner.cli.apply:apply", None),
    "rollback": ("tuner.cli.apply:rollback", None),
    "demo": ("tuner.cli.demo:demo", None),
    "bench": ("tuner.cli.bench:bench", None),
    "doctor": ("tuner.cli.doctor:doctor", None),
    "search": ("tuner.cli.search:search", None),
    "report": ("tuner.cli.search:report", None),
    "warm": ("tuner.cli.search:warm", None),
    "watch": ("tuner.cli.watch:watch", None),
    "lab": ("tuner.lab.cli:app", _("The bundled Ollama-compatible lab server.")),
}

app = typer.Typer(
    name="chatchat-tune",
    help=_("Measure, tune and safely patch a Langchain-Chatchat install that talks to Ollama."),
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion (typer's; loaded only when asked)
    rich_markup_mode=None,  # plain click help: rich's formatter costs about half of `--help`
    pretty_exceptions_enable=False,
    # inherited by every command and `lab`; help as wide as the terminal up to 120 columns
    context_settings={"help_option_names": list(HELP_OPTIONS), "max_content_width": 120},
    cls=lazy_group(COMMANDS),
)


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
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help=_("Print the version and exit.")
        ),
    ] = False,
    _lang: Annotated[
        Lang | None, typer.Option("--lang", help=_("Language of messages (default: the locale)."))
    ] = None,
) -> None:
    pass


def command() -> typer.core.TyperGroup:
    """The click command the CLI runs: the typer app with plain metavars (``--url URL``, no type tags)."""
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    from tuner.i18n import language

    if language() != "en":  # typer's own words (tuner.cli.typer_words) through the tool's catalogs
        typer.core._ = _  # type: ignore[attr-defined]
    for param in group.params:
        if param.name == "_lang":  # read by tuner.cli._set_language before parsing; checked here cheaply
            param.process_value = _check_lang.__get__(param)  # type: ignore[method-assign]
    return plain_metavars(group)  # type: ignore[no-any-return]


def _check_lang(param: typer.core.TyperOption, ctx: object, value: object) -> object:
    """``--lang`` checked without typer's value coercion, which would load pydantic for every command."""
    if value is not None and value not in {lang.value for lang in Lang}:
        from typer._click.exceptions import BadParameter

        choices = ", ".join(repr(lang.value) for lang in Lang)
        raise BadParameter(_("{value!r} is not one of {choices}.").format(value=value, choices=choices))
    return value
