"""Figures of the Sweeps page: a metric against a knob's value over seeds, and Optuna's study plots."""

from __future__ import annotations

from collections.abc import Mapping

import optuna
import pandas as pd
import plotly.graph_objects as go
from optuna.importance import FanovaImportanceEvaluator

from msmix_core.errors import MsmixError
from msmix_core.figures.palette import BAND, OKABE_ITO
from msmix_core.figures.training import _axis_title, _scale

#: Line style of each marked value (the default, the paper's), in the order they are given.
MARK_DASHES = ("dash", "dot", "dashdot")


def sweep_chart(tables: Mapping[str, pd.DataFrame], knob: str, metric: str, marks: Mapping[str, float]) -> go.Figure:
    """Mean ``metric`` against ``knob``, one line per sweep (rows of ``sweep_table``), a ±1 std band around
    each (the spread over seeds, so a reader sees whether two values differ by more than noise), and a
    vertical line at each of ``marks`` (the default, the paper's value)."""
    fig = go.Figure()
    scale = _scale(metric)
    for i, (name, table) in enumerate(tables.items()):
        color = OKABE_ITO[i % len(OKABE_ITO)]
        x, mean, std = table[knob].astype(float), table["mean"] * scale, table["std"].fillna(0.0) * scale
        band_x = pd.concat([x, x[::-1]])
        band_y = pd.concat([mean + std, (mean - std)[::-1]])
        fig.add_trace(go.Scatter(x=band_x, y=band_y, fillcolor=color, legendgroup=name, name=f"{name} ± std", **BAND))
        fig.add_trace(
            go.Scatter(
                x=x,
                y=mean,
                mode="lines+markers",
                name=name,
                legendgroup=name,
                line={"color": color},
                customdata=list(zip(std, table["n"], strict=True)),
                hovertemplate=f"{knob} %{{x:.4g}}<br>{metric} %{{y:.4g}} ± %{{customdata[0]:.3g}}"
                "<br>%{customdata[1]} seeds<extra>" + name + "</extra>",
            )
        )
    for (label, value), dash in zip(marks.items(), MARK_DASHES, strict=False):
        fig.add_vline(x=value, line_dash=dash, line_color="#555555", annotation_text=f"{label} {value:g}")
    fig.update_xaxes(title_text=knob)
    fig.update_yaxes(title_text=f"test {_axis_title(metric)}, mean ± std over seeds")
    fig.update_layout(height=420, legend={"orientation": "h", "y": -0.25}, hovermode="closest")
    return fig


def study_figures(study: optuna.Study, seed: int = 0) -> dict[str, go.Figure]:
    """Optuna's optimisation history and parameter importances (fANOVA, seeded by ``seed``) of a study.

    The importances need two complete trials that vary a knob; without them only the history is drawn.
    """
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        raise MsmixError(f"study {study.study_name!r} has no complete trial yet: nothing to plot")
    figures = {"history": optuna.visualization.plot_optimization_history(study)}
    if len(complete) >= 2 and any(t.params for t in complete):
        evaluator = FanovaImportanceEvaluator(seed=seed)
        figures["importances"] = optuna.visualization.plot_param_importances(study, evaluator=evaluator)
    return figures
