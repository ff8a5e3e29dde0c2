"""The llama-cpp engine explains how to install its extra when llama-cpp-python is missing."""

from __future__ import annotations

import sys

import pytest

from tuner.errors import UserError


def test_missing_llama_cpp_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from tuner.lab import llama

    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # the import now fails as if not installed
    with pytest.raises(UserError, match=r"pip install 'chatchat-tune\[llama\]'"):
        llama.LlamaCppEngine()


def test_importing_the_engine_module_does_not_import_llama_cpp() -> None:
    import subprocess

    code = (
        "import sys, tuner.lab.llama, tuner.lab.tinymodel; "
        "print('llama_cpp' in sys.modules, 'gguf' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.split() == ["False", "False"]
