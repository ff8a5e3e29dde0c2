"""Which Chatchat install is at a folder, and which generation it is. Pure file-system look-ups."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tuner.errors import UserError
from tuner.i18n import _
from tuner.install.layout import Generation

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


def find_root(root: Path | None, environ: Mapping[str, str] | None = None) -> Path:
    """``--root``, else ``CHATCHAT_ROOT``, else the working directory (as Chatchat 0.3.1 itself does)."""
    env = os.environ if environ is None else environ
    if root is not None:
        return root
    if env.get("CHATCHAT_ROOT"):
        return Path(env["CHATCHAT_ROOT"])
    return Path.cwd()


_NOT_A_FILE = {
    stat.S_IFDIR: _("is a folder, not a settings file"),
    stat.S_IFIFO: _("is a named pipe (FIFO), not a settings file"),
    stat.S_IFSOCK: _("is a socket, not a settings file"),
    stat.S_IFCHR: _("is a character device, not a settings file"),
    stat.S_IFBLK: _("is a block device, not a settings file"),
}


def present(path: Path) -> bool:
    """True for a regular file (through links), False when nothing is there; a UserError naming the path
    when something unusable stands where a settings file should be (a folder, a FIFO, a dangling or
    looping link). Only ``lstat``/``stat``: a FIFO is never opened (opening one for reading blocks)."""
    try:
        os.lstat(path)
    except FileNotFoundError:
        return False
    except NotADirectoryError:
        return False
    except OSError as exc:
        raise UserError(_("cannot look at it ({error})").format(error=exc.strerror or exc), path) from None
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise UserError(
            _("is a link to a missing file ({path})").format(path=_link_target(path)), path
        ) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UserError(_("is a symbolic link loop, not a settings file"), path) from None
        raise UserError(_("cannot look at it ({error})").format(error=exc.strerror or exc), path) from None
    if stat.S_ISREG(info.st_mode):
        return True
    why = _NOT_A_FILE.get(stat.S_IFMT(info.st_mode), _("is not a regular file"))
    raise UserError(why, path)


def _link_target(path: Path) -> str:
    try:
        return repr(os.readlink(path))[1:-1]  # escaped: the message stays on one line
    except OSError:
        return _("unreadable link")


def detect(root: Path) -> Install:
    """Tell the generation from the files present. Raises UserError when nothing is recognised."""
    if not root.exists():
        raise UserError(_("no such folder"), root)
    if not root.is_dir():
        raise UserError(_("not a folder (pass the Chatchat root with --root)"), root)
    root = root.resolve()
    yaml_files = tuple(
        SettingsFile(role, root / f"{role}.yaml", "yaml")
        for role in YAML_ROLES
        if present(root / f"{role}.yaml")
    )
    if any(f.role in ("basic_settings", "model_settings") for f in yaml_files):
        return Install(root, "0.3.1", True, yaml_files)
    configs = root / "configs"
    if configs.is_dir():
        live = tuple(
            SettingsFile(r, configs / f"{r}.py", "python") for r in PY_ROLES if present(configs / f"{r}.py")
        )
        if live:
            return Install(root, "0.2", True, live)
        underscore = tuple(  # 0.3.0.20240606: configs/_*_config.py (in the package, or a user copy)
            SettingsFile(r, configs / f"_{r}.py", "python") for r in PY_ROLES if present(configs / f"_{r}.py")
        )
        if underscore:
            return Install(root, "0.3.0", True, underscore)
        examples = tuple(
            SettingsFile(r, configs / f"{r}.py.example", "python")
            for r in PY_ROLES
            if present(configs / f"{r}.py.example")
        )
        if examples:
            return Install(root, "0.2", False, examples)
    for candidate in (
        root / WORKSPACE_JSON,
        root / "workspace" / WORKSPACE_JSON,
        root / ".chatchat" / "workspace" / WORKSPACE_JSON,
    ):
        if present(candidate):
            return Install(root, "0.3.0", True, (SettingsFile("workspace_config", candidate, "json"),))
    raise UserError(
        _(
            "no Chatchat install here: expected *_settings.yaml (0.3.1+), configs/*.py "
            "(0.2.x) or {workspace_json} (0.3.0); pass --root or set CHATCHAT_ROOT"
        ).format(workspace_json=WORKSPACE_JSON),
        root,
    )
