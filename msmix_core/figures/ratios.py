"""Figures of the Mixing ratios page: the Beta draws of λ, intensities against labels, and what SAL compares."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from scipy.stats import beta

from msmix_core import MODALITIES
from msmix_core.figures.palette import OKABE_ITO


def lambda_histograms(lam: dict[str, np.ndarray], alpha: float, bins: int = 20) -> go.Figure:
    """Histograms (as densities) of each ratio against the Beta(α, α) density vanilla Mixup draws from."""
    keys = [k for k in (*MODALITIES, "label") if k in lam]
    fig = make_subplots(rows=1, cols=len(keys), subplot_titles=[f"λ_{k}" for k in keys], shared_yaxes=True)
    grid = np.linspace(0.005, 0.995, 199)
    density = beta.pdf(grid, alpha, alpha)
    for col, key in enumerate(keys, start=1):
        fig.add_trace(
            go.Histogram(
                x=np.asarray(lam[key]),
                xbins={"start": 0.0, "end": 1.0, "size": 1.0 / bins},
                histnorm="probability density",
                marker_color=OKABE_ITO[0],
                opacity=0.75,
                name="MS-Mix ratios",
                showlegend=col == 1,
            ),
            row=1,
            col=col,
        )
        fig.add_trace(
            go.Scatter(
                x=grid,
                y=density,
                mode="lines",
                line={"color": OKABE_ITO[3], "width": 2},
                name=f"Beta({alpha:g}, {alpha:g}) (vanilla Mixup)",
                showlegend=col == 1,
            ),
            row=1,
            col=col,
        )
        fig.update_xaxes(title_text="ratio of source a (0–1)", range=[0, 1], row=1, col=col)
    fig.update_yaxes(title_text="density", row=1, col=1)
    fig.update_layout(height=360, legend={"orientation": "h", "y": -0.3}, bargap=0.05)
    return fig


def intensity_scatter(table: pd.DataFrame) -> go.Figure:
    """Predicted intensity against ``|label|``, one panel per modality, one colour per ``predictor``.

    ``table`` has columns ``modality``, ``abs_label``, ``intensity``, ``row`` and ``predictor``
    (e.g. "untrained", "trained").
    """
    fig = make_subplots(rows=1, cols=len(MODALITIES), subplot_titles=MODALITIES, shared_yaxes=True)
    for p, (name, part) in enumerate(table.groupby("predictor", sort=False)):
        for col, m in enumerate(MODALITIES, start=1):
            rows = part[part["modality"] == m]
            fig.add_trace(
                go.Scattergl(
                    x=rows["abs_label"],
                    y=rows["intensity"],
                    mode="markers",
                    marker={"size": 5, "color": OKABE_ITO[p % len(OKABE_ITO)], "opacity": 0.7},
                    name=f"{name} predictor",
                    legendgroup=str(name),
                    showlegend=col == 1,
                    customdata=rows["row"],
                    hovertemplate="row %{customdata}<br>|label| %{x:.2f}<br>intensity %{y:.2f}<extra></extra>",
                ),
                row=1,
                col=col,
            )
            fig.update_xaxes(title_text="|label| (sentiment units)", row=1, col=col)
    fig.update_yaxes(title_text="predicted intensity (−3…3)", row=1, col=1)
    fig.update_layout(height=380, legend={"orientation": "h", "y": -0.3})
    return fig


def sal_distribution_chart(table: pd.DataFrame) -> go.Figure:
    """SAL's target and inputs: softmax over the batch of |label|/3 and of each |intensity|/3, by |label| rank.

    ``table``: :func:`msmix_core.analysis.alignment.sal_distributions` with a ``predictor`` column
    ("untrained", "trained"). The dotted line is the uniform distribution 1/B, to show how flat the target is.
    """
    fig = go.Figure()
    for p, (predictor, part) in enumerate(table.groupby("predictor", sort=False)):
        for s, (series, rows) in enumerate(part.groupby("series", sort=False)):
            is_label = series == "label"
            if is_label and p > 0:
                continue
            fig.add_trace(
                go.Scatter(
                    x=rows["rank"],
                    y=rows["p"],
                    mode="lines",
                    name="target: |label|" if is_label else f"{series} ({predictor})",
                    line={
                        "color": "black" if is_label else OKABE_ITO[s % len(OKABE_ITO)],
                        "width": 3 if is_label else 1.5,
                        "dash": "solid" if is_label or p == 0 else "dash",
                    },
                    customdata=rows["abs_label"],
                    hovertemplate="rank %{x}, |label| %{customdata:.2f}<br>p %{y:.4f}<extra></extra>",
                )
            )
    n = int(table["rank"].max()) + 1 if len(table) else 1
    fig.add_hline(y=1 / n, line_dash="dot", line_color="grey", annotation_text="uniform 1/B")
    fig.update_xaxes(title_text="samples of the batch, ranked by |label|")
    fig.update_yaxes(title_text="softmax weight over the batch")
    fig.update_layout(height=360, legend={"orientation": "h", "y": -0.3})
    return fig
