"""The winner as settings `apply` takes, the Ollama service variables, and the reasoning in real units.

The figures are the held-out re-measurement's (the verdict); keep_alive is argued from the idle-gap
profile's distribution (its 95th and 99th percentiles, and the user's own traffic when given), not from the
handful of gaps the trials sampled.
"""

from __future__ import annotations

from dataclasses import dataclass

from tuner.i18n import _
from tuner.install.endpoints import with_host
from tuner.plan.settings import Setting
from tuner.search.coverage import COVER_TARGET, Profile, coverage
from tuner.search.select import Verdict
from tuner.search.space import TIMEOUT_MARGIN, Facts, timeout_floor


@dataclass(frozen=True)
class Recommendation:
    settings: tuple[Setting, ...]  # for apply: the install's files and the Ollama service (keep_alive)
    reasons: tuple[str, ...]


def human_seconds(seconds: float) -> str:
    if seconds < 0:
        return _("forever")
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
    profile: Profile,
    *,
    entry: str | None,
    configured_url: str | None,
    memory_free: bool,
) -> Recommendation:
    if not verdict.significant:
        return Recommendation(
            (),
            (
                _(
                    "no candidate beat the current settings beyond noise on held-out gaps (best p95 ratio "
                    "{ratio:.2f}, 95% CI {lo:.2f}–{hi:.2f}); nothing to change"
                ).format(ratio=verdict.ratio, lo=verdict.ci[0], hi=verdict.ci[1]),
            ),
        )
    win, base = verdict.winner.config, verdict.baseline.config
    settings: list[Setting] = []
    reasons = [
        _(
            "held-out gaps: p95 {base_p95} → {win_p95} (×{ratio:.2f}, 95% CI ×{lo:.2f}–×{hi:.2f}); "
            "p50 {base_p50} → {win_p50}"
        ).format(
            base_p95=human_seconds(verdict.baseline.p95),
            win_p95=human_seconds(verdict.winner.p95),
            ratio=verdict.ratio,
            lo=verdict.ci[0],
            hi=verdict.ci[1],
            base_p50=human_seconds(verdict.baseline.p50),
            win_p50=human_seconds(verdict.winner.p50),
        )
    ]
    if win.host != base.host and configured_url:
        settings.append(Setting("ollama_url", entry, with_host(configured_url, win.host)))
        reasons.append(
            _(
                "ollama_url: {before} → {after}: new connections by name paid the fallback delay measured "
                "on this install (see doctor)"
            ).format(before=base.host, after=win.host)
        )
    if win.keep_alive != base.keep_alive:
        settings.append(Setting("keep_alive", None, win.keep_alive))
        ka = win.keep_alive_seconds
        reasons.append(
            _(
                "keep_alive {before} → {after}: your idle-gap profile has p95 {p95} and p99 {p99}; {after} "
                "keeps the model loaded after {covered:.1%} of its gaps ({target:.0%} wanted, so that a p95 "
                "holds on days the study did not see){traffic}, and each cold load costs {cold} (measured); "
                "average resident memory {mem_before:.1f} → {mem_after:.1f} GB{memory}"
            ).format(
                before=base.keep_alive,
                after=win.keep_alive,
                p95=human_seconds(profile.quantile(0.95)),
                p99=human_seconds(profile.quantile(0.99)),
                covered=coverage(ka, profile.gaps),
                target=COVER_TARGET,
                traffic=_("; {share:.1%} of your traffic's gaps").format(share=coverage(ka, profile.traffic))
                if profile.traffic
                else "",
                cold=human_seconds(facts.cold_load),
                mem_before=verdict.baseline.resident_gb,
                mem_after=verdict.winner.resident_gb,
                memory=""
                if memory_free
                else _(" (memory counted: among settings tied on latency the smaller one wins)"),
            )
        )
    timeout = win.timeout
    if facts.current_timeout <= 0 or abs(timeout - facts.current_timeout) / facts.current_timeout > 0.1:
        settings.append(Setting("api_timeout", None, float(timeout)))
        reasons.append(
            _(
                "api_timeout {before:g} s → {after:g} s: the smallest round value above {floor} (a cold load "
                "plus the longest answer{queue}, measured, ×{margin:g}): a shorter one aborts cold loads "
                "(each retry starts the load over), a longer one only lets a hung backend hold a request "
                "longer"
            ).format(
                before=facts.current_timeout,
                after=timeout,
                floor=human_seconds(timeout_floor(facts)),
                queue=_(" once for each of the {users} users, who may all be queued ahead").format(
                    users=facts.users
                )
                if facts.users > 1 and not facts.open_loop
                else "",
                margin=TIMEOUT_MARGIN,
            )
        )
    if win.reuse and (not base.reuse or win.keepalive_expiry != base.keepalive_expiry):
        settings.append(Setting("keepalive_expiry", entry, win.keepalive_expiry))
        reasons.append(
            _("HTTP keep-alive expiry {before} → {after} (takes effect with the code patch)").format(
                before=human_seconds(base.keepalive_expiry), after=human_seconds(win.keepalive_expiry)
            )
        )
    from tuner.search.users import slot_settings  # several users: pool, slots, loaded models

    more, why = slot_settings(win, base, facts, entry)
    return Recommendation((*settings, *more), (*reasons, *why))
