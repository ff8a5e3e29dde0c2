"""Quantized weights run: the installed llama.cpp build does not crash on the kernels real models use.

A native build of llama-cpp-python on a CPU with AMX (Intel Sapphire Rapids and later) dies with SIGSEGV in
``ggml_backend_amx_mul_mat`` on any quantized model, while F32/F16 models (the tiny one) work. The check
runs in a child process so that a crash fails this test instead of killing the test run.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

HAVE_LLAMA = all(importlib.util.find_spec(m) is not None for m in ("llama_cpp", "gguf"))
pytestmark = [
    pytest.mark.llama,
    pytest.mark.skipif(
        not HAVE_LLAMA,
        reason="llama-cpp-python and gguf are not installed (pip install 'chatchat-tune[llama]')",
    ),
    pytest.mark.timeout(120),
]

CHILD = """
import asyncio, sys
from tuner.lab.engine import GenRequest, ModelSpec, Final
from tuner.lab.llama import LlamaCppEngine

async def main():
    spec = ModelSpec("q:latest", 1, 0, 0.0, 1.0, 1.0, path=sys.argv[1])
    model = await LlamaCppEngine().load(spec, 512)
    items = [item async for item in model.generate(GenRequest(prompt="hello the world", max_tokens=5))]
    await model.close()
    final = items[-1]
    assert isinstance(final, Final) and final.eval_count == 5, final
    print("ok")

asyncio.run(main())
"""


@pytest.mark.parametrize("weight_type", ["F16", "Q8_0"])
def test_the_engine_runs_a_model_with_these_weights(tmp_path: Path, weight_type: str) -> None:
    from tuner.lab.tinymodel import write_tiny_model

    path = tmp_path / f"tiny-{weight_type}.gguf"
    write_tiny_model(path, weight_type=weight_type)
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, timeout=100, check=False
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", (
        f"exit {proc.returncode}: llama.cpp failed on {weight_type} weights. A crash (-11) here usually "
        "means a native build on an AMX CPU: reinstall with CMAKE_ARGS=-DGGML_NATIVE=OFF "
        "pip install --no-cache-dir --force-reinstall 'llama-cpp-python>=0.3,<0.4'"
        f"\n{proc.stderr[-1500:]}"
    )
