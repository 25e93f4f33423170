"""The Embeddings page map: real latents coloured by label, mixed points by their mixed label, in 2-D or 3-D."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from msmix_core.figures.palette import METHOD_SYMBOLS, OKABE_ITO

#: Marker symbols a 3-D scatter can draw, in the order of :data:`METHOD_SYMBOLS`' roles.
SYMBOLS_3D = ("diamond", "square", "cross", "x", "circle-open")
#: Name of the trace of real samples outside the label range (drawn grey, not coloured).
OUTSIDE = "outside the label range"


def _scatter(xy: np.ndarray, **kwargs) -> go.Scattergl | go.Scatter3d:
    """A 2-D (WebGL) or 3-D scatter of ``xy`` ``[K, 2|3]``."""
    if xy.shape[1] == 3:
        return go.Scatter3d(x=xy[:, 0], y=xy[:, 1], z=xy[:, 2], **kwargs)
    return go.Scattergl(x=xy[:, 0], y=xy[:, 1], **kwargs)


def _rings(xy: np.ndarray, name: str, color: str, size: int) -> go.Scattergl | go.Scatter3d:
    """Open circles around points ``xy`` ``[K, d]`` (search hits, neighbours, points placed off the map), no hover."""
    return _scatter(
        xy,
        mode="markers",
        name=name,
        marker={"size": size, "symbol": "circle-open", "color": color, "line": {"width": 2}},
        hoverinfo="skip",
    )


def _links(segments: np.ndarray, name: str) -> go.Scattergl | go.Scatter3d:
    """Lines from each mixed point to its two sources: ``segments`` ``[K, 3, d]`` (mixed, source a, source b)."""
    points = []
    for mixed, a, b in segments:
        points += [a, mixed, b, np.full_like(mixed, np.nan)]  # a gap (NaN) ends one polyline
    xy = np.asarray(points, dtype=np.float64).reshape(-1, segments.shape[2])
    return _scatter(xy, mode="lines", name=name, line={"color": "#1B1F24", "width": 2, "dash": "dot"}, hoverinfo="skip")


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
    inside: np.ndarray | None = None,
    neighbours: tuple[str, np.ndarray] | None = None,
    picked: tuple[str, int] | None = None,
    links: tuple[str, np.ndarray] | None = None,
) -> go.Figure:
    """Real and mixed samples on one colour scale (Viridis, by label), one marker shape per method.

    ``real_xy`` and the mixed coordinates are ``[N, 2]`` for a flat map, ``[N, 3]`` for a 3-D one.
    ``mixed``: method name -> (``[M, d]`` coordinates, ``[M]`` mixed labels, one hover text per
    point): a mixed point has the colour its mixed label would have as a real sample, so a point
    whose colour differs from its neighbours' sits among samples of another sentiment.
    ``captions``: one text per real sample (its sentence and speaker) added to its hover text.
    ``highlight``: positions of real samples to ring (search hits, the picked sample);
    ``flagged``: ``[K, d]`` coordinates of mixed points placed off the map, ringed in vermillion.
    ``inside``: ``bool [N]``, real samples within the label range; the others are drawn small and
    grey in a trace of their own. ``neighbours``: (legend name, positions) of real samples ringed
    in bluish green (the picked sample's nearest); ``picked``: (legend name, position) of the sample
    looked at, ringed in black; ``links``: (legend name, ``[K, 3, d]``) lines
    from mixed points to their sources. Every real point's ``customdata`` is its batch position,
    every mixed point's its row in the method's pair table, so a click names the sample.
    """
    captions = captions if captions is not None else [""] * len(labels)
    inside = np.ones(len(labels), dtype=bool) if inside is None else np.asarray(inside, dtype=bool)
    scale = {"colorscale": "Viridis", "cmin": label_range[0], "cmax": label_range[1]}
    three_d = real_xy.shape[1] == 3
    hover = [f"real · label {y:+.2f}" + (f"<br>{c}" if c else "") for y, c in zip(labels, captions, strict=True)]
    shown = np.flatnonzero(inside)
    fig = go.Figure(
        _scatter(
            real_xy[shown],
            mode="markers",
            name="real samples",
            marker={
                "size": 4 if three_d else 7,
                "color": labels[shown],
                "colorbar": {"title": "label"},
                "opacity": 0.8,
                **scale,
            },
            customdata=shown,
            text=[hover[i] for i in shown],
            hovertemplate="%{text}<extra></extra>",
        )
    )
    if not inside.all():
        hidden = np.flatnonzero(~inside)
        fig.add_trace(
            _scatter(
                real_xy[hidden],
                mode="markers",
                name=OUTSIDE,
                marker={"size": 3 if three_d else 5, "color": "#B8BEC6"},
                customdata=hidden,
                text=[hover[i] for i in hidden],
                hovertemplate="%{text}<extra></extra>",
            )
        )
    symbols = SYMBOLS_3D if three_d else METHOD_SYMBOLS
    for k, (name, (xy, mixed_labels, text)) in enumerate((mixed or {}).items()):
        fig.add_trace(
            _scatter(
                xy,
                mode="markers",
                name=f"mixed: {name}",
                marker={
                    "size": 6 if three_d else 10,
                    "symbol": symbols[k % len(symbols)],
                    "color": mixed_labels,
                    "line": {"width": 1, "color": "#1B1F24"},
                    **scale,
                },
                customdata=np.arange(len(xy)),
                text=text,
                hovertemplate="%{text}<extra></extra>",
            )
        )
    if links is not None and len(links[1]):
        fig.add_trace(_links(links[1], links[0]))
    if neighbours is not None and len(neighbours[1]):
        fig.add_trace(_rings(real_xy[neighbours[1]], neighbours[0], OKABE_ITO[2], 16))
    if picked is not None:
        fig.add_trace(_rings(real_xy[[picked[1]]], picked[0], "#000000", 20))
    if highlight is not None and len(highlight):
        fig.add_trace(_rings(real_xy[highlight], f"found: {len(highlight)}", "#000000", 16))
    if flagged is not None and len(flagged):
        fig.add_trace(_rings(flagged, f"placed off the map: {len(flagged)}", OKABE_ITO[3], 18))
    titles = [f"{axis_name} {k} (arbitrary units)" for k in (1, 2, 3)]
    if three_d:
        fig.update_layout(scene={"xaxis_title": titles[0], "yaxis_title": titles[1], "zaxis_title": titles[2]})
    else:
        fig.update_layout(xaxis_title=titles[0], yaxis_title=titles[1])
    fig.update_layout(height=650, legend={"orientation": "h", "y": -0.12}, font={"size": 13}, margin={"t": 30})
    return fig
