"""`chatchat-tune report`: one offline HTML page for a study.

It opens with the verdict and the recommended settings (as the search stored them, with the held-out
figures), then the before/after latency distributions, the latency/memory trade-off and every trial
labelled with its settings, then Optuna's own plots. plotly.js is inlined once, in the page's head; each
figure is a ``<div>`` that uses it. ``<html lang>`` follows the user's language; the font stack covers CJK.

Needs the ``report`` extra (plotly); imported only here.
"""

from __future__ import annotations

import contextlib
import html
import math
import os
from pathlib import Path
from typing import Any

from tuner.errors import UserError
from tuner.i18n import _

FONTS = (
    'system-ui, -apple-system, "Segoe UI", "PingFang SC", "Hiragino Sans GB", "Microsoft YaHei", '
    '"Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei", sans-serif'
)
STYLE = (
    f"body{{font-family:{FONTS};max-width:1100px;margin:2em auto;padding:0 1em;line-height:1.45}}"
    "table{border-collapse:collapse}td,th{padding:.2em .6em;border-bottom:1px solid #ddd;text-align:left}"
    ".verdict{font-size:1.15em;padding:.6em 1em;border-left:.3em solid #2a7;background:#f4faf6}"
    ".verdict.no{border-color:#b80;background:#fdf8ef}"
)


def language() -> str:
    """The user's language as a BCP 47 tag for ``<html lang>`` (``zh-CN``, ``en``): from
    ``tuner.i18n.language()`` when the catalogs provide it, else from the same environment gettext reads
    (LANGUAGE, LC_ALL, LC_MESSAGES, LANG)."""
    from tuner import i18n

    found = getattr(i18n, "tag", None)  # i18n.language() is "zh"/"en"; tag() is the BCP 47 tag
    if callable(found):
        value = found()
        if isinstance(value, str) and value:
            return value.replace("_", "-")
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        raw = os.environ.get(var, "")
        tag = raw.split(":")[0].split(".")[0].split("@")[0]
        if tag and tag not in ("C", "POSIX"):
            return tag.replace("_", "-")
    return "en"


def write_report(output: Path, *, root: Path | None, storage: str | None, study_name: str) -> Path:
    """Build the page for the study (in ``storage``, default the install's own) and save it to ``output``
    (through :func:`tuner.apply.outputs.save_output`, like every file the tool produces)."""
    from tuner.apply.outputs import save_output
    from tuner.install.detect import find_root
    from tuner.search.run import storage_url

    save_output(output, build_report(storage_url(storage, find_root(root).resolve()), study_name))
    return output


