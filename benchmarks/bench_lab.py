"""The lab's own cost: per-request overhead of the ``zero`` profile and warm requests per second.

Measured with raw HTTP/1.1 over reused keep-alive sockets on 127.0.0.1 (no client library in the way):
``GET /api/version`` (routing only) and ``POST /api/chat`` with ``num_predict: 1`` and ``stream: false``
(JSON parse, scheduling, slot, engine, response). Prompts vary per request. The lab runs in its own process.

    python benchmarks/bench_lab.py [--requests 2000] [--seconds 3] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path
from typing import Any

from tuner.lab.process import LabProcess


def _request(path: str, body: bytes | None) -> bytes:
    if body is None:
        return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    return head.encode() + b"Content-Length: %d\r\n\r\n" % len(body) + body


async def _one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes) -> int:
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    await reader.readexactly(length)
    return status


def _chat(i: int) -> bytes:
    body = {
        "model": "qwen2:7b",
        "messages": [{"role": "user", "content": f"question number {i}"}],
        "stream": False,
        "options": {"num_predict": 1},
    }
    return _request("/api/chat", json.dumps(body).encode())


async def _latency(port: int, n: int, make: Any) -> dict[str, float]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for i in range(50):  # warm-up (and the model load)
        await _one(reader, writer, make(i))
    samples = []
    for i in range(n):
        raw = make(i)
        start = time.perf_counter()
        status = await _one(reader, writer, raw)
        samples.append(time.perf_counter() - start)
        assert status == 200
    writer.close()
    q = statistics.quantiles(samples, n=100)
    return {"p50_ms": statistics.median(samples) * 1e3, "p95_ms": q[94] * 1e3, "n": n}


async def _throughput(port: int, clients: int, seconds: float) -> dict[str, float]:
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker(k: int) -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = 0
        while time.perf_counter() < deadline:
            assert await _one(reader, writer, _chat(k * 1_000_000 + i)) == 200
            i += 1
            done += 1
        writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(clients)))
    return {"clients": clients, "rps": done / (time.perf_counter() - start), "requests": done}


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    with LabProcess("zero", num_parallel=8) as lab:
        return {
            "client": "raw HTTP/1.1 on one reused keep-alive socket per client (asyncio)",
            "profile": "zero (num_parallel 8)",
            "overhead_version": await _latency(
                lab.port, args.requests, lambda i: _request("/api/version", None)
            ),
            "overhead_chat": await _latency(lab.port, args.requests, _chat),
            "warm_1_client": await _throughput(lab.port, 1, args.seconds),
            "warm_8_clients": await _throughput(lab.port, 8, args.seconds),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    result = asyncio.run(_main(args))
    for key in ("overhead_version", "overhead_chat"):
        r = result[key]
        print(f"{key:18} p50 {r['p50_ms']:.3f} ms  p95 {r['p95_ms']:.3f} ms  (n={r['n']})")
    for key in ("warm_1_client", "warm_8_clients"):
        r = result[key]
        print(f"{key:18} {r['rps']:.0f} requests/s  ({r['requests']} chat requests)")
    print(f"client: {result['client']}")
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
