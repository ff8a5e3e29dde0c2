"""Opt-in code patch that makes Chatchat 0.3.1.x honour its timeout, pool and concurrency settings.

    pkg = locate(Path("venv/bin/python"))        # where chatchat is installed, which version (any)
    patch_state(pkg).state                        # "absent" | "applied" | "unknown-shape"
    code_state(Path("venv/bin/python")).summary   # the same, never raising ("unavailable": no package)
    plan_patch(pkg)                               # [(file, before, after)]: nothing written

Whether the patch applies is decided by the sha256 of each function it rewrites, not by the version.

libcst is imported only when a file is classified or patched.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tuner.codepatch.keys import NEW_PLATFORM_KEYS, PATCHED_MEANINGS

if TYPE_CHECKING:
    from tuner.codepatch.package import KNOWN_VERSIONS, ChatchatPackage, locate
    from tuner.codepatch.shapes import MARKER
    from tuner.codepatch.state import FileState, PatchState, code_state, patch_state, plan_patch

# The rest loads on first use: the knob catalogue needs only the keys, at every command's start.
_LAZY = {
    "KNOWN_VERSIONS": "package",
    "ChatchatPackage": "package",
    "locate": "package",
    "MARKER": "shapes",
    "FileState": "state",
    "PatchState": "state",
    "code_state": "state",
    "patch_state": "state",
    "plan_patch": "state",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tuner.codepatch' has no attribute {name!r}")
    return getattr(importlib.import_module(f"tuner.codepatch.{module}"), name)


__all__ = [
    "KNOWN_VERSIONS",
    "MARKER",
    "NEW_PLATFORM_KEYS",
    "PATCHED_MEANINGS",
    "ChatchatPackage",
    "FileState",
    "PatchState",
    "code_state",
    "locate",
    "patch_state",
    "plan_patch",
]
