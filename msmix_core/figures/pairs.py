"""Figures of the Pair selection page: the similarity heatmap with its candidate mask, and the strategy bars."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from msmix_core.figures.palette import OKABE_ITO, VEIL_COLOR


def similarity_heatmap(
    similarity: np.ndarray,
    mask: np.ndarray | None = None,
    pairs: np.ndarray | None = None,
    title: str = "SASS similarity",
    *,
    order: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    label_range: tuple[float, float] = (-3.0, 3.0),
    order_name: str = "position in batch",
) -> go.Figure:
    """The ``[B, B]`` similarity (Cividis); cells that fail δ veiled; chosen pairs as crosses.

    ``mask`` (bool ``[B, B]``, True = candidate) is drawn as one veil layer over the cells that are
    *not* candidates, so the similarity colours stay readable however many pairs pass. ``order``
    (a permutation of batch positions) sorts rows and columns, e.g. by label, so blocks of like
    sentiment show; ``labels`` adds a strip of the samples' labels along the top, in that order.
    """
    b = len(similarity)
    order = np.arange(b) if order is None else np.asarray(order)
    rank = np.empty(b, dtype=np.int64)
    rank[order] = np.arange(b)
    rows = 2 if labels is not None else 1
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, row_heights=[0.04, 0.96][-rows:], vertical_spacing=0.01)
    heat_row = rows
    if labels is not None:
        fig.add_trace(
            go.Heatmap(
                z=np.asarray(labels)[order][None, :],
                colorscale="RdBu",
                zmin=label_range[0],
                zmax=label_range[1],
                showscale=False,
                name="label",
                hovertemplate="sample %{x}: label %{z:+.2f}<extra></extra>",
            ),
            row=1,
            col=1,
        )
        fig.update_yaxes(showticklabels=False, title_text="label", row=1, col=1)
    fig.add_trace(
        go.Heatmap(
            z=similarity[order][:, order],
            colorscale="Cividis",
            zmin=0.0,
            zmax=1.0,
            colorbar={"title": "similarity (0–1)", "len": 0.8},
            name="similarity",
            hovertemplate="a=%{y}, b=%{x}<br>similarity %{z:.3f}<extra></extra>",
        ),
        row=heat_row,
        col=1,
    )
    if mask is not None:
        veil = np.where(np.asarray(mask, dtype=bool)[order][:, order], np.nan, 1.0)
        fig.add_trace(
            go.Heatmap(
                z=veil,
                colorscale=[[0.0, VEIL_COLOR], [1.0, VEIL_COLOR]],
                showscale=False,
                opacity=0.8,
                name="not a candidate (similarity ≤ δ)",
                hoverinfo="skip",
            ),
            row=heat_row,
            col=1,
        )
    if pairs is not None and len(pairs):
        fig.add_trace(
            go.Scattergl(
                x=rank[pairs[:, 1]],
                y=rank[pairs[:, 0]],
                mode="markers",
                marker={"size": 7, "symbol": "x", "color": OKABE_ITO[3]},
                name=f"chosen pairs: {len(pairs)}",
                hovertemplate="pair a=%{y}, b=%{x}<extra></extra>",
            ),
            row=heat_row,
            col=1,
        )
    fig.update_xaxes(title_text=f"sample b ({order_name})", row=heat_row, col=1)
    fig.update_yaxes(title_text=f"sample a ({order_name})", autorange="reversed", row=heat_row, col=1)
    fig.update_layout(title=title, legend={"orientation": "h", "y": -0.15}, height=600, showlegend=True)
    return fig


def strategy_bars(stats: pd.DataFrame) -> go.Figure:
    """Contradictory-pair rate and mean ``|Δy|`` side by side, one bar per strategy."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Contradictory pairs", "Mean label gap |Δy|"))
    colors = [OKABE_ITO[i % len(OKABE_ITO)] for i in range(len(stats))]
    fig.add_trace(
        go.Bar(
            x=stats["strategy"],
            y=100 * stats["contradictory_rate"],
            marker_color=colors,
            hovertemplate="%{x}: %{y:.1f}%<extra></extra>",
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Bar(
            x=stats["strategy"],
            y=stats["mean_abs_label_gap"],
            marker_color=colors,
            hovertemplate="%{x}: %{y:.3f}<extra></extra>",
        ),
        row=1,
        col=2,
    )
    fig.update_yaxes(title_text="pairs with opposite-sign labels (%)", row=1, col=1)
    fig.update_yaxes(title_text="|y_a − y_b| (label units)", row=1, col=2)
    fig.update_layout(showlegend=False, height=380)
    return fig
