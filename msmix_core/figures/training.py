"""Figures of trained runs (Training and Robustness pages): tables in, ``go.Figure`` out."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from msmix_core import MODALITIES
from msmix_core.figures.layout import axis_suffix, panels
from msmix_core.figures.palette import OKABE_ITO
from msmix_core.metrics import is_percent_metric

#: Line style per split in the training curves.
SPLIT_DASH = {"train": "dot", "valid": "dash", "test": "solid"}


def _axis_title(metric: str) -> str:
    if metric == "loss":
        return "loss (task-loss units; train = total)"
    return f"{metric} (%)" if is_percent_metric(metric) else metric


def _scale(metric: str) -> float:
    return 100.0 if is_percent_metric(metric) else 1.0


def training_curves(history: pd.DataFrame, metric: str, splits: tuple[str, ...] = ("valid", "test")) -> go.Figure:
    """``metric`` per epoch, one colour per run and one dash per split (``history`` from ``history_frame``)."""
    fig = go.Figure()
    for i, (run, part) in enumerate(history.groupby("run", sort=False)):
        for split in splits:
            rows = part[(part["metric"] == metric) & (part["split"] == split)].sort_values("epoch")
            if rows.empty:
                continue
            fig.add_trace(
                go.Scatter(
                    x=rows["epoch"],
                    y=rows["value"] * _scale(metric),
                    mode="lines+markers",
                    name=f"{run} · {split}",
                    legendgroup=str(run),
                    line={"color": OKABE_ITO[i % len(OKABE_ITO)], "dash": SPLIT_DASH[split]},
                    hovertemplate=f"{run} ({split})<br>epoch %{{x}}<br>{metric} %{{y:.4g}}<extra></extra>",
                )
            )
    few_epochs = history.empty or history["epoch"].max() <= 12
    fig.update_xaxes(title_text="epoch", dtick=1 if few_epochs else None)
    fig.update_yaxes(title_text=_axis_title(metric))
    fig.update_layout(height=400, legend={"orientation": "h", "y": -0.25}, hovermode="x unified")
    return fig


def robustness_curves(table: pd.DataFrame, metric: str) -> go.Figure:
    """``metric`` against noise level, one panel per modality, one colour per method label.

    The zeroed-modality score is drawn as a dotted horizontal line in each panel and the clean
    score is the level-0 point. ``table`` comes from ``robustness_table`` (several rows of a label
    at one level, one per seed, are drawn as their mean). The axis spans the scores, not 0 to them:
    an MAE panel from 0 squeezes every curve into its top; the differences between methods, with
    their spread over seeds, are :func:`~msmix_core.figures.differences.robustness_differences`.
    """
    table = table.groupby(["label", "condition", "modality", "level"], sort=False, dropna=False).mean(numeric_only=True)
    table = table.reset_index()
    modalities = [m for m in MODALITIES if m in set(table["modality"])]
    layout = panels(modalities, shared_y=True)
    scale = _scale(metric)
    data = []
    for i, (label, part) in enumerate(table.groupby("label", sort=False)):
        color = OKABE_ITO[i % len(OKABE_ITO)]
        for column, m in enumerate(modalities, start=1):
            axes = {"xaxis": f"x{axis_suffix(column)}", "yaxis": f"y{axis_suffix(column)}", "legendgroup": str(label)}
            noise = part[(part["condition"] == "noise") & (part["modality"] == m)].sort_values("level")
            data.append(
                {
                    "type": "scatter",
                    "x": noise["level"],
                    "y": noise[metric] * scale,
                    "mode": "lines+markers",
                    "line": {"color": color},
                    "name": str(label),
                    "showlegend": column == 1,
                    "hovertemplate": f"{label}, {m} noised<br>level %{{x}}<br>{metric} %{{y:.4g}}<extra></extra>",
                    **axes,
                }
            )
            zeroed = part[(part["condition"] == "zeroed") & (part["modality"] == m)]
            if not zeroed.empty and not noise.empty:
                data.append(
                    {
                        "type": "scatter",
                        "x": [noise["level"].min(), noise["level"].max()],
                        "y": [zeroed[metric].iloc[0] * scale] * 2,
                        "mode": "lines",
                        "line": {"color": color, "dash": "dot"},
                        "name": f"{label} ({m} removed)",
                        "showlegend": False,
                        "hovertemplate": f"{label}, {m} removed<br>{metric} %{{y:.4g}}<extra></extra>",
                        **axes,
                    }
                )
            layout[f"xaxis{axis_suffix(column)}"]["title"] = {"text": "noise level (× feature std)"}
    layout["yaxis"]["title"] = {"text": f"{_axis_title(metric)}; dotted: modality removed"}
    layout.update(height=400, legend={"orientation": "h", "y": -0.3})
    return go.Figure({"data": data, "layout": layout})
