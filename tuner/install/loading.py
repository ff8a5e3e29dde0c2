"""The install a command works on: found, read, its secrets registered, its code-patch state when asked.

Every command that reads an install starts here, the CLI and the core flows alike (``tuner.apply.run``,
``tuner.search.run``), so that no output or saved file can show a secret the install holds.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tuner.install.files import LoadedInstall


def open_install(root: Path | None, python: Path | None = None) -> LoadedInstall:
    """``root`` (else ``$CHATCHAT_ROOT``, else the working directory), read with this process's environment.

    With ``python`` (Chatchat's interpreter) on a layout the code patch knows, the installed package's
    code-patch state is read too: the interpreter runs ``importlib`` look-ups only
    (see ``tuner.codepatch.package``).
    """
    from tuner.install.detect import detect, find_root
    from tuner.install.files import load_install

    loaded = load_install(detect(find_root(root)), os.environ)
    remember_secrets(loaded)
    if python is not None and loaded.layout.code_patch_possible:
        from tuner.codepatch import code_state

        loaded = loaded.with_code(code_state(python))
    return loaded


def remember_secrets(loaded: LoadedInstall) -> None:
    """Register the install's secrets (files and environment) so that no output shows them in full."""
    from tuner.redact import register, secrets_in

    for file in loaded.files.values():
        register(secrets_in(file.doc.data if file.doc is not None else file.json_data))
    for var, value in loaded.environ.items():
        register(secrets_in({var: value}))
        if value.lstrip().startswith(("{", "[")):  # MODEL_PLATFORMS and other JSON overrides
            try:
                register(secrets_in(json.loads(value)))
            except ValueError:
                continue
