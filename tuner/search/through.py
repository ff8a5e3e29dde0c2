"""The winner re-measured through Chatchat, beside the direct figure for the same workload.

A trial measures the tool's own client talking to Ollama the way Chatchat would (a new client per request
as shipped, one pool of ``api_concurrencies`` with the code patch). Users feel Chatchat itself. When the
install's Chatchat API answers, the same users (same gaps, same prompts, the winner's Ollama-side settings
in force) are played twice: directly against Ollama, and against Chatchat's ``/chat/chat/completions``,
and the verdict names what each figure measured. Chatchat's side of the winner (``api_concurrencies``, the
code patch) is whatever its settings and code are *now*: Chatchat reads them at start, so the figure shows
the winner's Chatchat-side settings only after ``apply`` and a restart of Chatchat.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import httpx

from tuner.i18n import _
from tuner.search.space import Config

if TYPE_CHECKING:
    from tuner.search.session import SearchOutcome
    from tuner.search.trial import Target, TrialResult

THROUGH_POOL = 64  # the users' side of Chatchat (browsers, the WebUI): never the bottleneck


@dataclass(frozen=True)
class Through:
    direct: TrialResult
    chatchat: TrialResult
    chatchat_api: str
    patched: bool  # the code patch is in Chatchat's package now
    time_scale: float = 1.0  # the lab's: figures are its modelled seconds

    def lines(self) -> tuple[str, ...]:
        d, c = self.direct, self.chatchat
        how = _("its code patch applied") if self.patched else _("as shipped (no code patch)")
        return (
            _(
                "direct: the tool's client → Ollama, the winner in force (Chatchat's side played by the "
                "tool): p50 {p50:.2f} s, p95 {p95:.2f} s, {errors} failed"
            ).format(p50=d.p50, p95=d.p95, errors=d.errors),
            _(
                "through Chatchat: {api}/chat/chat/completions, {how}, its settings files as they are now "
                "(the winner's Ollama side in force): p50 {p50:.2f} s, p95 {p95:.2f} s, {errors} failed"
            ).format(api=self.chatchat_api, how=how, p50=c.p50, p95=c.p95, errors=c.errors),
            _("Chatchat adds {extra:+.2f} s at p95 over the direct path").format(extra=c.p95 - d.p95),
        ) + (
            (
                _(
                    "(the lab runs at time scale {scale:g}: Chatchat's own processing is wall time, so it "
                    "counts ×{factor:g} in these figures)"
                ).format(scale=self.time_scale, factor=1 / self.time_scale),
            )
            if self.time_scale < 1
            else ()
        )


def answers(api: str) -> bool:
    """Chatchat's API is up (its OpenAPI page answers)."""
    try:
        return httpx.get(api.rstrip("/") + "/docs", timeout=3.0, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


def remeasure(
    target: Target,
    outcome: SearchOutcome,
    chatchat_api: str | None,
    patched: bool,
    *,
    host: str,
    on_stage: Callable[[str], None] = lambda _: None,
) -> Through | None:
    """With several users and an answering Chatchat: the winner, direct and through Chatchat."""
    if not outcome.verdict.winner.config.several or not chatchat_api or not answers(chatchat_api):
        return None
    on_stage(_("re-measuring the winner through Chatchat ({api})").format(api=chatchat_api))
    return measure_both(target, outcome.verdict.winner.config, outcome.gaps, chatchat_api, patched)


def measure_both(
    target: Target, config: Config, gaps: tuple[float, ...], chatchat_api: str, patched: bool
) -> Through:
    from tuner.search.trial import evaluate
    from tuner.search.users import UserTarget, evaluate_users, trial_result

    direct = evaluate(target, config, gaps, prompt_offset=700_000)
    users = UserTarget(target.users, target.embed_model, target.open_loop, target.arrivals)
    samples, cold = evaluate_users(
        target.root,
        target.model,
        replace(config, reuse=True, max_connections=THROUGH_POOL),
        gaps,
        users=users,
        time_scale=target.time_scale,
        max_tokens=target.max_tokens,
        stream=target.stream,
        settable=target.server_settable,
        prompt_offset=700_000,
        via=chatchat_api,
    )
    chatchat = trial_result(samples, cold, target.time_scale)
    return Through(direct, chatchat, chatchat_api.rstrip("/"), patched, target.time_scale)
