"""The Embeddings page map: real latents coloured by label, mixed points by their mixed label."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from msmix_core.figures.palette import METHOD_SYMBOLS, OKABE_ITO


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
