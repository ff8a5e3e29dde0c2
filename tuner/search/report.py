"""`chatchat-tune report`: one HTML page with Optuna's plots and the before/after latency distributions.

Needs the ``report`` extra (plotly); imported only here.
"""

from __future__ import annotations

import contextlib
import html
from pathlib import Path

from tuner.errors import UserError


def write_report(output: Path, *, root: Path | None, storage: str | None, study_name: str) -> Path:
    """Build the page for the study (in ``storage``, default the install's own) and save it to ``output``
    (through :func:`tuner.apply.outputs.save_output`, like every file the tool produces)."""
    from tuner.apply.outputs import save_output
    from tuner.install.detect import find_root
    from tuner.search.run import storage_url

    save_output(output, build_report(storage_url(storage, find_root(root).resolve()), study_name))
    return output


def build_report(storage: str, study_name: str) -> str:
    """The HTML page for a study (plotly.js inlined once, so the file stands alone)."""
    try:
        import plotly.graph_objects as go
        from optuna import visualization as vis
    except ImportError:
        raise UserError("the report needs plotly: pip install 'chatchat-tune[report]'") from None
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        raise UserError(f"no study named {study_name!r} in {storage}") from None
    multi = len(study.directions) > 1
    figures = []
    target = (lambda t: t.values[0]) if multi else None
    name = "p95 (ms)"
    figures.append(
        ("Optimisation history", vis.plot_optimization_history(study, target=target, target_name=name))
    )
    completed = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if len(completed) >= 3 and len(study.trials[0].params) > 1:
        with contextlib.suppress(RuntimeError, ValueError, ZeroDivisionError):
            figures.append(
                ("Parameter importances", vis.plot_param_importances(study, target=target, target_name=name))
            )
    figures.append(
        ("Parallel coordinates", vis.plot_parallel_coordinate(study, target=target, target_name=name))
    )
    if multi:
        figures.append(
            ("Pareto front", vis.plot_pareto_front(study, target_names=["p95 (ms)", "resident GB"]))
        )
    verify = study.user_attrs.get("verify", [])
    if verify:
        fig = go.Figure()
        for m in verify:
            fig.add_trace(go.Box(x=m["totals_ms"], name=m["label"], boxpoints="all"))
        fig.update_layout(xaxis_title="request latency (ms)", title="Before/after: re-measured latency")
        figures.append(("Before / after", fig))
    parts = [
        "<!doctype html><meta charset='utf-8'>",
        f"<title>chatchat-tune report: {html.escape(study_name)}</title>",
        f"<h1>chatchat-tune: study {html.escape(study_name)}</h1>",
        f"<p>{len(study.trials)} trials; storage {html.escape(storage)}</p>",
    ]
    for i, (title, fig) in enumerate(figures):
        parts.append(f"<h2>{html.escape(title)}</h2>")
        parts.append(fig.to_html(full_html=False, include_plotlyjs="inline" if i == 0 else False))
    return "\n".join(parts)
