"""Turn settings into a Plan: which file, which value, old → new, and the bytes each file would get."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tuner.edit.api import editor_for
from tuner.edit.paths import EditError, ValuePath, format_path
from tuner.edit.textio import encode
from tuner.errors import UserError
from tuner.i18n import _
from tuner.install.detect import SettingsFile
from tuner.install.environ import env_overrides
from tuner.install.files import LoadedInstall
from tuner.knobs.catalogue import Target
from tuner.plan.settings import Setting, knob_named


@dataclass(frozen=True)
class Edit:
    setting: Setting
    target: Target

    @property
    def old(self) -> object:
        return self.target.found.value if self.target.found is not None else None

    @property
    def where(self) -> str:
        return format_path(self.target.path)


@dataclass(frozen=True)
class FilePlan:
    file: SettingsFile
    before: bytes
    after: bytes
    edits: tuple[Edit, ...]

    @property
    def changed(self) -> bool:
        return self.before != self.after


@dataclass(frozen=True)
class Plan:
    root: Path
    generation: str
    settings: tuple[Setting, ...]
    files: tuple[FilePlan, ...]
    service: tuple[tuple[str, str], ...]  # Ollama service variables: (OLLAMA_KEEP_ALIVE, "30m")
    notes: tuple[str, ...]
    python: Path | None = None  # Chatchat's interpreter, when the plan carries the code patch
    models: tuple[tuple[str, str, str], ...] = ()  # derived models: (model, PARAMETER, value), a Modelfile

    @property
    def changed_files(self) -> tuple[FilePlan, ...]:
        return tuple(f for f in self.files if f.changed)


def select_targets(loaded: LoadedInstall, setting: Setting) -> list[Target]:
    """The places one setting writes to, honouring ``[entry]``; a clear error when it is ambiguous."""
    knob = knob_named(setting.knob)
    targets = knob.targets(loaded)
    if not targets:
        layout = loaded.layout
        why = f" ({layout.timeout_missing})" if knob.name == "api_timeout" and layout.timeout_missing else ""
        raise UserError(
            _("{name}: no such setting in {label}{why} at {root}").format(
                name=knob.name, label=layout.label, why=why, root=loaded.install.root
            )
        )
    if not knob.per_entry:
        return targets
    names = sorted({t.entry for t in targets if t.entry})
    if setting.entry is not None:
        picked = [t for t in targets if t.entry == setting.entry]
        if not picked:
            raise UserError(
                _("{name}[{entry}]: no such entry; entries: {names}").format(
                    name=knob.name, entry=setting.entry, names=", ".join(names)
                )
            )
        return picked
    picked = [t for t in targets if t.default]
    if not picked:
        raise UserError(
            _("{name}: say which entry with {name}[NAME]=VALUE; entries: {names}").format(
                name=knob.name, names=", ".join(names)
            )
        )
    if knob.name in ("ollama_url",) and len(picked) > 1:
        choices = ", ".join(str(t.entry) for t in picked)
        raise UserError(
            _("{name}: several Ollama entries ({choices}); pick one with {name}[NAME]=VALUE").format(
                name=knob.name, choices=choices
            )
        )
    return picked


def build_plan(
    loaded: LoadedInstall,
    settings: Sequence[Setting],
    *,
    replace: bool = False,
    code: Sequence[tuple[Path, bytes, bytes]] = (),
    python: Path | None = None,
) -> Plan:
    """``code``: (file, before, after) of the Chatchat code patch (codepatch.plan_patch), if opted in."""
    if not loaded.install.configured:
        raise UserError(
            _(
                "not configured yet: only *.py.example files (copy them to *.py first, as "
                "Chatchat's docs say)"
            ),
            loaded.install.root / "configs",
        )
    if not loaded.layout.editable:
        raise UserError(
            loaded.layout.not_editable_why or _("this layout is not edited"), loaded.install.files[0].path
        )
    patched = loaded.patched or bool(code)
    overridden = {(o.role, o.field): o for o in env_overrides(loaded)}
    service: dict[str, str] = {}
    models: dict[tuple[str, str], str] = {}
    by_role: dict[str, list[Edit]] = {}
    notes: list[str] = []
    for setting in settings:
        knob = knob_named(setting.knob)
        if knob.service_var is not None:
            service[knob.service_var] = str(setting.value)
            continue
        if knob.model_parameter is not None:
            models[(_model_of(loaded, setting), knob.model_parameter)] = str(setting.value)
            continue
        for target in select_targets(loaded, setting):
            by_role.setdefault(target.role, []).append(Edit(setting, target))
            if target.note:
                notes.append(f"{format_path(target.path)}: {target.note}")
            env = overridden.get((target.role, str(target.path[0])))
            if env is not None:
                notes.append(
                    _(
                        "{path}: the environment sets {variable}={value}, which overrides the file: the new "
                        "value takes effect only once that variable is unset"
                    ).format(path=format_path(target.path), variable=env.var, value=env.value)
                )
        effect = knob.effect(loaded)
        if effect.honoured in ("no", "partly", "patch") and not (patched and knob.name in PATCH_HONOURS):
            notes.append(f"{knob.name}: {effect.words}")
    files = [_edit_file(loaded, role, edits, replace) for role, edits in by_role.items()]
    files += [
        FilePlan(SettingsFile("chatchat-code", path, "python"), before, after, ())
        for path, before, after in code
    ]
    return Plan(
        loaded.install.root,
        loaded.layout.generation,
        tuple(settings),
        tuple(files),
        tuple(sorted(service.items())),
        tuple(dict.fromkeys(notes)),
        python if code else None,
        tuple((m, p, v) for (m, p), v in sorted(models.items())),
    )


def _model_of(loaded: LoadedInstall, setting: Setting) -> str:
    """The model a derived-model setting is for: ``[MODEL]``, else the install's Ollama chat model."""
    from tuner.install.endpoints import endpoints

    model = setting.entry or endpoints(loaded).model
    if not model:
        raise UserError(
            _("{knob}: no Ollama model in this install; name one: {knob}[MODEL]=VALUE").format(
                knob=setting.knob
            )
        )
    return model


