"""Render the watcher: a round's summary (or JSON), the serving lines, the emitted files."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.text import Text

from tuner.cli.render import err, out, print_json
from tuner.i18n import _

if TYPE_CHECKING:
    from tuner.watch.model import Baseline, Resident, RoundReport
    from tuner.watch.run import Emitted, Watcher

SCHEMA_VERSION = 1


def _s(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "-"
    if seconds < 0:
        return _("forever")
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.1f} s"


def _latest(r: RoundReport) -> tuple[Resident, ...] | None:
    """The last /api/ps view of the round (read again after the watcher's own chat, if it sent one)."""
    obs = r.observation
    return obs.resident_after if obs.resident_after is not None else obs.resident


def to_dict(r: RoundReport, baseline: Baseline) -> dict[str, Any]:
    obs, d = r.observation, r.decisions
    return {
        "schema_version": SCHEMA_VERSION,
        "install": r.target.install,
        "endpoint": r.target.endpoint,
        "model": r.target.model,
        "time_scale": r.time_scale,
        "round": {
            "requests": obs.requests,
            "received_bytes": obs.bytes_in,
            "duration_s": obs.finished_at - obs.started_at,
            "cpu_s": r.cpu_seconds,
            "chat_probe": obs.chat_probe,
        },
        "up": d.up,
        "probes": [
            {
                "name": p.name,
                "hop": p.hop,
                "ok": p.ok,
                "status": p.status,
                "error": p.error,
                "connect_s": p.connect,
                "first_byte_s": p.first_byte,
                "first_token_s": p.first_token,
                "total_s": p.total,
            }
            for p in obs.probes
        ],
        "resident": [
            {
                "model": m.model,
                "expires_in_s": -1.0 if math.isinf(m.expires_at) else m.expires_at - obs.finished_at,
                "vram_ratio": m.vram_share,
                "context_tokens": m.context_length,
            }
            for m in _latest(r) or ()
        ],
        "settings_hash": obs.settings_hash,
        "changed_since_apply": list(obs.changed_since_apply) if obs.changed_since_apply is not None else None,
        "keep_alive_s": {"lower": d.keep_alive[0], "upper": d.keep_alive[1]} if d.keep_alive else None,
        "planned_keep_alive_s": baseline.planned_keep_alive,
        "keep_alive_drift": d.keep_alive_drift,
        "settings_drift": d.settings_drift,
        "p95": None
        if d.p95 is None
        else {
            "samples": d.p95.samples,
            "p95_s": d.p95.p95,
            "baseline_p95_s": d.p95.baseline_p95,
            "ratio": d.p95.ratio,
            "ci": list(d.p95.ci),
            "regression": d.p95.regression,
        },
        "baseline": {"winner": baseline.winner, "samples": len(baseline.totals), "note": baseline.note},
        "findings": [{"code": f.code, "severity": f.severity, "title": f.title} for f in r.findings],
        "alerts": list(r.alerts),
    }


def summary(r: RoundReport, baseline: Baseline, *, as_json: bool) -> None:
    if as_json:
        print_json(to_dict(r, baseline))
        return
    obs, d = r.observation, r.decisions
    out.print(Text.assemble((r.target.install, "bold"), f"  {r.target.endpoint}  {r.target.model or '-'}"))
    ups = ", ".join(f"{hop} {'up' if ok else 'DOWN'}" for hop, ok in d.up.items()) or "-"
    out.print(_("backends: {ups}").format(ups=ups))
    for p in obs.probes:
        what = f"HTTP {p.status}" if p.status is not None else (p.error or "-")
        phases = _(
            "connect {connect}, first byte {first_byte}, first token {first_token}, total {total}"
        ).format(
            connect=_s(p.connect),
            first_byte=_s(p.first_byte),
            first_token=_s(p.first_token),
            total=_s(p.total),
        )
        out.print(f"  {p.name:20} {what:10} {phases}")
    for m in _latest(r) or ():
        left = -1.0 if math.isinf(m.expires_at) else m.expires_at - obs.finished_at
        out.print(
            _("resident: {model}, unloads in {left}, {vram:.0%} in VRAM, context {ctx}").format(
                model=m.model, left=_s(left), vram=m.vram_share, ctx=m.context_length or "-"
            )
        )
    if _latest(r) is not None and not _latest(r):
        out.print(_("resident: no model loaded"))
    out.print(_("settings hash: {hash}").format(hash=obs.settings_hash))
    if d.settings_drift:
        out.print(
            Text(
                _("changed since the last apply: {files}").format(
                    files=", ".join(obs.changed_since_apply or ())
                ),
                style="yellow",
            )
        )
    if d.keep_alive_drift:
        out.print(
            Text(
                _("keep_alive in force is not the plan's {planned}").format(
                    planned=_s(baseline.planned_keep_alive)
                ),
                style="yellow",
            )
        )
    if baseline.note:
        out.print(Text(baseline.note, style="dim"))
    for f in r.findings:
        out.print(
            Text(f"{f.severity:5} {f.code}: {f.title}", style="yellow" if f.severity != "info" else "cyan")
        )
    if r.alerts:
        out.print(Text(_("alert conditions: {names}").format(names=", ".join(r.alerts)), style="bold red"))
    else:
        out.print(Text(_("no alert condition holds"), style="green"))


def started(w: Watcher) -> None:
    keeps = (
        _("chat probe every {n} rounds: it keeps the model loaded").format(n=w.every)
        if w.every is not None
        else _("no chat probe: the model's idle timer is left alone")
    )
    err.print(
        _("watching {install} ({endpoint}) every {interval:g} s; {keeps}").format(
            install=w.target.install, endpoint=w.target.endpoint, interval=w.real_interval, keeps=keeps
        )
    )
    if w.baseline.note:
        err.print(Text(w.baseline.note, style="dim"))


def ready(url: str) -> None:
    err.print(_("metrics on {url} (Ctrl-C to stop)").format(url=url))


def progress(r: RoundReport) -> None:
    if r.alerts:
        err.print(
            Text(_("round {n}: {names}").format(n=r.state.rounds, names=", ".join(r.alerts)), style="yellow")
        )


def emitted(files: Sequence[Emitted], *, as_json: bool) -> None:
    if as_json:
        print_json(
            {
                "schema_version": SCHEMA_VERSION,
                "files": [{"path": str(f.path), "status": f.status} for f in files],
            }
        )
        return
    for f in files:
        out.print(f"{f.status:9} {f.path}")
