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
    if loaded.install.generation != "0.3.1":
        return []
    env = loaded.environ if environ is None else environ
    by_upper = {k.upper(): k for k in env}
    out = []
    for role, file in loaded.files.items():
        if file.doc is None:
            continue
        for field in file.doc.data:
            var = by_upper.get(field.upper())
            if var is not None:
                out.append(EnvOverride(var, env[var], role, field))
    return out