# Knobs the code patch makes Chatchat honour (their "as shipped" notes no longer apply once it is in).
PATCH_HONOURS = frozenset({"api_timeout", "api_concurrencies", "keepalive_expiry", "max_retries"})


def _edit_file(loaded: LoadedInstall, role: str, edits: list[Edit], replace: bool) -> FilePlan:
    loaded_file = loaded.files[role]
    for e in edits:
        if e.target.found is not None and e.target.found.problem:
            where, problem = format_path(e.target.path), e.target.found.problem
            message = problem if len(e.target.path) == 1 else f"{where}: {problem}"  # it names the name
            raise UserError(message, loaded_file.file.path)
    changes: dict[ValuePath, object] = {e.target.path: e.setting.value for e in edits}
    nonliteral = [e.target.path for e in edits if e.target.found is not None and not e.target.found.literal]
    if nonliteral and not replace:
        found = next(e.target.found for e in edits if e.target.path == nonliteral[0])
        raise UserError(
            _("{path} is an expression ({source}), not a literal; pass --replace to overwrite it").format(
                path=format_path(nonliteral[0]), source=found.value if found else ""
            ),
            loaded_file.file.path,
        )
    comments = {
        e.target.path: comment
        for e in edits
        if e.target.found is None and (comment := knob_named(e.setting.knob).create_comment)
    }
    try:
        text = editor_for(loaded_file.file.kind).set_values(
            loaded_file.text,
            changes,
            replace_nonliteral=nonliteral if replace else (),
            comments=comments,
            parsed=loaded_file.doc,  # parsed when the install was read: not parsed again
        )
    except EditError as exc:
        raise UserError(str(exc), loaded_file.file.path) from None
    except (RecursionError, MemoryError):  # a last resort: the editors refuse deep nesting before this
        raise UserError(_("nested too deeply to edit; refused"), loaded_file.file.path) from None
    return FilePlan(loaded_file.file, loaded_file.raw, encode(text, loaded_file.fmt), tuple(edits))
