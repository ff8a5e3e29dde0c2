"""The verdict as the study keeps it: one study user attribute (``verdict``) that the report and a later
reader can show without re-measuring. Pure apart from the one write."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from tuner.jsonout import ms as _ms

if TYPE_CHECKING:
    from tuner.search.session import SearchOutcome

ATTR = "verdict"


def verdict_attr(outcome: SearchOutcome, statistic: str) -> dict[str, Any]:
    """The verdict, the held-out figures it rests on, and the recommended settings, JSON-ready."""
    v = outcome.verdict
    return {
        "winner": v.winner.label,
        "params": {k: v for k, v in v.winner.params.items()},
        "significant": v.significant,
        "ratio": v.ratio if math.isfinite(v.ratio) else None,
        "ci": [x if math.isfinite(x) else None for x in v.ci],
        "statistic": statistic,
        "heldout": {
            "seed": outcome.heldout_seed,
            "requests": outcome.heldout_requests,
            "baseline_p95_ms": _ms(v.baseline.p95),
            "winner_p95_ms": _ms(v.winner.p95),
            "baseline_p50_ms": _ms(v.baseline.p50),
            "winner_p50_ms": _ms(v.winner.p50),
        },
        "tuned": None
        if outcome.tuned_p95 is None
        else {"baseline_p95_ms": _ms(outcome.tuned_p95[0]), "winner_p95_ms": _ms(outcome.tuned_p95[1])},
        "resident_gb": {"baseline": v.baseline.resident_gb, "winner": v.winner.resident_gb},
        "settings": [
            {"knob": s.knob, "entry": s.entry, "value": s.value} for s in outcome.recommendation.settings
        ],
        "reasons": list(outcome.recommendation.reasons),
    }


def store_verdict(outcome: SearchOutcome, statistic: str) -> None:
    outcome.study.set_user_attr(ATTR, verdict_attr(outcome, statistic))
