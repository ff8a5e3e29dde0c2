"""Opting in to the code patch: the patched package files and the new settings keys, as plan inputs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tuner.errors import UserError
from tuner.i18n import _
from tuner.install.files import LoadedInstall
from tuner.knobs.catalogue import BY_NAME
from tuner.plan.settings import Setting

# knob → default written when the key is absent, so the diff documents every key the patch reads
_DEFAULTS = {"keepalive_expiry": "api_keepalive_expiry", "max_retries": "api_max_retries"}


def code_patch_inputs(
    loaded: LoadedInstall, python: Path | None, settings: Sequence[Setting]
) -> tuple[list[tuple[Path, bytes, bytes]], list[Setting]]:
    """(file, before, after) for the package, and the settings to add for keys the patch reads."""
    from tuner.codepatch import NEW_PLATFORM_KEYS, code_state, plan_patch

    if not loaded.layout.code_patch_possible:
        raise UserError(
            _("the code patch is for Chatchat 0.3.1+; this is {label}").format(label=loaded.layout.label)
        )
    if python is None:
        raise UserError(_("--patch-code needs --python: the interpreter of Chatchat's environment"))
    state = loaded.code if loaded.code is not None else code_state(python)
    if state.package is None or state.state in ("unknown-shape", "unavailable"):
        raise UserError(state.summary)  # one line: no package, or a shape the patch does not know
    defaults = {key: value for key, value, _ in NEW_PLATFORM_KEYS}
    asked = {(s.knob, s.entry) for s in settings}
    extra = []
    for knob_name, key in _DEFAULTS.items():
        for target in BY_NAME[knob_name].targets(loaded):
            if (
                target.default
                and target.found is None
                and (knob_name, target.entry) not in asked
                and (knob_name, None) not in asked
            ):
                extra.append(Setting(knob_name, target.entry, defaults[key]))
    return plan_patch(state.package), extra
