"""The README's main job on an embedded default: the bundled sample install, inspected and planned.

Until the search lands, the demo shows what the tool reads and the reviewed diff it would apply for the
causes it can see in the files alone (a `localhost` Ollama URL, stray auto-detect platforms).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from tuner.errors import UserError

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample-install"


def sample_copy(dest: Path) -> Path:
    """Copy the bundled sample install (0.3.1 layout) to ``dest`` and return its root."""
    if not SAMPLE.is_dir():
        raise UserError("the bundled sample install is missing from this installation", SAMPLE)
    shutil.copytree(SAMPLE, dest, dirs_exist_ok=True)
    return dest


def run_demo(root: Path | None) -> int:
    from tuner.cli import render
    from tuner.install.detect import detect
    from tuner.install.files import load_install
    from tuner.install.report import inspect_install
    from tuner.plan.build import build_plan
    from tuner.plan.suggest import suggest

    with tempfile.TemporaryDirectory(prefix="chatchat-tune-demo-") as tmp:
        if root is None:
            root = sample_copy(Path(tmp) / "chatchat")
            render.out.print(f"[bold]demo[/bold]: a copy of the bundled sample install at {root}\n")
        loaded = load_install(detect(root), os.environ)
        render.out.rule("chatchat-tune inspect")
        render.inspect(inspect_install(loaded), as_json=False)
        settings = suggest(loaded)
        render.out.rule("chatchat-tune apply --dry-run " + " ".join(f"--set {s}" for s in settings))
        if not settings:
            render.out.print("nothing to suggest from the files alone")
            return 0
        render.plan(build_plan(loaded, settings))
        render.out.print("\nnothing was written; `chatchat-tune apply --set ...` writes it (backed up, "
                         "undo with `chatchat-tune rollback`)")
    return 0
