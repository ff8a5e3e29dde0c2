"""Suggested commands paste as they are: each argument comes back from a real shell as one word."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tuner.shell import command, quote, set_command

WORDS = [
    "api_timeout=120",
    "ollama_url[ollama]=http://127.0.0.1:11434/v1",
    "/home/李雷/my chatchat",
    "C:\\Users\\李雷\\Chatchat 0.3",
    "it's",
    "$HOME `x` *",
    "",
]


@pytest.mark.parametrize("word", WORDS)
@pytest.mark.parametrize("shell", ["bash", "zsh", "sh"])
def test_a_quoted_argument_is_one_word_in_posix_shells(shell: str, word: str) -> None:
    exe = shutil.which(shell)
    if exe is None:
        pytest.skip(f"no {shell} here")
    out = subprocess.run(
        [exe, "-c", f"printf '%s\\n' {quote(word, windows=False)}"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=10,
        check=True,
    ).stdout
    assert out == word + "\n"


@pytest.mark.parametrize("word", WORDS)
def test_a_quoted_argument_is_one_word_in_powershell(word: str) -> None:
    exe = shutil.which("pwsh") or shutil.which("powershell")
    quoted = quote(word, windows=True)
    if exe is None:  # no PowerShell here: check its single-quote rule by hand
        if quoted.startswith("'"):
            assert quoted.endswith("'") and quoted[1:-1].replace("''", "'") == word
        else:
            assert quoted == word
        return
    out = subprocess.run(  # pragma: no cover - where PowerShell is installed
        [exe, "-NoProfile", "-Command", f"Write-Output {quoted}"], capture_output=True, text=True, timeout=30
    ).stdout
    assert out.strip() == word


def test_plain_words_stay_plain() -> None:
    assert set_command("api_timeout=120", windows=False) == "chatchat-tune apply --set api_timeout=120"
    assert command("rollback", "--root", "/srv/chatchat", windows=False) == (
        "chatchat-tune rollback --root /srv/chatchat"
    )
    assert set_command("ollama_url[ollama]=http://x/v1", windows=False) == (
        "chatchat-tune apply --set 'ollama_url[ollama]=http://x/v1'"
    )
