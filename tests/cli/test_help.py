"""Help people can use: examples on every command, value names instead of type tags, choices shown and
completed by the shell, --version and -h."""

from __future__ import annotations

import re

import pytest

from tests.conftest import run_cli
from tuner.cli.app import COMMANDS

COMMAND_HELP = [[name] for name in COMMANDS if name != "lab"] + [["lab", "serve"], ["lab", "profiles"]]


@pytest.mark.parametrize("command", COMMAND_HELP, ids=" ".join)
def test_every_command_has_examples_and_no_type_tags(command: list[str]) -> None:
    run = run_cli(*command, "-h")
    assert run.code == 0, run.err
    assert "Examples:" in run.out and "  chatchat-tune " + command[0] in run.out
    assert not re.search(r"<[a-z\[\]|, ]+>", run.out), run.out  # no <str>, <int>, <list[path]>


def test_choices_are_listed_in_help_and_completed() -> None:
    assert "--path [native|openai|chatchat|kb|search]" in run_cli("bench", "--help").out
    assert "--objective [p95|multi]" in run_cli("search", "--help").out
    env = {
        "_CHATCHAT_TUNE_COMPLETE": "complete_bash",
        "COMP_WORDS": "chatchat-tune bench --path ",
        "COMP_CWORD": "3",
    }
    run = run_cli(env=env)
    assert run.code == 0 and run.out.split() == ["native", "openai", "chatchat", "kb", "search"]
    env |= {"COMP_WORDS": "chatchat-tune lab serve --engine ", "COMP_CWORD": "4"}
    assert run_cli(env=env).out.split() == ["sim", "llama-cpp"]
    env |= {"COMP_WORDS": "chatchat-tune do", "COMP_CWORD": "1"}
    assert run_cli(env=env).out.split() == ["doctor"]


def test_completion_scripts_and_version() -> None:
    shown = run_cli("--show-completion", "bash")
    assert shown.code == 0 and "_CHATCHAT_TUNE_COMPLETE" in shown.out
    version = run_cli("--version")
    assert version.code == 0 and version.out.startswith("chatchat-tune ")
    assert run_cli("-h").out == run_cli("--help").out
