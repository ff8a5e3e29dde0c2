"""The watcher's own cost: CPU-ms, requests and bytes per round, and its memory over an hour of rounds.

The lab runs at time_scale 0.01, so an hour of rounds every 5 s (720 rounds) takes ~40 s; a stand-in user
loads the model every 10 minutes (Ollama's 5 m default keep_alive unloads it between), so the watcher sees
cold loads and unloads all hour. The watcher runs in this process (tuner.watch.run.Watcher and the
prometheus-client exporter, as `watch` serves them); memory is printed at several round counts: RSS, and
tracemalloc's count of the Python heap, which must not grow with the number of rounds.
Usage: python benchmarks/bench_watch.py [--hours 1] [--interval 5] [--json PATH]
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import statistics
import tempfile
import threading
import time
import tracemalloc
from array import array
from pathlib import Path

import httpx
from _common import ROOT, emit

from tuner.lab.process import LabProcess

SCALE = 0.01
CHAT = {
    "size_bytes": 4_400_000_000,
    "size_vram": 2_200_000_000,
    "load_seconds": 2.0,
    "prompt_tokens_per_s": 100_000.0,
    "gen_tokens_per_s": 100.0,
}


def rss_bytes() -> int:
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # not Linux: the peak, which can only say "no more than"
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def user(lab: LabProcess, every: float, stop: threading.Event) -> None:
    """Someone chatting every ``every`` real seconds (a preload: loads the model, default keep_alive)."""
    while not stop.wait(every):
        httpx.post(lab.url + "/api/generate", json={"model": "qwen:7b"}, timeout=30, trust_env=False)


def run(mode: str, root: Path, lab: LabProcess, rounds: int, interval: float) -> dict[str, object]:
    from tuner.watch.exposition import Exporter
    from tuner.watch.run import Watcher, WatchRequest

    probe_chat = 60.0 if mode == "probe-chat" else None
    watcher = Watcher.open(WatchRequest(root=root, interval=interval, probe_chat=probe_chat))
    exporter = Exporter(
        watcher.target,
        interval=watcher.real_interval,
        time_scale=watcher.time_scale,
        keeps_loaded=bool(probe_chat),
    )
    marks = sorted({1, *(rounds * k // 6 for k in range(1, 7))})
    # Preallocated before tracemalloc starts: the benchmark's own figures must not count as the watcher's.
    cpu, requests, received = array("d", [0.0] * rounds), array("q", [0] * rounds), array("q", [0] * rounds)
    memory: list[dict[str, int]] = []
    stop = threading.Event()
    chatter = threading.Thread(target=user, args=(lab, 600 * SCALE, stop), daemon=True)
    chatter.start()
    tracemalloc.start()
    try:
        for n in range(1, rounds + 1):
            t0 = time.monotonic()
            report = watcher.round()
            exporter.update(report)
            cpu[n - 1] = report.cpu_seconds * 1000
            requests[n - 1] = report.observation.requests
            received[n - 1] = report.observation.bytes_in
            if n in marks:
                gc.collect()  # what is retained, not garbage awaiting the cycle collector
                current, _peak = tracemalloc.get_traced_memory()
                memory.append({"rounds": n, "rss_bytes": rss_bytes(), "python_heap_bytes": current})
            time.sleep(max(0.0, watcher.real_interval - (time.monotonic() - t0)))
    finally:
        tracemalloc.stop()
        stop.set()
        watcher.close()
    state = watcher.state
    half, last = memory[len(memory) // 2], memory[-1]
    slope = (last["python_heap_bytes"] - half["python_heap_bytes"]) / max(1, last["rounds"] - half["rounds"])
    return {
        "python_heap_bytes_per_round_second_half": slope,
        "mode": mode,
        "rounds": rounds,
        "cpu_ms_per_round_median": statistics.median(cpu),
        "cpu_ms_per_round_p95": sorted(cpu)[int(0.95 * (len(cpu) - 1))],
        "requests_per_round_mean": statistics.mean(requests),
        "requests_per_round_max": max(requests),
        "received_bytes_per_round_mean": statistics.mean(received),
        "cold_loads_seen": state.cold_loads,
        "unloads_seen": dict(state.unloads),
        "memory": memory,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--hours", type=float, default=1.0, help="simulated hours per mode")
    ap.add_argument(
        "--interval", type=float, default=5.0, help="seconds between rounds (install time; 5 = floor)"
    )
    ap.add_argument("--json", dest="json_path")
    args = ap.parse_args()
    rounds = max(6, round(args.hours * 3600 / args.interval))
    results: dict[str, object] = {"time_scale": SCALE, "interval_s": args.interval, "modes": []}
    with (
        tempfile.TemporaryDirectory() as tmp,
        LabProcess("tiny", time_scale=SCALE, models=[{"name": "qwen:7b", **CHAT}]) as lab,
    ):
        root = Path(tmp) / "install"
        shutil.copytree(ROOT / "fixtures" / "chatchat-0.3.1", root)
        from tuner.apply.run import ApplyRequest, run_apply
        from tuner.plan.settings import parse_setting

        run_apply(ApplyRequest(root=root, settings=(parse_setting(f"ollama_url[ollama]={lab.url}/v1"),)))
        for mode in ("default", "probe-chat"):
            out = run(mode, root, lab, rounds, args.interval)
            results["modes"].append(out)  # type: ignore[attr-defined]
            cpu = f"CPU {out['cpu_ms_per_round_median']:.2f} ms/round (p95 {out['cpu_ms_per_round_p95']:.2f})"
            reqs = (
                f"{out['requests_per_round_mean']:.2f} requests/round (max {out['requests_per_round_max']})"
            )
            got = f"{out['received_bytes_per_round_mean']:.0f} bytes/round"
            seen = f"cold loads seen {out['cold_loads_seen']}, unloads {out['unloads_seen']}"
            print(f"{mode:<11} {out['rounds']} rounds: {cpu}, {reqs}, {got}; {seen}")
            slope = out["python_heap_bytes_per_round_second_half"]
            print(f"            Python heap growth over the second half: {slope:.1f} bytes/round")
            for m in out["memory"]:  # type: ignore[attr-defined]
                print(
                    f"            after {m['rounds']:>4} rounds: RSS {m['rss_bytes'] / 2**20:.1f} MiB, "
                    f"Python heap {m['python_heap_bytes'] / 2**10:.0f} KiB"
                )
    emit(results, args.json_path)


if __name__ == "__main__":
    main()
