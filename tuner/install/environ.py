"""Environment variables that override an install's files (0.3.1+ reads them through pydantic-settings)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tuner.install.files import LoadedInstall


@dataclass(frozen=True)
class EnvOverride:
    var: str  # as spelled in the environment
    value: str
    role: str  # settings file whose field it overrides
    field: str  # field name as in the file


def env_overrides(loaded: LoadedInstall, environ: Mapping[str, str] | None = None) -> list[EnvOverride]:
    """Fields of 0.3.1's YAML files that an environment variable of the same name (any case) overrides."""
    if not loaded.layout.env_overrides:
        return []
    env = loaded.environ if environ is None else environ
    by_upper = {k.upper(): k for k in env}
    out = []
    for role, file in loaded.files.items():
        if file.doc is None:
            continue
        for field in file.doc.data:
            if not isinstance(field, str):  # `1: x` or `null: y` at the top level: no variable names it
                continue
            var = by_upper.get(field.upper())
            if var is not None:
                out.append(EnvOverride(var, env[var], role, field))
    return out


def as_number(value: object) -> float | None:
    """A settings value as a float: numbers and numeric strings (environment values are strings)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return float(value)
        except OverflowError:  # an int beyond float range (files refuse them; the environment may not)
            return None
    if isinstance(value, str):
        try:
            return float(value)
        except (ValueError, OverflowError):
            return None
    return None


def effective_number(loaded: LoadedInstall, role: str, field: str) -> tuple[float | None, str]:
    """A numeric top-level setting as Chatchat sees it (the environment wins) and where it came from."""
    for o in env_overrides(loaded):
        if o.role == role and o.field.upper() == field.upper():
            return as_number(o.value), f"environment {o.var}"
    file = loaded.files.get(role)
    name = file.file.path.name if file else role
    return as_number(loaded.data(role).get(field)), f"{name} {field}"
