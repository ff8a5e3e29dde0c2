"""Opt-in code patch that makes Chatchat 0.3.1.3 honour its timeout, pool and concurrency settings.

    pkg = locate(Path("venv/bin/python"))        # where chatchat is installed, which version
    patch_state(pkg).state                        # "absent" | "applied" | "unknown-shape"
    plan_patch(pkg)                               # [(file, before, after)]: nothing written

libcst is imported only when a file is classified or patched.
"""

from __future__ import annotations

from tuner.codepatch.keys import NEW_PLATFORM_KEYS, PATCHED_MEANINGS
from tuner.codepatch.package import KNOWN_VERSIONS, ChatchatPackage, locate
from tuner.codepatch.shapes import MARKER
from tuner.codepatch.state import FileState, PatchState, patch_state, plan_patch

__all__ = [
    "KNOWN_VERSIONS",
    "MARKER",
    "NEW_PLATFORM_KEYS",
    "PATCHED_MEANINGS",
    "ChatchatPackage",
    "FileState",
    "PatchState",
    "locate",
    "patch_state",
    "plan_patch",
]
