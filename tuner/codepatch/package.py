"""Find the installed ``chatchat`` package of an interpreter, without importing it.

Importing ``chatchat`` has side effects (it reads and may write settings under CHATCHAT_ROOT), so the
interpreter is asked only for ``importlib.util.find_spec("chatchat")`` (a top-level name: nothing is
executed) and the distribution's version from ``importlib.metadata``.

Any version is located: the version is reported, never a gate. Whether the patch applies is decided by the
shape (sha256) of each function it rewrites (``tuner.codepatch.shapes``).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tuner.errors import UserError
from tuner.i18n import _

DISTRIBUTION = "langchain-chatchat"
# Versions whose wheels ship the function shapes the patch knows (informational: the hashes decide).
KNOWN_VERSIONS: tuple[str, ...] = ("0.3.1", "0.3.1.1", "0.3.1.2", "0.3.1.3")
_TAG = "@@CHATCHAT-TUNE-PROBE@@"

# Run by the target interpreter. The working directory is taken off sys.path first, so a `chatchat`
# folder in the current directory is not mistaken for the installed package (the `chatchat` command
# does not put the working directory on sys.path either).
PROBE = f"""
import importlib.util, json, os, sys
sys.path[:] = [p for p in sys.path if p not in ("", ".", os.getcwd())]
out = {{"python": sys.executable, "folder": None, "version": None}}
spec = importlib.util.find_spec("chatchat")
if spec is not None and spec.submodule_search_locations:
    out["folder"] = list(spec.submodule_search_locations)[0]
try:
    import importlib.metadata as md
    out["version"] = md.version("{DISTRIBUTION}")
except Exception:
    pass
sys.stdout.write("{_TAG}" + json.dumps(out) + "\\n")
"""


@dataclass(frozen=True)
class ChatchatPackage:
    """An installed ``chatchat`` package: its folder (``.../site-packages/chatchat``) and the version of
    its ``langchain-chatchat`` distribution (None when no distribution metadata names it)."""

    folder: Path
    version: str | None
    python: Path

    @property
    def label(self) -> str:
        return (
            f"{DISTRIBUTION} {self.version}"
            if self.version
            else _("{name} (version unknown)").format(name=DISTRIBUTION)
        )

    def file(self, relative: str) -> Path:
        return self.folder.joinpath(*relative.split("/"))


def parse_probe(stdout: str, python: Path) -> ChatchatPackage:
    """The package described by the probe's output line (any version, or none); UserError when absent."""
    line = next((x for x in stdout.splitlines() if x.startswith(_TAG)), None)
    if line is None:
        raise UserError(_("the interpreter did not answer the chatchat probe"), python)
    data = json.loads(line[len(_TAG) :])
    folder, version = data.get("folder"), data.get("version")
    if not folder:
        raise UserError(
            _(
                "no `chatchat` package is installed for this interpreter (pass --python "
                "PATH/TO/chatchat-venv/bin/python)"
            ),
            python,
        )
    return ChatchatPackage(folder=Path(folder), version=str(version) if version else None, python=python)


def locate(python: Path, *, env: Mapping[str, str] | None = None, timeout: float = 60.0) -> ChatchatPackage:
    """Ask ``python`` where its ``chatchat`` package is and which version it is (no import of chatchat).

    UserError (one line) when the interpreter cannot be run or has no ``chatchat`` package; any version
    is returned as found.

    ``env`` replaces the child's environment (for example to put a copy of the package first on
    PYTHONPATH, as Chatchat's own processes would see it).
    """
    try:
        proc = subprocess.run(
            [str(python), "-c", PROBE],
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=dict(env) if env is not None else None,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        raise UserError(_("no such interpreter"), python) from None
    except PermissionError:
        raise UserError(_("cannot run this interpreter (permission denied)"), python) from None
    except subprocess.TimeoutExpired:
        raise UserError(
            _("the interpreter did not answer within {timeout:.0f} s").format(timeout=timeout), python
        ) from None
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or [_("no output")])[-1]
        raise UserError(
            _("the interpreter failed ({returncode}): {tail}").format(returncode=proc.returncode, tail=tail),
            python,
        )
    return parse_probe(proc.stdout, python)
