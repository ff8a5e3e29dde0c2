"""The Ollama service environment as files a user reviews and applies: systemd, macOS and Windows.

Nothing here touches the system; the text goes to stdout or to a folder the user names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tuner.i18n import _


@dataclass(frozen=True)
class Artifact:
    filename: str
    title: str
    text: str
    system: str  # sys.platform it is for: "linux", "darwin" or "win32"; "posix" (both) or "any"


def artifacts(env: Mapping[str, str]) -> tuple[Artifact, ...]:
    if not env:
        return ()
    items = sorted(env.items())
    systemd = "[Service]\n" + "".join(f'Environment="{k}={v}"\n' for k, v in items)
    linux = (
        "#!/bin/sh\n# Linux (systemd): install the drop-in, then reload and restart Ollama.\n"
        "set -e\nsudo mkdir -p /etc/systemd/system/ollama.service.d\n"
        "sudo cp override.conf /etc/systemd/system/ollama.service.d/override.conf\n"
        "sudo systemctl daemon-reload\nsudo systemctl restart ollama\n"
        "# or interactively: sudo systemctl edit ollama.service  (paste the [Service] lines)\n"
    )
    macos = (
        "#!/bin/sh\n# macOS (Ollama app): set the variables for launchd, then quit and reopen Ollama.\n"
        + "".join(f'launchctl setenv {k} "{v}"\n' for k, v in items)
        + "osascript -e 'tell application \"Ollama\" to quit' || true\nsleep 2\nopen -a Ollama\n"
    )
    windows = (
        "# Windows (PowerShell): set user environment variables, then restart Ollama from the tray.\r\n"
        "Get-Process ollama* -ErrorAction SilentlyContinue | Stop-Process\r\n"
        + "".join(f'[Environment]::SetEnvironmentVariable("{k}", "{v}", "User")\r\n' for k, v in items)
        + "# cmd.exe equivalent: "
        + " & ".join(f'setx {k} "{v}"' for k, v in items)
        + "\r\n"
        'Start-Process "$env:LOCALAPPDATA\\Programs\\Ollama\\ollama app.exe"\r\n'
    )
    return (
        Artifact(
            "override.conf",
            _("Linux systemd drop-in (/etc/systemd/system/ollama.service.d/)"),
            systemd,
            "linux",
        ),
        Artifact("ollama-env-linux.sh", _("Linux commands"), linux, "linux"),
        Artifact("ollama-env-macos.sh", _("macOS commands"), macos, "darwin"),
        Artifact("ollama-env-windows.ps1", _("Windows PowerShell commands"), windows, "win32"),
    )


def for_system(arts: tuple[Artifact, ...], platform: str) -> tuple[Artifact, ...]:
    """The artifacts for ``platform`` (``sys.platform``); all of them on a system none is written for."""
    mine = tuple(a for a in arts if _runs_on(a.system, platform))
    return mine or arts


def _runs_on(system: str, platform: str) -> bool:
    """``any``: every system (a Modelfile); ``posix``: Linux and macOS; else a ``sys.platform`` prefix."""
    if system == "any":
        return True
    if system == "posix":
        return not platform.startswith(("win", "cygwin"))
    return platform.startswith(system)
