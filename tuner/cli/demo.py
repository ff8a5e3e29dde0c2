"""`chatchat-tune demo`: the main job on an embedded default, with nothing on the machine changed.

It starts the bundled lab (sim engine, a scenario with the Windows-`localhost` connect delay, a stray
auto-detect platform and cold loads after idle gaps), copies the bundled sample install (Chatchat 0.3.1
layout) to a temp folder and points it at the lab, then runs doctor, a search, and shows the dry-run diff
and the before/after figures. Everything it started is stopped; the temp folder is removed.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer

from tuner.errors import UserError

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample-install"
# The scenario, in real time units; the lab compresses them by TIME_SCALE so the demo runs in a minute or two.
TIME_SCALE = 0.02
SCENARIO = {"connect_delay": 2.0}  # seconds on each new connection that names `localhost` (Windows ::1 first)
IDLE_GAP = "10m"  # the user's typical idle gap; Ollama's default keep_alive is 5m


def sample_copy(dest: Path) -> Path:
    """Copy the bundled sample install (0.3.1 layout) to ``dest`` and return its root."""
    if not SAMPLE.is_dir():
        raise UserError("the bundled sample install is missing from this installation", SAMPLE)
    shutil.copytree(SAMPLE, dest, dirs_exist_ok=True)
    return dest


def demo(
    root: Annotated[
        Path | None,
        typer.Option(
            "--root",
            help="An install to copy and run the demo on (default: the bundled sample; $CHATCHAT_ROOT is "
            "not read, and your files are never touched).",
        ),
    ] = None,
    trials: Annotated[int, typer.Option(help="Trials in the demo's search.")] = 30,
) -> int:
    """The main job on an embedded default: the bundled lab and sample install, doctor, search, diff."""
    from tuner.cli.options import require_extra

    require_extra("demo", "search", "optuna")  # its search step: refused before the lab starts
    return run_demo(root, trials)


def run_demo(root: Path | None, trials: int) -> int:
    """The demo chains real commands, each run in this process with the CLI's own error handling
    (``tuner.cli.main``: the one dispatcher a command calls, and only this one)."""
    import tempfile

    from tuner.cli import main, render
    from tuner.lab.process import LabProcess

    with tempfile.TemporaryDirectory(prefix="chatchat-tune-demo-") as tmp:
        if root is None:
            root = sample_copy(Path(tmp) / "chatchat")
        else:  # the demo points the install at its lab: work on a copy, never on the user's own files
            source = root
            root = Path(tmp) / "chatchat"
            try:
                shutil.copytree(source, root, ignore=shutil.ignore_patterns(".chatchat-tune"))
            except OSError as exc:
                raise UserError(f"cannot copy the install ({exc.strerror or exc})", source) from None
        render.out.rule("the lab: an Ollama stand-in (cpu-7b profile, time compressed ×50)")
        with LabProcess(profile="cpu-7b", time_scale=TIME_SCALE, faults=SCENARIO) as lab:
            url = f"http://localhost:{lab.port}/v1"
            render.out.print(f"lab at {lab.url}; the sample install's Ollama platform points at {url}")
            _point_at(root, url)
            state = Path(tmp) / "state"
            state.mkdir()
            steps = [
                ["inspect", "--root", str(root)],
                ["doctor", "--root", str(root), "--idle-gap", IDLE_GAP],
                [
                    "search",
                    "--root",
                    str(root),
                    "--trials",
                    str(trials),
                    "--idle-gap",
                    IDLE_GAP,
                    "--requests-per-trial",
                    "24",
                    "--storage",
                    "sqlite:///" + (state / "search.db").as_posix(),
                    "--out",
                    str(state / "plan.json"),
                ],
                ["apply", "--plan", str(state / "plan.json"), "--root", str(root), "--dry-run"],
            ]
            for args in steps:
                render.out.rule("chatchat-tune " + " ".join(a if " " not in a else repr(a) for a in args[:1]))
                if args[0] == "doctor":
                    render.out.print(
                        f"(doctor measures the lab as it is: its durations are compressed ×"
                        f"{1 / TIME_SCALE:g}, e.g. 40 ms here is the scenario's 2 s; search "
                        "reports real seconds)"
                    )
                code = main(args)
                if code == 130 or (code not in (0, 2) and args[0] != "doctor"):  # doctor: 3 = findings
                    return code
        render.out.rule("done")
        render.out.print(
            "nothing was written outside a temp folder, and the lab has stopped. On your install: "
            "chatchat-tune doctor, chatchat-tune search --trials 30, chatchat-tune apply --plan ..."
        )
    return 0


def _point_at(root: Path, url: str) -> None:
    from tuner.apply.run import write_plan
    from tuner.install.loading import open_install
    from tuner.plan.build import build_plan
    from tuner.plan.settings import Setting

    plan = build_plan(open_install(root), [Setting("ollama_url", None, url)])
    write_plan(plan, "demo: point the sample at the lab")
