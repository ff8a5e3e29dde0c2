"""The workload a study's trials were measured under, stored with the study so that a resumed study only
ever joins trials measured alike.

One value object, one study user attribute (``workload``, a JSON object). A field added later (the
multi-user workload: ``users``, ``rate_per_s``, ``traffic_sha256``) has a default, so a study stored
before it existed compares equal to a new one that leaves it at the default.

    fp = Fingerprint(model="qwen2:7b", idle_gap_s=600.0, ...)
    differences(stored_attr, fp)   # [] when the study may be resumed, else "idle_gap_s: 600 there, 30 here"
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ATTR = "workload"  # the study user attribute that holds it


@dataclass(frozen=True, kw_only=True)
class Fingerprint:
    """What makes two trials comparable: the same requests, under the same idle-gap profile, against the
    same model, through the same install code. Not the seed, the URL or the machine: workers on several
    machines share one study, each measuring its own backend."""

    model: str
    idle_gap_s: float  # the profile's mean gap
    gap_distribution: str
    requests_per_trial: int
    max_tokens: int  # the longest answer the install allows (its timeout floor depends on it)
    install: str  # Chatchat's layout generation ("0.3.1", "0.2.10", ...)
    code_patch: str  # "applied", "searched" (--patch-code) or "none"
    objective: str = "p95"
    users: int = 1  # closed-loop users (1: one request at a time)
    rate_per_s: float = 0.0  # open-loop arrival rate (0: none)
    traffic_sha256: str = ""  # the --traffic arrival times' hash ("" : none)
    embed_model: str = ""  # --embed-model: each request embeds its question first ("" : none)
    trial_tokens: int = 0  # search --max-tokens: tokens per answer in trials (0: the default)

    def as_attr(self) -> dict[str, object]:
        return dataclasses.asdict(self)


DEFAULTS: dict[str, object] = {
    f.name: f.default for f in dataclasses.fields(Fingerprint) if f.default is not dataclasses.MISSING
}


def _same(a: object, b: object) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(a)))
    return a == b


def _shown(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value) if value != "" else "none"


def differences(stored: Mapping[str, object], fp: Fingerprint) -> list[str]:
    """How the stored workload differs from ``fp``, one "field: X there, Y here" per field (empty: same).
    A field the stored one lacks counts as its default; a field this version does not know is a difference
    (a newer tool measured with a workload this one cannot reproduce)."""
    here = fp.as_attr()
    out = []
    for key, value in here.items():
        there = stored.get(key, DEFAULTS.get(key))
        if not _same(there, value):
            out.append(f"{key}: {_shown(there)} there, {_shown(value)} here")
    out += [f"{key}: {_shown(v)} there, unknown here" for key, v in stored.items() if key not in here]
    return out


def file_sha256(path: Path) -> str:
    """The content hash of a workload file (``--traffic``), for the fingerprint."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()
