"""What `inspect` says about an install, as plain data (rendered as tables or JSON by the CLI)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from tuner.edit.paths import format_path
from tuner.errors import UserError
from tuner.i18n import _
from tuner.install.entries import ollama_entries
from tuner.install.environ import EnvOverride, env_overrides
from tuner.install.files import LoadedInstall
from tuner.install.problems import entry_problems
from tuner.knobs.catalogue import KNOBS
from tuner.shell import set_command


@dataclass(frozen=True)
class KnobValue:
    entry: str | None
    file: str  # relative to the root
    line: int | None
    path: str
    value: object
    literal: bool
    note: str | None


@dataclass(frozen=True)
class KnobReport:
    name: str
    help: str
    honoured: str
    effect: str
    values: tuple[KnobValue, ...]
    service_var: str | None = None
    shell_value: str | None = (
        None  # the service variable as set in this shell (not necessarily the service's)
    )
    aliases: tuple[str, ...] = ()  # other names --set and plan files accept for this knob


@dataclass(frozen=True)
class EntryReport:
    """An entry that points at Ollama, as inspect shows it."""

    role: str
    name: str
    path: str
    url: str
    line: int
    models: tuple[str, ...]


@dataclass(frozen=True)
class InspectReport:
    root: Path
    generation: str
    label: str
    configured: bool
    files: tuple[tuple[str, str], ...]  # (role, relative path)
    knobs: tuple[KnobReport, ...]
    ollama: tuple[EntryReport, ...]
    overrides: tuple[EnvOverride, ...]
    advice: tuple[str, ...] = field(default=())
    code_patch: str | None = None  # the installed package's code-patch state, when --python was given


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def inspect_install(loaded: LoadedInstall) -> InspectReport:
    inst = loaded.install
    knobs = []
    for knob in KNOBS:
        try:
            targets = knob.targets(loaded)
        except UserError:
            targets = []
        vals = tuple(
            KnobValue(
                t.entry,
                _rel(loaded.files[t.role].file.path, inst.root),
                t.found.line if t.found else None,
                format_path(t.path),
                t.found.value if t.found else None,
                t.found.literal if t.found else True,
                "; ".join(n for n in (t.note, t.found.problem if t.found else None) if n) or None,
            )
            for t in targets
        )
        effect = knob.effect(loaded)
        shell = loaded.environ.get(knob.service_var) if knob.service_var else None
        knobs.append(
            KnobReport(
                knob.name,
                knob.help,
                effect.honoured,
                effect.words,
                vals,
                knob.service_var,
                shell,
                aliases=knob.aliases,
            )
        )
    entries = tuple(
        EntryReport(e.role, e.name, format_path(e.path), e.url, e.line, e.models)
        for e in ollama_entries(loaded)
    )
    advice = [_("problem: {problem}").format(problem=p) for p in entry_problems(loaded)]
    for e in entries:
        try:
            host = urlsplit(e.url).hostname if e.url else None
        except ValueError:  # "http://[::1/v1": not a URL at all (named by entry_problems)
            continue
        if host == "localhost":
            advice.append(
                _(
                    "{entry}: api_base_url uses 'localhost'; on Windows each new connection tries ::1 "
                    "first (~2 s): {command}"
                ).format(
                    entry=e.name,
                    command=set_command(f"ollama_url[{e.name}]={e.url.replace('localhost', '127.0.0.1', 1)}"),
                )
            )
    layout = loaded.layout
    if not layout.editable and layout.not_editable_why:
        advice.append(layout.not_editable_why)
    if layout.timeout is None and layout.timeout_missing:
        advice.append(
            _("API timeout: {why}; there is no setting to change").format(why=layout.timeout_missing)
        )
    if layout.entries is not None and layout.entries.sends_key_as_model:
        advice.append(
            _(
                "{version} sends the entry's name as the model name: to use Ollama, name the entry (and "
                "{setting}) after the Ollama model tag"
            ).format(
                version=layout.label,
                setting=layout.default_model.key if layout.default_model else _("the model setting"),
            )
        )
    if not inst.configured:
        advice.append(
            _(
                "not configured yet: only configs/*.py.example exist; copy each to configs/*.py "
                "(Chatchat's own set-up step), then run inspect again"
            )
        )
    return InspectReport(
        inst.root,
        layout.generation,
        layout.label,
        inst.configured,
        tuple((f.role, _rel(f.path, inst.root)) for f in inst.files),
        tuple(knobs),
        entries,
        tuple(env_overrides(loaded)),
        tuple(advice),
        loaded.code.summary if loaded.code is not None else None,
    )
