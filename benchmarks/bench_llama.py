"""Figures for the lab's llama-cpp engine on the tiny generated model (or any GGUF).

    .venv/bin/python benchmarks/bench_llama.py [--runs 7] [--tokens 64] [--model-path M.gguf] [--json F]

Prints: the tiny model's write time (fresh cache), load time (median of N loads), time to first token
(consumer side: generate() called → first chunk), generation rate (tokens after the first / time after
the first), and the engine's own Final timings. Each run uses a different prompt and seed, so the prompt
cache does not flatter the figures (the first run after each load is a cold prompt).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tuner.lab.engine import Chunk, Final, GenRequest, Message, ModelSpec


def spec_for(path: Path) -> ModelSpec:
    return ModelSpec("bench:latest", path.stat().st_size, 0, 0.0, 1.0, 1.0, path=str(path))


async def measure(path: Path, runs: int, tokens: int, threads: int | None) -> dict[str, Any]:
    from tuner.lab.llama import LlamaCppEngine

    engine = LlamaCppEngine(seed=0, n_threads=threads)
    spec = spec_for(path)
    loads: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        model = await engine.load(spec, 2048)
        loads.append(time.perf_counter() - started)
        await model.close()

    model = await engine.load(spec, 2048)
    ttft: list[float] = []
    rates: list[float] = []
    engine_prompt: list[float] = []
    engine_rates: list[float] = []
    counts: list[int] = []
    try:
        for i in range(runs):
            for chat in (False, True):
                prompt = f"question {i}: how long does the model take to answer when asked about item {i}?"
                request = GenRequest(
                    messages=(Message("user", prompt),) if chat else (),
                    prompt=None if chat else prompt,
                    max_tokens=tokens,
                    seed=i,
                )
                started = time.perf_counter()
                first: float | None = None
                final: Final | None = None
                async for item in model.generate(request):
                    if isinstance(item, Chunk) and first is None:
                        first = time.perf_counter()
                    if isinstance(item, Final):
                        final = item
                ended = time.perf_counter()
                assert final is not None, "the stream ended without a Final"
                counts.append(final.eval_count)
                engine_prompt.append(final.prompt_eval_seconds)
                if first is None or final.eval_count < 2:  # a real model may stop at once
                    continue
                ttft.append(first - started)
                rates.append((final.eval_count - 1) / (ended - first))
                engine_rates.append(final.eval_count / final.eval_seconds)
    finally:
        await model.close()
    return {
        "load_s_median": statistics.median(loads),
        "load_s_all": loads,
        "ttft_s_median": statistics.median(ttft),
        "ttft_s_p90": _quantile(ttft, 0.9),
        "gen_tokens_per_s_median": statistics.median(rates),
        "engine_prompt_eval_s_median": statistics.median(engine_prompt),
        "engine_eval_tokens_per_s_median": statistics.median(engine_rates),
        "generations": len(counts),
        "tokens_per_generation_mean": statistics.mean(counts),
    }


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="loads, and generations of each kind")
    parser.add_argument("--tokens", type=int, default=64, help="tokens per generation")
    parser.add_argument("--model-path", type=Path, help="a GGUF to measure instead of the tiny model")
    parser.add_argument("--threads", type=int, help="llama.cpp threads (default: the engine's choice)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    from tuner.lab.tinymodel import ensure_tiny_model

    results: dict[str, Any] = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "runs": args.runs,
        "tokens": args.tokens,
    }
    try:
        import llama_cpp

        results["llama_cpp_python"] = llama_cpp.__version__
    except ImportError:
        sys.exit("llama-cpp-python is not installed: pip install 'chatchat-tune[llama]'")
    with tempfile.TemporaryDirectory() as fresh:
        started = time.perf_counter()
        tiny = ensure_tiny_model(Path(fresh))
        results["tiny_write_s"] = time.perf_counter() - started
        results["tiny_bytes"] = tiny.stat().st_size
        path = args.model_path or tiny
        results["model"] = str(args.model_path) if args.model_path else "tiny (generated)"
        results |= asyncio.run(measure(path, args.runs, args.tokens, args.threads))

    print(f"model                  {results['model']} ({Path(path).name})")
    print(f"tiny model write       {results['tiny_write_s'] * 1e3:8.1f} ms  ({results['tiny_bytes']} bytes)")
    print(f"load (median of {args.runs})     {results['load_s_median'] * 1e3:8.1f} ms")
    print(
        f"time to first token    {results['ttft_s_median'] * 1e3:8.1f} ms median, "
        f"{results['ttft_s_p90'] * 1e3:.1f} ms p90"
    )
    print(
        f"generation             {results['gen_tokens_per_s_median']:8.0f} tokens/s (consumer side), "
        f"{results['tokens_per_generation_mean']:.1f} tokens per generation"
    )
    print(
        f"engine Final timings   {results['engine_prompt_eval_s_median'] * 1e3:8.1f} ms prompt eval, "
        f"{results['engine_eval_tokens_per_s_median']:.0f} tokens/s eval"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
