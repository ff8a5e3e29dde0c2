"""What `--help` shows beyond the options: an "Examples:" epilog per command, and metavars without type tags.

Click rewraps epilog paragraphs; a paragraph that starts with ``\\b`` is kept line by line, so each
example stays one line that can be pasted. Typer's metavars are type tags (``<str>``, ``<list[path]>``);
:func:`plain_metavars` names the value instead (``--url URL``) and keeps the choices (``[p95|multi]``).
"""

from __future__ import annotations

from typing import Any

from tuner.i18n import _

HELP_OPTIONS = ("--help", "-h")

EXAMPLES: dict[str, tuple[str, ...]] = {
    "inspect": (
        "chatchat-tune inspect --root ~/chatchat",
        "chatchat-tune inspect --json | jq '.knobs[].name'",
    ),
    "apply": (
        "chatchat-tune apply --set api_timeout=120 --dry-run",
        "chatchat-tune apply --plan .chatchat-tune/plan.json",
    ),
    "rollback": ("chatchat-tune rollback --dry-run", "chatchat-tune rollback"),
    "demo": ("chatchat-tune demo", "chatchat-tune demo --trials 10"),
    "bench": (
        "chatchat-tune bench -n 20 --path native",
        "chatchat-tune bench --url http://127.0.0.1:11434 --model qwen2:7b --json",
    ),
    "doctor": ("chatchat-tune doctor", "chatchat-tune doctor --idle-gap 10m --json"),
    "search": ("chatchat-tune search --trials 30 --idle-gap 10m", "chatchat-tune search --objective multi"),
    "report": ("chatchat-tune report -o report.html",),
    "warm": ("chatchat-tune warm --keep-alive 30m", "chatchat-tune warm --json"),
    "lab serve": (
        "chatchat-tune lab serve --profile cpu-7b",
        "OLLAMA_HOST=127.0.0.1:11500 chatchat-tune lab serve -v",
    ),
    "lab profiles": ("chatchat-tune lab profiles", "chatchat-tune lab profiles --json"),
}


def epilog(command: str) -> str:
    """The "Examples:" block for ``command`` (e.g. ``"bench"``, ``"lab serve"``)."""
    lines = "\n".join(f"  {line}" for line in EXAMPLES[command])
    return "\b\n" + _("Examples:") + "\n" + lines


def plain_metavars(command: Any) -> Any:
    """Give every option that takes a value a metavar without a type tag, in ``command`` and below it.

    Also: a flag whose default is ``None`` (typer's ``--install-completion``, ``--help``) gets ``False``, so
    typer does not load its value coercion (pydantic, tens of milliseconds) to read a flag nobody gave."""
    ctx = command.context_class(command, help_option_names=list(HELP_OPTIONS))
    help_option = command.get_help_option(ctx)  # built once and cached by the command
    if help_option is not None and help_option.default is None:
        help_option.default = False
    for param in getattr(command, "params", ()):
        if getattr(param, "is_flag", False) and param.default is None:
            param.default = False
        if getattr(param, "is_flag", False) or getattr(param, "metavar", "") is not None:
            continue
        if param.param_type_name != "option" or not param.name:
            continue
        choices = getattr(getattr(param, "type_descriptor", None), "choices", None)
        if choices:
            param.metavar = "[" + "|".join(str(getattr(c, "value", c)) for c in choices) + "]"
        else:
            param.metavar = param.name.upper().removesuffix("_").replace("_", "-")
    for sub in getattr(command, "commands", {}).values():
        plain_metavars(sub)
    return command
