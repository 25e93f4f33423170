"""Plotly figure builders for the app: plain arrays and tables in, ``go.Figure`` out.

Colour scales are Cividis/Viridis (readable with every common colour-vision deficiency) and
the categorical colours are Okabe-Ito; every axis names its quantity and unit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from scipy.stats import beta

from msmix_core import MODALITIES

#: Okabe-Ito colours, distinguishable with every common colour-vision deficiency.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")

#: Marker symbol per mixing method in the embedding scatter (real samples are circles).
METHOD_SYMBOLS = ("diamond", "triangle-up", "square", "star", "x")

#: The veil over the heatmap cells that fail δ (light grey, drawn at 80 % opacity).
VEIL_COLOR = "#EDEFF2"


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


def _rings(xy: np.ndarray, name: str, color: str, size: int) -> go.Scattergl:
    """Open circles around points ``xy`` ``[K, 2]`` (search hits, points placed off the map), no hover."""
    return go.Scattergl(
        x=xy[:, 0],
        y=xy[:, 1],
        mode="markers",
        name=name,
        marker={"size": size, "symbol": "circle-open", "color": color, "line": {"width": 2}},
        hoverinfo="skip",
    )


def embedding_scatter(
    real_xy: np.ndarray,
    labels: np.ndarray,
    label_range: tuple[float, float],
    mixed: dict[str, tuple[np.ndarray, np.ndarray, list[str]]] | None = None,
    axis_name: str = "UMAP",
    *,
    captions: list[str] | None = None,
    highlight: np.ndarray | None = None,
    flagged: np.ndarray | None = None,
) -> go.Figure:
    """Real and mixed samples on one colour scale (Viridis, by label), one marker shape per method.

    ``mixed``: method name -> (``[M, 2]`` coordinates, ``[M]`` mixed labels, one hover text per
    point): a mixed point has the colour its mixed label would have as a real sample, so a point
    whose colour differs from its neighbours' sits among samples of another sentiment.
    ``captions``: one text per real sample (its sentence and speaker) added to its hover text.
    ``highlight``: positions of real samples to ring (search hits, the picked sample);
    ``flagged``: ``[K, 2]`` coordinates of mixed points placed off the map, ringed in vermillion.
    """
    captions = captions if captions is not None else [""] * len(labels)
    scale = {"colorscale": "Viridis", "cmin": label_range[0], "cmax": label_range[1]}
    fig = go.Figure(
        go.Scattergl(
            x=real_xy[:, 0],
            y=real_xy[:, 1],
            mode="markers",
            name="real samples",
            marker={"size": 7, "color": labels, "colorbar": {"title": "label"}, "opacity": 0.8, **scale},
            text=[f"real · label {y:+.2f}" + (f"<br>{c}" if c else "") for y, c in zip(labels, captions, strict=True)],
            hovertemplate="%{text}<extra></extra>",
        )
    )
    for k, (name, (xy, mixed_labels, hover)) in enumerate((mixed or {}).items()):
        fig.add_trace(
            go.Scattergl(
                x=xy[:, 0],
                y=xy[:, 1],
                mode="markers",
                name=f"mixed: {name}",
                marker={
                    "size": 10,
                    "symbol": METHOD_SYMBOLS[k % len(METHOD_SYMBOLS)],
                    "color": mixed_labels,
                    "line": {"width": 1, "color": "#1B1F24"},
                    **scale,
                },
                text=hover,
                hovertemplate="%{text}<extra></extra>",
            )
        )
    if highlight is not None and len(highlight):
        fig.add_trace(_rings(real_xy[highlight], f"found: {len(highlight)}", "#000000", 16))
    if flagged is not None and len(flagged):
        fig.add_trace(_rings(flagged, f"placed off the map: {len(flagged)}", OKABE_ITO[3], 18))
    fig.update_layout(
        xaxis_title=f"{axis_name} 1 (arbitrary units)",
        yaxis_title=f"{axis_name} 2 (arbitrary units)",
        height=600,
        legend={"orientation": "h", "y": -0.12},
    )
    return fig
