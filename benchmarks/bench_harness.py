"""The bench harness measured against the lab: its own overhead, its phase accuracy, its fixed cost.

1) Overhead per request against the lab's ``zero`` profile, in the same run: the harness
   (``tuner.measure.runner.run``, reused client, not streaming) vs a bare reused httpx loop vs a raw-socket
   keep-alive loop. Target: harness p50 <= bare httpx p50 + 0.15 ms.
2) Each phase's error against delays the lab injects: ``first_byte_delay`` (every response) shows in ttfb;
   ``connect_delay`` (new connections whose Host is localhost) shows in ttfb of new connections.
   Target: |measured - injected| <= 1 ms at p50.
3) Fixed cost of ``chatchat-tune bench -n 50`` (a subprocess): wall minus the requests' own time, CPU
   seconds and max RSS of that process. Targets: <= 0.5 s wall, <= 1 CPU-s, < 100 MB.

Usage: python benchmarks/bench_harness.py [--requests N] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from _common import emit, tool_command

from tuner.lab.process import LabProcess
from tuner.measure.runner import run
from tuner.measure.workload import ClientSettings, Workload

MODEL = "qwen2:7b"


def _ms(x: float) -> float:
    return round(x * 1000, 3)


def _body(i: int) -> dict[str, Any]:
    return {
        "model": MODEL,
        "messages": [{"role": "user", "content": f"[{i}] hi"}],
        "stream": False,
        "options": {"num_predict": 1},
    }


def bare_httpx(url: str, n: int) -> list[float]:
    out = []
    with httpx.Client(trust_env=False, timeout=10.0) as client:
        for i in range(n):
            t0 = time.perf_counter()
            r = client.post(url + "/api/chat", json=_body(i))
            r.read()
            out.append(time.perf_counter() - t0)
    return out


def raw_socket(port: int, n: int) -> list[float]:
    out = []
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        f = s.makefile("rb")
        for i in range(n):
            body = json.dumps(_body(i)).encode()
            head = (
                f"POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            t0 = time.perf_counter()
            s.sendall(head + body)
            length = 0
            while (line := f.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            f.read(length)
            out.append(time.perf_counter() - t0)
    return out


def harness(url: str, n: int) -> tuple[list[float], float]:
    w = Workload(path="native", model=MODEL, requests=n, stream=False, max_tokens=1)
    result = run(url, w, ClientSettings(timeout=10.0))
    assert all(s.ok for s in result.samples), {s.error for s in result.samples}
    return [s.total for s in result.samples], result.wall / n


def overhead(n: int) -> dict[str, Any]:
    with LabProcess("zero") as lab:
        bare_httpx(lab.url, 50)  # warm both sides
        bare, raw, inner, per = [], [], [], []
        for _ in range(3):  # interleaved rounds, so drift hits all three alike
            bare += bare_httpx(lab.url, n)
            raw += raw_socket(lab.port, n)
            totals, wall_per = harness(lab.url, n)
            inner += totals
            per.append(wall_per)
    p50 = {k: statistics.median(v) for k, v in (("bare", bare), ("raw", raw), ("harness", inner))}
    return {
        "requests_per_loop": 3 * n,
        "bare_httpx_p50_ms": _ms(p50["bare"]),
        "raw_socket_p50_ms": _ms(p50["raw"]),
        "harness_sample_p50_ms": _ms(p50["harness"]),
        "harness_wall_per_request_ms": _ms(statistics.median(per)),
        "added_p50_ms": _ms(p50["harness"] - p50["bare"]),
        "added_wall_per_request_ms": _ms(statistics.median(per) - p50["bare"]),
        "target_added_ms": 0.15,
    }


def _ttfb_p50(url: str, n: int, client: ClientSettings) -> float:
    w = Workload(path="native", model=MODEL, requests=n, stream=False, max_tokens=1)
    result = run(url, w, client)
    return statistics.median(s.ttfb for s in result.samples if s.ttfb is not None)


def _bare_p50(url: str, n: int, reuse: bool) -> float:
    """The same requests from a bare httpx loop: what the lab's delay really was (timer slack included)."""
    if reuse:
        return statistics.median(bare_httpx(url, n))
    out = []
    for i in range(n):
        with httpx.Client(trust_env=False, timeout=10.0) as client:
            t0 = time.perf_counter()
            client.post(url + "/api/chat", json=_body(i)).read()
            out.append(time.perf_counter() - t0)
    return statistics.median(out)


