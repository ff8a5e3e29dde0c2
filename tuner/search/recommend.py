"""The winner as settings `apply` takes, the Ollama service variables, and the reasoning in real units."""

from __future__ import annotations

from dataclasses import dataclass

from tuner.install.endpoints import with_host
from tuner.measure.stats import percentile
from tuner.plan.settings import Setting
from tuner.search.select import Verdict
from tuner.search.space import TIMEOUT_MARGIN, Facts


@dataclass(frozen=True)
class Recommendation:
    settings: tuple[Setting, ...]  # for apply: the install's files and the Ollama service (keep_alive)
    reasons: tuple[str, ...]


def human_seconds(seconds: float) -> str:
    if seconds < 0:
        return "forever"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def recommend(
    verdict: Verdict,
    facts: Facts,
    gaps: tuple[float, ...],
    *,
    entry: str | None,
    configured_url: str | None,
    memory_free: bool,
) -> Recommendation:
    if not verdict.significant:
        return Recommendation(
            (),
            (
                f"no candidate beat the current settings beyond noise (best p95 ratio {verdict.ratio:.2f}, "
                f"95% CI "
                f"{verdict.ci[0]:.2f}–{verdict.ci[1]:.2f}); nothing to change",
            ),
        )
    win, base = verdict.winner.config, verdict.baseline.config
    settings: list[Setting] = []
    reasons = [
        f"p95 {human_seconds(verdict.baseline.p95)} → {human_seconds(verdict.winner.p95)} "
        f"(×{verdict.ratio:.2f}, 95% CI ×{verdict.ci[0]:.2f}–×{verdict.ci[1]:.2f}); p50 "
        f"{human_seconds(verdict.baseline.p50)} → {human_seconds(verdict.winner.p50)}"
    ]
    if win.host != base.host and configured_url:
        settings.append(Setting("ollama_url", entry, with_host(configured_url, win.host)))
        reasons.append(
            f"ollama_url: {base.host} → {win.host}: new connections by name paid the fallback "
            "delay measured on this install (see doctor)"
        )
    if win.keep_alive != base.keep_alive:
        settings.append(Setting("keep_alive", None, win.keep_alive))
        ka = win.keep_alive_seconds
        covered = sum(1 for g in gaps if ka < 0 or g <= ka) / len(gaps) if gaps else 0.0
        reasons.append(
            f"keep_alive {base.keep_alive} → {win.keep_alive}: your idle gaps are p50 "
            f"{human_seconds(percentile(gaps, 0.5))}, p90 {human_seconds(percentile(gaps, 0.9))}; "
            f"{win.keep_alive} keeps the model loaded across {covered:.0%} of them, and each cold load costs "
            f"{human_seconds(facts.cold_load)} (measured); average resident memory "
            f"{verdict.baseline.resident_gb:.1f} → {verdict.winner.resident_gb:.1f} GB"
            + (
                ""
                if memory_free
                else " (memory counted: among settings tied on latency the smaller one wins)"
            )
        )
    timeout = win.timeout
    if facts.current_timeout <= 0 or abs(timeout - facts.current_timeout) / facts.current_timeout > 0.1:
        settings.append(Setting("api_timeout", None, float(timeout)))
        reasons.append(
            f"api_timeout {facts.current_timeout:g} s → {timeout:g} s: the smallest round value above "
            f"{human_seconds(TIMEOUT_MARGIN * (facts.cold_load + facts.answer))} (a cold load plus the "
            f"longest answer, measured, ×{TIMEOUT_MARGIN:g}): a shorter one aborts cold loads (each retry "
            "starts the load over), a longer one only lets a hung backend hold a request longer"
        )
    if win.reuse and (not base.reuse or win.keepalive_expiry != base.keepalive_expiry):
        settings.append(Setting("keepalive_expiry", entry, win.keepalive_expiry))
        reasons.append(
            f"HTTP keep-alive expiry {human_seconds(base.keepalive_expiry)} → "
            f"{human_seconds(win.keepalive_expiry)} (takes effect with the code patch)"
        )
    from tuner.search.users import slot_settings  # several users: pool, slots, loaded models

    more, why = slot_settings(win, base, facts, entry)
    return Recommendation((*settings, *more), (*reasons, *why))
