"""`bench --compare` reads the current bench JSON (milliseconds, schema_version) and the files written
before it (``{"chatchat-tune-bench": 1}``, seconds): the same summary either way."""

from __future__ import annotations

import json
from pathlib import Path

from tuner.measure.files import load_summary

PHASE = {"phase": "total", "n": 2}
COUNTS = {"requests": 2, "ok": 2, "errors": {}, "new_connections": 1, "tokens": 10}


def test_the_current_and_the_old_format_give_the_same_summary(tmp_path: Path) -> None:
    new = {
        "schema_version": 1,
        "format": "chatchat-tune-bench",
        "summary": {
            **COUNTS,
            "phases": [
                PHASE | {"p50_ms": 100.0, "p90_ms": 200.0, "p95_ms": 250.0, "p99_ms": 300.0, "max_ms": 400.0}
            ],
            "wall_s": 1.5,
            "cpu_s": 0.1,
            "throughput_per_s": 1.3,
        },
    }
    old = {
        "chatchat-tune-bench": 1,
        "summary": {
            **COUNTS,
            "phases": [PHASE | {"p50": 0.1, "p90": 0.2, "p95": 0.25, "p99": 0.3, "max": 0.4}],
            "wall": 1.5,
            "cpu": 0.1,
            "throughput": 1.3,
        },
    }
    summaries = []
    for name, data in (("new.json", new), ("old.json", old)):
        path = tmp_path / name
        path.write_text(json.dumps(data), encoding="utf-8")
        summaries.append(load_summary(path)[1])
    a, b = summaries
    assert a.requests == b.requests == 2 and a.wall == b.wall == 1.5
    pa, pb = a.phase("total"), b.phase("total")
    assert pa is not None and pb is not None
    assert abs(pa.p95 - pb.p95) < 1e-9 and abs(pa.p50 - 0.1) < 1e-9