def _entry(
    delay: float,
    harness_base: float,
    harness_delay: float,
    bare_base: float,
    bare_delay: float,
) -> dict[str, Any]:
    measured, reference = harness_delay - harness_base, bare_delay - bare_base
    return {
        "injected_ms": _ms(delay),
        "measured_ms": _ms(measured),
        "error_ms": _ms(abs(measured - delay)),
        "bare_loop_saw_ms": _ms(reference),
        "error_vs_bare_loop_ms": _ms(abs(measured - reference)),
    }


def accuracy(n: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    delay = 0.050
    reuse, fresh = ClientSettings(timeout=10.0), ClientSettings(timeout=10.0, reuse_client=False)
    with LabProcess("zero", time_scale=1.0) as lab:
        base, bare = _ttfb_p50(lab.url, n, reuse), _bare_p50(lab.url, n, True)
        lab.set_faults(first_byte_delay=delay)
        delayed, bare_delayed = _ttfb_p50(lab.url, n, reuse), _bare_p50(lab.url, n, True)
        out["first_byte_delay"] = {**_entry(delay, base, delayed, bare, bare_delayed), "where": "ttfb"}
        lab.set_faults()
        url = lab.url_for("localhost")
        base, bare = _ttfb_p50(url, n, fresh), _bare_p50(url, n, False)
        lab.set_faults(connect_delay=delay)
        delayed, bare_delayed = _ttfb_p50(url, n, fresh), _bare_p50(url, n, False)
        out["connect_delay"] = {
            **_entry(delay, base, delayed, bare, bare_delayed),
            "where": "ttfb of new connections",
        }
    out["target_error_ms"] = 1.0
    return out


def _bench_once(url: str, out: Path) -> dict[str, float]:
    import resource  # POSIX; this benchmark reports CPU and memory where the OS can tell

    cmd = [
        *tool_command(),
        "bench",
        "--url",
        url,
        "--model",
        MODEL,
        "-n",
        "50",
        "--no-stream",
        "--max-tokens",
        "1",
        "--json-out",
        str(out),
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, timeout=120)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr.decode(errors="replace"))
    requests = sum(s["total"] for s in json.loads(out.read_text(encoding="utf-8"))["samples"])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "requests": requests, "cpu": cpu, "maxrss": float(after.ru_maxrss)}


def fixed_cost(runs: int = 5) -> dict[str, Any]:
    with LabProcess("zero") as lab, tempfile.TemporaryDirectory() as tmp:
        got = [_bench_once(lab.url, Path(tmp) / "run.json") for _ in range(runs)]
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    interpreter = time.perf_counter() - t0
    scale = 1024 if sys.platform != "darwin" else 1
    med = {k: statistics.median(g[k] for g in got) for k in ("wall", "requests", "cpu")}
    return {
        "runs": runs,
        "wall_s": round(med["wall"], 3),
        "requests_s": round(med["requests"], 3),
        "fixed_wall_s": round(statistics.median(g["wall"] - g["requests"] for g in got), 3),
        "fixed_wall_first_run_s": round(got[0]["wall"] - got[0]["requests"], 3),
        "bare_interpreter_s": round(interpreter, 3),
        "cpu_s": round(med["cpu"], 3),
        "max_rss_mb": round(max(g["maxrss"] for g in got) * scale / 1e6, 1),
        "targets": {"fixed_wall_s": 0.5, "cpu_s": 1.0, "max_rss_mb": 100},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=300, help="requests per loop per round (3 rounds)")
    ap.add_argument("--json", dest="json_path")
    args = ap.parse_args()
    results = {"overhead": overhead(args.requests), "accuracy": accuracy(30)}
    if sys.platform != "win32":
        results["fixed_cost"] = fixed_cost()
    print(json.dumps(results, indent=2))
    emit(results, args.json_path)


if __name__ == "__main__":
    main()
