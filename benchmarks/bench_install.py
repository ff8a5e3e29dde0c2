"""Cost against install size: `inspect --json` and `apply --dry-run` on generated installs of growing size.

Installs are built from the repo's fixtures:

- 0.3.1 (``fixtures/chatchat-0.3.1``): ``model_settings.yaml`` with 4 (the fixture), 50, 200 and 800
  ``MODEL_PLATFORMS`` entries (the fixture's four, then entries of mixed platform types with the keys users
  set and model auto-detection on: 800 entries in the fixture's full 16-key layout would pass the tool's
  limits of 10,000 values and 256 KiB per file, and be refused).
- 0.2 (``fixtures/chatchat-0.2.10``): ``server_config.py`` of about 100, 1,000 and 5,000 lines (more
  ``FSCHAT_MODEL_WORKERS`` entries, with comments and commented-out keys) and a ``model_config.py`` with as
  many ``ONLINE_LLM_MODEL`` entries.

Per size: the median wall time of ``inspect --json`` and of ``apply --dry-run --set api_timeout=77`` (plus
``--set ollama_url[ollama]=...`` for 0.3.1). Target (issue): 800 platforms inspected in under 1 s, and
time growing linearly with size.

Usage: python benchmarks/bench_install.py [--runs N] [--json PATH] [--keep DIR]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from pathlib import Path
from typing import Any

from _common import ROOT, copy_tree, emit, summary, time_command, tool_command

try:
    import resource
except ImportError:  # pragma: no cover - Windows
    resource = None  # type: ignore[assignment]

PLATFORMS = (4, 50, 200, 800)
PY_LINES = (100, 1_000, 5_000)
_TYPES = ("xinference", "oneapi", "openai", "ollama")
_PORTS = {"xinference": 9997, "oneapi": 3000, "openai": 8000, "ollama": 11434}


def _platform(n: int) -> str:
    """A platform as users add them: the keys they set, the model lists left to auto-detection."""
    kind = _TYPES[n % len(_TYPES)]
    return (
        f"  - platform_name: {kind}-{n}\n"
        f"    platform_type: {kind}\n"
        f"    api_base_url: http://10.0.{n // 250}.{n % 250 + 1}:{_PORTS[kind]}/v1\n"
        f"    api_key: {'EMPTY' if n % 2 else 'sk-' + format(n, '04d')}\n"
        "    auto_detect_model: true\n"
    )


def make_031(dest: Path, platforms: int) -> Path:
    root = copy_tree(ROOT / "fixtures" / "chatchat-0.3.1", dest)
    path = root / "model_settings.yaml"
    text = path.read_text(encoding="utf-8")
    assert text.rstrip().endswith("text2speech_models: []") and text.count("- platform_name:") == 4
    extra = "".join(_platform(n) for n in range(4, platforms))
    path.write_text(text + extra, encoding="utf-8")
    return root


_WORKERS_END = '    "gemini-api": {\n        "port": 21010,\n    },\n'
_ONLINE_START = "ONLINE_LLM_MODEL = {\n"


def _worker(n: int) -> str:
    return (
        f"    # 本地模型 local-model-{n} 的专项配置\n"
        f'    "local-model-{n}": {{\n'
        f'        "device": "{"cuda" if n % 2 else "cpu"}",\n'
        f'        "port": {22000 + n},  # 每个 worker 独立端口\n'
        '        # "num_gpus": 1,\n'
        f'        "infer_turbo": {"False" if n % 3 else repr("vllm")},\n'
        "    },\n"
    )


def _online(n: int) -> str:
    return (
        f"    # 在线模型 online-{n}（OpenAI 兼容接口）\n"
        f'    "online-{n}-api": {{\n'
        f'        "model_name": "model-{n}",\n'
        f'        "api_base_url": "http://10.1.{n // 250}.{n % 250 + 1}:8000/v1",\n'
        '        "api_key": "EMPTY",\n'
        '        "openai_proxy": "",\n'
        "    },\n"
        "\n"
    )


def make_02(dest: Path, lines: int) -> tuple[Path, int]:
    """A 0.2.10 install whose server_config.py has about ``lines`` lines; returns (root, its line count)."""
    root = copy_tree(ROOT / "fixtures" / "chatchat-0.2.10", dest)
    server = root / "configs" / "server_config.py"
    text = server.read_text(encoding="utf-8")
    assert text.count(_WORKERS_END) == 1
    entries = max(0, round((lines - text.count("\n")) / _worker(0).count("\n")))
    text = text.replace(_WORKERS_END, _WORKERS_END + "".join(_worker(n) for n in range(entries)))
    server.write_text(text, encoding="utf-8")
    model = root / "configs" / "model_config.py"
    model_text = model.read_text(encoding="utf-8")
    assert model_text.count(_ONLINE_START) == 1
    online = "".join(_online(n) for n in range(entries))
    model.write_text(model_text.replace(_ONLINE_START, _ONLINE_START + online), encoding="utf-8")
    return root, text.count("\n")


def timed(cmd: list[str], runs: int, ok: tuple[int, ...] = (0,)) -> dict[str, Any]:
    """Wall-time summary of ``cmd`` (as the other benchmarks), plus the median CPU time (user + system) of
    the process where the platform reports it: on a shared, busy machine that one barely moves."""
    if resource is None:  # pragma: no cover - Windows
        return summary(time_command(cmd, runs, ok))
    wall, cpu = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall += time_command(cmd, 1, ok)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return summary(wall) | {"cpu_median_s": statistics.median(cpu)}


def measure(root: Path, runs: int, sets: list[str]) -> dict[str, Any]:
    tool = tool_command()
    inspect = timed([*tool, "inspect", "--root", str(root), "--json"], runs)
    flags = [arg for s in sets for arg in ("--set", s)]
    apply = timed([*tool, "apply", "--root", str(root), "--dry-run", *flags], runs, ok=(0, 2))
    return {"inspect": inspect, "apply_dry_run": apply}


def _cell(figures: dict[str, Any]) -> str:
    cpu = figures.get("cpu_median_s")
    return f"{figures['median_s']:.3f}" + (f" ({cpu:.3f})" if cpu is not None else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", dest="json_path")
    ap.add_argument("--keep", help="build the installs in this folder and keep them")
    args = ap.parse_args()
    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-install-"))
    results: dict[str, Any] = {"0.3.1": {}, "0.2": {}}
    rows: list[tuple[str, str, dict[str, Any]]] = []
    try:
        for n in PLATFORMS:
            root = make_031(tmp / f"chatchat-0.3.1-{n}", n)
            sets = ["api_timeout=77", "ollama_url[ollama]=http://127.0.0.1:11434/v1/"]
            figures = measure(root, args.runs, sets) | {"platforms": n}
            results["0.3.1"][str(n)] = figures
            rows.append(("0.3.1", f"{n} platforms", figures))
        for size in PY_LINES:
            root, lines = make_02(tmp / f"chatchat-0.2-{size}", size)
            figures = measure(root, args.runs, ["api_timeout=77"]) | {"server_config_lines": lines}
            results["0.2"][str(size)] = figures
            rows.append(("0.2", f"{lines:,} lines", figures))
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"median of {args.runs} runs, seconds: wall (CPU of the process)")
    print(f"{'install':<8}{'size':<16}{'inspect --json':>18}{'apply --dry-run':>18}")
    for gen, label, figures in rows:
        cells = [_cell(figures[what]) for what in ("inspect", "apply_dry_run")]
        print(f"{gen:<8}{label:<16}{cells[0]:>18}{cells[1]:>18}")
    emit(results, args.json_path)


if __name__ == "__main__":
    main()
