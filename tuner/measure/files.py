"""Bench results on disk: JSON (settings, summary and every sample) and CSV (every sample)."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path
from typing import Any

from tuner.errors import UserError
from tuner.measure.runner import RunResult, Sample
from tuner.measure.stats import PhaseSummary, Summary, summarize

FORMAT = "chatchat-tune-bench"
SAMPLE_FIELDS = [f.name for f in dataclasses.fields(Sample)]


def to_json(result: RunResult) -> str:
    data = {
        FORMAT: 1,
        "url": result.url,
        "workload": dataclasses.asdict(result.workload),
        "client": dataclasses.asdict(result.client),
        "summary": dataclasses.asdict(summarize(result)),
        "interrupted": result.interrupted,
        "samples": [dataclasses.asdict(s) for s in result.samples],
    }
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"


def to_csv(result: RunResult) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=SAMPLE_FIELDS, lineterminator="\n")
    writer.writeheader()
    for s in result.samples:
        writer.writerow(dataclasses.asdict(s))
    return buf.getvalue()


def load_summary(path: Path) -> tuple[dict[str, Any], Summary]:
    """A saved run's header and summary, for ``bench --compare``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError("no such bench file", path) from None
    except (ValueError, OSError) as exc:
        raise UserError(f"not a readable bench JSON file ({exc})", path) from None
    if not isinstance(data, dict) or data.get(FORMAT) != 1:
        raise UserError(f'not a chatchat-tune bench file (no "{FORMAT}": 1)', path)
    s = data["summary"]
    phases = tuple(PhaseSummary(**p) for p in s.pop("phases"))
    return data, Summary(phases=phases, **s)
