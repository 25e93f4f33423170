"""Figures of trained runs (Training and Robustness pages): tables in, ``go.Figure`` out."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import plotly.graph_objects as go

from msmix_core import MODALITIES
from msmix_core.figures.layout import axis_suffix, panels
from msmix_core.figures.palette import BAND, OKABE_ITO
from msmix_core.metrics import is_percent_metric

#: Line style per split in the training curves.
SPLIT_DASH = {"train": "dot", "valid": "dash", "test": "solid"}


def _axis_title(metric: str) -> str:
    if metric == "loss":
        return "loss (task-loss units; train = total)"
    return f"{metric} (%)" if is_percent_metric(metric) else metric


def _scale(metric: str) -> float:
    return 100.0 if is_percent_metric(metric) else 1.0


def training_curves(
    history: pd.DataFrame,
    metric: str,
    splits: tuple[str, ...] = ("valid", "test"),
    groups: Mapping[str, str] | None = None,
    each_run: bool = False,
) -> go.Figure:
    """``metric`` per epoch, one colour per group of runs and one dash per split (``history`` from ``history_frame``).

    ``groups`` maps a run to its group, e.g. the seeds of one method (default, and for a run it
    leaves out: the run alone). A group of several runs is drawn as its mean per epoch with a ±1 std
    band over the runs that reached that epoch (early stopping ends some sooner; the hover says how
    many), so the spread over seeds is seen next to the gap between methods; ``each_run`` adds each
    run's own line, thin. A group of one run is that run's line.
    """
    fig = go.Figure()
    scale = _scale(metric)
    rows = history[history["metric"] == metric]
    rows = rows.assign(group=rows["run"].map(lambda run: (groups or {}).get(run, run)), value=rows["value"] * scale)
    for i, (group, part) in enumerate(rows.groupby("group", sort=False)):
        color, members = OKABE_ITO[i % len(OKABE_ITO)], list(dict.fromkeys(part["run"]))
        for split in splits:
            lines = part[part["split"] == split].sort_values("epoch")
            if lines.empty:
                continue
            style = {"legendgroup": str(group), "line": {"color": color, "dash": SPLIT_DASH[split]}}
            if len(members) == 1 or each_run:
                for run, line in lines.groupby("run", sort=False):
                    alone = len(members) == 1
                    fig.add_trace(
                        go.Scatter(
                            x=line["epoch"],
                            y=line["value"],
                            mode="lines+markers" if alone else "lines",
                            name=f"{group} · {split}" if alone else f"{run} · {split}",
                            showlegend=alone,
                            opacity=1.0 if alone else 0.35,
                            hovertemplate=f"{run} ({split})<br>epoch %{{x}}<br>{metric} %{{y:.4g}}<extra></extra>",
                            **style,
                        )
                    )
            if len(members) > 1:
                _mean_and_band(fig, lines, f"{group} · {split}", metric, color, style)
    few_epochs = history.empty or history["epoch"].max() <= 12
    fig.update_xaxes(title_text="epoch", dtick=1 if few_epochs else None)
    fig.update_yaxes(title_text=_axis_title(metric))
    fig.update_layout(height=400, legend={"orientation": "h", "y": -0.25}, hovermode="x unified")
    return fig


def _mean_and_band(fig: go.Figure, lines: pd.DataFrame, name: str, metric: str, color: str, style: dict) -> None:
    """The mean of a group's runs per epoch, with a ±1 std (population) band over the runs that reached it."""
    stats = lines.groupby("epoch")["value"].agg(mean="mean", std=lambda v: v.std(ddof=0), n="size").reset_index()
    x = pd.concat([stats["epoch"], stats["epoch"][::-1]])
    y = pd.concat([stats["mean"] + stats["std"], (stats["mean"] - stats["std"])[::-1]])
    fig.add_trace(go.Scatter(x=x, y=y, fillcolor=color, legendgroup=style["legendgroup"], name=f"{name} ± std", **BAND))
    fig.add_trace(
        go.Scatter(
            x=stats["epoch"],
            y=stats["mean"],
            mode="lines+markers",
            name=f"{name} (mean ± std)",
            customdata=stats[["std", "n"]].to_numpy(),
            hovertemplate=f"{name}<br>epoch %{{x}}<br>{metric} %{{y:.4g}} ± %{{customdata[0]:.3g}}"
            "<br>mean of %{customdata[1]} runs<extra></extra>",
            **style,
        )
    )


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