def _settings(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def _ms(value: object) -> str:
    from tuner.search.recommend import human_seconds

    return human_seconds(float(value) / 1000) if isinstance(value, int | float) else "-"


def _verdict_section(verdict: dict[str, Any] | None) -> list[str]:
    e = html.escape
    if not verdict:
        missing = _("This study has no verdict yet (the search did not finish).")
        return [f"<p class='verdict no'>{e(missing)}</p>"]
    held = verdict.get("heldout", {})
    ratio = verdict.get("ratio")
    speed = f"{1 / ratio:.1f}" if isinstance(ratio, int | float) and ratio > 0 else "-"
    ok = bool(verdict.get("significant"))
    line = _(
        "{winner} is {verdict} on held-out gaps (seed {seed}, {n} requests each): p95 {base} → {win}, "
        "defaults ÷ tuned {speed}"
    ).format(
        winner=verdict.get("winner", "?"),
        verdict=_("better beyond noise") if ok else _("not better beyond noise"),
        seed=held.get("seed", "?"),
        n=held.get("requests", "?"),
        base=_ms(held.get("baseline_p95_ms")),
        win=_ms(held.get("winner_p95_ms")),
        speed=speed,
    )
    parts = ["<h2>" + e(_("Verdict")) + "</h2>", f"<p class='verdict{'' if ok else ' no'}'>{e(line)}</p>"]
    tuned = verdict.get("tuned")
    if isinstance(tuned, dict):
        parts.append(
            "<p>"
            + e(
                _(
                    "On the study's own gaps: p95 {base} → {win} (the verdict rests on the held-out figures)."
                ).format(base=_ms(tuned.get("baseline_p95_ms")), win=_ms(tuned.get("winner_p95_ms")))
            )
            + "</p>"
        )
    parts.append(f"<p>{e(str(verdict.get('statistic', '')))}</p>")
    settings = verdict.get("settings") or []
    parts.append("<h2>" + e(_("Recommended settings")) + "</h2>")
    if settings:
        rows = "".join(
            f"<tr><td>{e(str(s['knob']))}</td><td>{e(str(s.get('entry') or ''))}</td>"
            f"<td>{e(str(s['value']))}</td></tr>"
            for s in settings
        )
        heads = "".join("<th>" + e(h) + "</th>" for h in (_("knob"), _("entry"), _("value")))
        parts.append(f"<table><tr>{heads}</tr>{rows}</table>")
    else:
        parts.append("<p>" + e(_("Nothing to change.")) + "</p>")
    reasons = verdict.get("reasons") or []
    if reasons:
        parts.append("<ul>" + "".join(f"<li>{e(str(r))}</li>" for r in reasons) + "</ul>")
    return parts


def build_report(storage: str, study_name: str) -> str:
    """The HTML page for a study (plotly.js inlined once, so the file stands alone)."""
    try:
        import plotly.graph_objects as go
        from optuna import visualization as vis
        from plotly.offline import get_plotlyjs
    except ImportError:
        raise UserError(_("the report needs plotly: pip install 'chatchat-tune[report]'")) from None
    import optuna

    from tuner.redact import mask_url
    from tuner.search.study import StudySpec, make_storage, result_of
    from tuner.search.summary import ATTR as VERDICT

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.load_study(
            study_name=study_name, storage=make_storage(StudySpec(storage, study_name, 0))
        )
    except KeyError:
        raise UserError(
            _("no study named {name!r} in {storage}").format(name=study_name, storage=mask_url(storage))
        ) from None
    e = html.escape
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE and t.values]
    figures: list[tuple[str, Any]] = []
    verify = study.user_attrs.get("verify", [])
    if verify:
        fig = go.Figure()
        for m in verify:
            fig.add_trace(
                go.Box(
                    x=[x / 1000 for x in m["totals_ms"]],
                    name=f"{m['label']}: {_settings(m['params'])}",
                    boxpoints="all",
                )
            )
        fig.update_layout(
            xaxis_title=_("request latency (s), held-out gaps"),
            title=_("Before / after: re-measured latency"),
            showlegend=False,
            height=160 + 60 * len(verify),
        )
        figures.append((_("Before / after"), fig))
    if done:
        labels = [f"#{t.number}: {_settings(t.params)}" for t in done]
        memory = go.Figure(
            go.Scatter(
                x=[result_of(t).get("resident_gb", math.nan) for t in done],
                y=[t.values[0] / 1000 for t in done],
                mode="markers",
                text=labels,
                hovertemplate="%{text}<br>%{x:.2f} GB, p95 %{y:.2f} s<extra></extra>",
            )
        )
        memory.update_layout(
            xaxis_title=_("average resident model memory (GB)"),
            yaxis_title=_("p95 (s), the study's gaps"),
            title=_("Latency against memory: every trial"),
        )
        figures.append((_("Memory trade-off"), memory))
        history = go.Figure(
            go.Scatter(
                x=[t.number for t in done],
                y=[t.values[0] / 1000 for t in done],
                mode="markers",
                text=labels,
                hovertemplate="%{text}<br>p95 %{y:.2f} s<extra></extra>",
            )
        )
        history.update_layout(xaxis_title=_("trial"), yaxis_title="p95 (s)")
        figures.append((_("Optimisation history"), history))
    multi = len(study.directions) > 1
    target = (lambda t: t.values[0]) if multi else None
    name = "p95 (ms)"
    if len(done) >= 3 and len(study.trials[0].params) > 1:
        with contextlib.suppress(RuntimeError, ValueError, ZeroDivisionError):
            figures.append(
                (
                    _("Parameter importances"),
                    vis.plot_param_importances(study, target=target, target_name=name),
                )
            )
    if done:
        figures.append(
            (_("Parallel coordinates"), vis.plot_parallel_coordinate(study, target=target, target_name=name))
        )
    if multi and done:
        figures.append(
            (_("Pareto front"), vis.plot_pareto_front(study, target_names=["p95 (ms)", "resident GB"]))
        )
    title = _("chatchat-tune: study {name}").format(name=study_name)
    parts = [
        f"<!doctype html><html lang='{e(language())}'><head><meta charset='utf-8'>",
        f"<title>{e(title)}</title><style>{STYLE}</style>",
        f"<script>{get_plotlyjs()}</script></head><body>",
        f"<h1>{e(title)}</h1>",
        *_verdict_section(study.user_attrs.get(VERDICT)),
    ]
    for heading, fig in figures:
        parts.append(f"<h2>{e(heading)}</h2>")
        parts.append(fig.to_html(full_html=False, include_plotlyjs=False))
    parts.append("<h2>" + e(_("Trials")) + "</h2>")
    parts.append(_trials_table(study))
    parts.append(
        "<p>"
        + e(_("{count} trials; storage {storage}").format(count=len(study.trials), storage=mask_url(storage)))
        + "</p>"
    )
    parts.append("</body></html>")
    return "\n".join(parts)


def _trials_table(study: Any) -> str:
    from tuner.search.study import result_of

    e = html.escape
    head = "".join(
        f"<th>{e(h)}</th>"
        for h in (_("trial"), _("state"), _("settings"), "p95", _("errors"), _("resident GB"))
    )
    rows = []
    for t in study.trials:
        r = result_of(t)
        p95 = _ms(t.values[0]) if t.values else "-"
        mark = _(" (baseline)") if t.user_attrs.get("baseline") else ""
        gb = r.get("resident_gb")
        rows.append(
            f"<tr><td>#{t.number}{e(mark)}</td><td>{e(t.state.name)}</td><td>{e(_settings(t.params))}</td>"
            f"<td>{e(p95)}</td><td>{e(str(r.get('errors', '-')))}</td>"
            f"<td>{f'{gb:.1f}' if isinstance(gb, int | float) else '-'}</td></tr>"
        )
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"
