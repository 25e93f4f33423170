"""Figures of the Runs page: knob values against a metric, over the runs of a sweep or the trials of a study."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from msmix_core.errors import MsmixError
from msmix_core.figures.palette import OKABE_ITO
from msmix_core.runs.browse import value_text


def _short(column: str) -> str:
    """An axis name without the config's nesting: ``method_kwargs.threshold`` -> ``threshold``."""
    return column.rsplit(".", 1)[-1]


def _dimension(values: pd.Series) -> dict:
    """One parcoords axis: numbers as they are; anything else as evenly spaced categories with their names."""
    numbers = pd.to_numeric(values, errors="coerce")
    if values.map(lambda v: isinstance(v, bool)).any() or numbers.isna().any():
        texts = values.map(value_text)
        categories = sorted(texts.unique())
        codes = texts.map({text: i for i, text in enumerate(categories)})
        ticks = {"tickvals": list(range(len(categories))), "ticktext": categories}
        return {"label": _short(str(values.name)), "values": codes, **ticks}
    return {"label": _short(str(values.name)), "values": numbers}


def parallel_knobs(frame: pd.DataFrame, metric: str) -> go.Figure:
    """One line per run (or trial) across an axis per knob and a last axis for ``metric``, coloured by ``metric``.

    ``frame`` holds the knobs then ``metric`` (:func:`~msmix_core.runs.browse.knob_frame`,
    :func:`~msmix_core.experiments.tuning.study_frame`). Dragging along an axis keeps the lines in range.
    """
    if frame.empty or metric not in frame.columns:
        raise MsmixError(f"no finished run with {metric!r} to draw: widen the filter or pick another metric")
    knobs = [column for column in frame.columns if column != metric]
    if not knobs:
        raise MsmixError("these runs do not differ in any knob: filter to one sweep or study (e.g. search 'sweep')")
    dimensions = [_dimension(frame[column]) for column in knobs]
    dimensions.append({"label": metric, "values": frame[metric]})
    line = {"color": frame[metric], "colorscale": "Cividis", "showscale": True, "colorbar": {"title": {"text": metric}}}
    fonts = {"labelfont": {"size": 14}, "tickfont": {"size": 12}, "rangefont": {"size": 12}}  # parcoords' own: 10 px
    fig = go.Figure(go.Parcoords(line=line, dimensions=dimensions, **fonts))
    fig.update_layout(height=420, margin={"l": 60, "r": 60, "t": 60, "b": 30})
    return fig


def knob_scatter(frame: pd.DataFrame, knob: str, metric: str) -> go.Figure:
    """``metric`` against one knob: a dot per run (or trial), and the mean per knob value as a line."""
    if knob not in frame.columns or metric not in frame.columns:
        raise MsmixError(f"pick a knob of {[c for c in frame.columns if c != metric]} to plot {metric} against")
    numbers = pd.to_numeric(frame[knob], errors="coerce")
    x = numbers if numbers.notna().all() and not frame[knob].map(lambda v: isinstance(v, bool)).any() else None
    x = frame[knob].map(value_text) if x is None else x
    means = frame.assign(x=x).groupby("x", sort=True)[metric].mean()
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=x,
            y=frame[metric],
            mode="markers",
            name="run",
            marker={"color": OKABE_ITO[0], "opacity": 0.6, "size": 8},
            hovertemplate=f"{_short(knob)} %{{x}}<br>{metric} %{{y:.4g}}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=means.index,
            y=means.to_numpy(),
            mode="lines",
            name="mean per value",
            line={"color": OKABE_ITO[1]},
            hovertemplate=f"{_short(knob)} %{{x}}<br>mean {metric} %{{y:.4g}}<extra></extra>",
        )
    )
    fig.update_xaxes(title_text=_short(knob), type=None if x.dtype.kind in "fiu" else "category")
    fig.update_yaxes(title_text=metric)
    fig.update_layout(height=380, legend={"orientation": "h", "y": -0.25})
    return fig
