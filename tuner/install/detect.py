"""Which Chatchat install is at a folder, and which generation it is. Pure file-system look-ups."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tuner.errors import UserError

Generation = Literal["0.2", "0.3.0", "0.3.1"]
Kind = Literal["python", "yaml", "json"]

PY_ROLES = ("server_config", "model_config", "basic_config", "kb_config", "prompt_config")
YAML_ROLES = ("basic_settings", "model_settings", "kb_settings", "tool_settings", "prompt_settings")
WORKSPACE_JSON = "workspace_config.json"


@dataclass(frozen=True)
class SettingsFile:
    role: str  # "server_config", "basic_settings", ...
    path: Path  # absolute
    kind: Kind


@dataclass(frozen=True)
class Install:
    root: Path
    generation: Generation
    configured: bool  # False: a 0.2.x checkout with only *.py.example files
    files: tuple[SettingsFile, ...]

    def file(self, role: str) -> SettingsFile | None:
        return next((f for f in self.files if f.role == role), None)

    @property
    def label(self) -> str:
        return {
            "0.2": "Chatchat 0.2.x (configs/*.py)",
            "0.3.0": "Chatchat 0.3.0 (JSON workspace)",
            "0.3.1": "Chatchat 0.3.1+ (*_settings.yaml)",
        }[self.generation]


def find_root(root: Path | None, environ: Mapping[str, str] | None = None) -> Path:
    """``--root``, else ``CHATCHAT_ROOT``, else the working directory (as Chatchat 0.3.1 itself does)."""
    env = os.environ if environ is None else environ
    if root is not None:
        return root
    if env.get("CHATCHAT_ROOT"):
        return Path(env["CHATCHAT_ROOT"])
    return Path.cwd()


def detect(root: Path) -> Install:
    """Tell the generation from the files present. Raises UserError when nothing is recognised."""
    if not root.exists():
        raise UserError("no such folder", root)
    if not root.is_dir():
        raise UserError("not a folder (pass the Chatchat root with --root)", root)
    root = root.resolve()
    yaml_files = tuple(
        SettingsFile(role, root / f"{role}.yaml", "yaml")
        for role in YAML_ROLES
        if (root / f"{role}.yaml").is_file()
    )
    if any(f.role in ("basic_settings", "model_settings") for f in yaml_files):
        return Install(root, "0.3.1", True, yaml_files)
    configs = root / "configs"
    if configs.is_dir():
        live = tuple(
            SettingsFile(r, configs / f"{r}.py", "python")
            for r in PY_ROLES
            if (configs / f"{r}.py").is_file()
        )
        if live:
            return Install(root, "0.2", True, live)
        examples = tuple(
            SettingsFile(r, configs / f"{r}.py.example", "python")
            for r in PY_ROLES
            if (configs / f"{r}.py.example").is_file()
        )
        if examples:
            return Install(root, "0.2", False, examples)
    for candidate in (
        root / WORKSPACE_JSON,
        root / "workspace" / WORKSPACE_JSON,
        root / ".chatchat" / "workspace" / WORKSPACE_JSON,
    ):
        if candidate.is_file():
            return Install(root, "0.3.0", True, (SettingsFile("workspace_config", candidate, "json"),))
    raise UserError(
        "no Chatchat install here: expected *_settings.yaml (0.3.1+), configs/*.py (0.2.x) or "
        f"{WORKSPACE_JSON} (0.3.0); pass --root or set CHATCHAT_ROOT",
        root,
    )
