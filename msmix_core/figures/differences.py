"""Differences from a reference over seeds (Ablation and Robustness): a dot at the mean paired
difference, a whisker for its 95 % interval, and each seed's difference as a faint dot.

The axis is drawn around the differences and their intervals, with 0 (the reference) always in
view: a gap is read against the spread of the seeds, never against a bar that starts at 0 (a
half-point gap at 75 % accuracy is invisible there), and a zoom that hid the spread would make
noise look like an effect. The raw means belong in the pages' tables.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from msmix_core import MODALITIES
from msmix_core.figures.layout import axis_suffix, panels
from msmix_core.figures.palette import OKABE_ITO
from msmix_core.metrics import higher_is_better, is_percent_metric

#: The x position (past the highest noise level) and tick text of the removed-modality point.
REMOVED = "removed"


def difference_title(metric: str, reference: str, split: str = "test") -> str:
    """An axis title that names the difference, its unit and which way is better."""
    unit = "percentage points" if is_percent_metric(metric) else "metric units"
    way = "higher" if higher_is_better(metric) else "lower"
    return f"{split} {metric}: variant − {reference} ({unit}; {way} is better)"


def spread_range(values: Sequence[float] | np.ndarray) -> list[float]:
    """An axis range that holds every value and 0, with a margin of 12 % of the span on each side."""
    finite = np.asarray(values, dtype=float)
    finite = np.append(finite[np.isfinite(finite)], 0.0)
    low, high = float(finite.min()), float(finite.max())
    margin = 0.12 * (high - low) or 1.0
    return [low - margin, high + margin]


def difference_dots(compared: pd.DataFrame, points: pd.DataFrame, metric: str, reference: str) -> go.Figure:
    """Each variant's paired difference from ``reference`` on ``metric``, one row per variant.

    ``compared`` holds :func:`~msmix_core.runs.compare_runs` rows (``delta``, ``ci_low``, ``ci_high``),
    ``points`` :func:`~msmix_core.runs.paired_differences` rows (one per variant and seed).
    """
    rows = compared[(compared["metric"] == metric) & (compared["label"] != reference)]
    labels = list(rows["label"])
    fig = go.Figure()
    if not points.empty:
        fig.add_trace(
            go.Scatter(
                x=points["difference"],
                y=points["label"],
                mode="markers",
                marker={"size": 7, "color": "#888888", "opacity": 0.5},
                name="one seed",
                customdata=points["seed"],
                hovertemplate="%{y}, seed %{customdata}<br>difference %{x:.4g}<extra></extra>",
            )
        )
    shown = rows.dropna(subset=["delta"])
    fig.add_trace(
        go.Scatter(
            x=shown["delta"],
            y=shown["label"],
            mode="markers",
            marker={"size": 12, "color": OKABE_ITO[0]},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": (shown["ci_high"] - shown["delta"]).fillna(0.0),
                "arrayminus": (shown["delta"] - shown["ci_low"]).fillna(0.0),
                "thickness": 2,
                "width": 8,
            },
            name="mean, 95 % interval over seeds",
            customdata=np.stack([shown["ci_low"], shown["ci_high"], shown["n_paired"]], axis=-1),
            hovertemplate="%{y}<br>mean difference %{x:.4g}<br>95 % interval [%{customdata[0]:.4g}, "
            "%{customdata[1]:.4g}] over %{customdata[2]} seeds<extra></extra>",
        )
    )
    fig.add_vline(x=0, line_dash="dash", line_color="#555555")  # the reference; the axis title names it
    extent = [*points["difference"], *shown["ci_low"], *shown["ci_high"], *shown["delta"]]
    fig.update_xaxes(
        title_text=difference_title(metric, reference), range=spread_range(extent), zeroline=False, tickformat=".3~g"
    )
    fig.update_yaxes(title_text="variant", categoryorder="array", categoryarray=labels[::-1])
    fig.update_layout(height=120 + 60 * max(len(labels), 1), legend={"orientation": "h", "y": -0.35})
    return fig


def robustness_differences(differences: pd.DataFrame, metric: str, reference: str, split: str = "test") -> go.Figure:
    """Each method's difference from ``reference`` against noise level, one panel per modality.

    ``differences`` comes from :func:`~msmix_core.experiments.comparisons.seed_differences`; the
    whiskers are 95 % intervals over seeds, and the point after the highest level is the score with
    the modality removed.
    """
    modalities = [m for m in MODALITIES if m in set(differences["modality"])]
    layout = panels(modalities, shared_y=True)
    noise = differences[differences["condition"] == "noise"]
    levels = sorted(set(noise["level"].dropna()))
    removed_at = (levels[-1] + (levels[1] - levels[0] if len(levels) > 1 else 1.0)) if levels else 1.0
    data = []
    for i, (label, part) in enumerate(
        differences[differences["modality"].isin(modalities)].groupby("label", sort=False)
    ):
        color = OKABE_ITO[(i + 1) % len(OKABE_ITO)]
        for column, m in enumerate(modalities, start=1):
            axes = {"xaxis": f"x{axis_suffix(column)}", "yaxis": f"y{axis_suffix(column)}", "legendgroup": str(label)}
            rows = part[(part["modality"] == m) & (part["condition"] == "noise")].sort_values("level")
            gone = part[(part["modality"] == m) & (part["condition"] == "zeroed")]
            for frame, x, mode in ((rows, rows["level"], "lines+markers"), (gone, [removed_at] * len(gone), "markers")):
                data.append(
                    {
                        "type": "scatter",
                        "x": list(x),
                        "y": frame["delta"],
                        "mode": mode,
                        "line": {"color": color},
                        "marker": {"color": color, "size": 8},
                        "error_y": {
                            "type": "data",
                            "symmetric": False,
                            "array": (frame["ci_high"] - frame["delta"]).fillna(0.0),
                            "arrayminus": (frame["delta"] - frame["ci_low"]).fillna(0.0),
                        },
                        "name": str(label),
                        "showlegend": column == 1 and mode != "markers",
                        "customdata": frame["n_paired"],
                        "hovertemplate": f"{label}, {m}<br>x %{{x}}<br>difference %{{y:.4g}} over "
                        "%{customdata} seeds<extra></extra>",
                        **axes,
                    }
                )
            suffix = axis_suffix(column)
            ticks = [*levels, removed_at]
            layout[f"xaxis{suffix}"] |= {
                "title": {"text": "noise level (× feature std)"},
                "tickvals": ticks,
                "ticktext": [*(f"{v:g}" for v in levels), REMOVED],
            }
            layout.setdefault("shapes", []).append(
                {
                    "type": "line",
                    "xref": f"x{suffix} domain",
                    "x0": 0,
                    "x1": 1,
                    "yref": f"y{suffix}",
                    "y0": 0,
                    "y1": 0,
                    "line": {"dash": "dash", "color": "#555555", "width": 1},
                }
            )
    extent = [*differences["ci_low"], *differences["ci_high"], *differences["delta"]]
    for column in range(1, len(modalities) + 1):
        layout[f"yaxis{axis_suffix(column)}"] |= {"range": spread_range(extent), "tickformat": ".3~g"}
    layout["yaxis"]["title"] = {"text": difference_title(metric, reference, split)}
    layout.update(height=420, legend={"orientation": "h", "y": -0.3})
    return go.Figure({"data": data, "layout": layout})
