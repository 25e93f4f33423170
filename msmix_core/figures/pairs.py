"""Figures of the Pair selection page: the similarity heatmap with its candidate mask, and the strategy bars."""

from __future__ import annotations

import base64
import struct
import zlib
from functools import cache

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import hex_to_rgb, sample_colorscale, unlabel_rgb

from msmix_core.figures.layout import axis_suffix, panels
from msmix_core.figures.palette import OKABE_ITO, VEIL_COLOR, VEIL_OPACITY

#: Colour scale of the similarity (0–1), and how many steps of it the heatmap image uses.
SIMILARITY_SCALE = "Cividis"
LEVELS = 128


@cache
def similarity_palette() -> np.ndarray:
    """``uint8 [2·LEVELS, 3]``: the similarity's colour steps, then the same steps under the veil.

    The veil is :data:`~msmix_core.figures.palette.VEIL_COLOR` laid over a cell at
    :data:`~msmix_core.figures.palette.VEIL_OPACITY`, so a veiled cell keeps a trace of its colour.
    """
    steps = np.array([unlabel_rgb(c) for c in sample_colorscale(SIMILARITY_SCALE, np.linspace(0.0, 1.0, LEVELS))])
    veiled = (1 - VEIL_OPACITY) * steps + VEIL_OPACITY * np.asarray(hex_to_rgb(VEIL_COLOR), dtype=float)
    palette = np.rint(np.concatenate([steps, veiled])).astype(np.uint8)
    palette.setflags(write=False)  # computed once and shared by every call
    return palette


def similarity_levels(similarity: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """``uint8 [B, B]``: each cell's row in :func:`similarity_palette`, veiled where ``mask`` is False."""
    clipped = np.clip(np.nan_to_num(np.asarray(similarity, dtype=np.float64)), 0.0, 1.0)
    levels = np.rint(clipped * (LEVELS - 1)).astype(np.uint8)
    if mask is not None:
        levels[~np.asarray(mask, dtype=bool)] += LEVELS
    return levels


#: Colour scale of the label strip along the heatmap's top (red negative, blue positive).
LABEL_SCALE = "RdBu"


def label_colours(labels: np.ndarray, label_range: tuple[float, float]) -> np.ndarray:
    """``uint8 [B, 3]``: each label's colour on :data:`LABEL_SCALE` over ``label_range``, as the strip shows it."""
    low, high = label_range
    where = np.clip((np.asarray(labels, dtype=np.float64) - low) / (high - low), 0.0, 1.0)
    return np.rint([unlabel_rgb(c) for c in sample_colorscale(LABEL_SCALE, where.tolist())]).astype(np.uint8)


def png_data_uri(levels: np.ndarray, palette: np.ndarray) -> str:
    """An indexed image (``uint8 [H, W]`` rows of ``palette`` ``uint8 [K, 3]``) as a PNG ``data:`` URI.

    Written with zlib and the PNG chunks, no imaging library; one byte per pixel keeps a 256 × 256
    heatmap to a few tens of kilobytes.
    """
    height, width = levels.shape
    rows = np.concatenate([np.zeros((height, 1), np.uint8), np.asarray(levels, np.uint8)], axis=1)

    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)  # 8-bit palette indices, no interlace
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"PLTE", np.asarray(palette, np.uint8).tobytes())
    png += chunk(b"IDAT", zlib.compress(rows.tobytes(), 9)) + chunk(b"IEND", b"")
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


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
    """The ``[B, B]`` similarity (Cividis) as one image, cells that fail δ veiled; chosen pairs as crosses.

    The similarity colours and the veil over the cells ``mask`` (bool ``[B, B]``, True = candidate)
    rules out are baked into one indexed PNG (:func:`similarity_levels`), so the figure carries a few
    kilobytes whatever the batch size, and the colours stay readable however many pairs pass.
    ``order`` (a permutation of batch positions) sorts rows and columns, e.g. by label, so blocks
    of like sentiment show; ``labels`` adds a strip of the samples' labels along the top, in that order.
    """
    b = len(similarity)
    order = np.arange(b) if order is None else np.asarray(order)
    rank = np.empty(b, dtype=np.int64)
    rank[order] = np.arange(b)
    edges = [-0.5, b - 0.5]
    data: list[dict] = []
    layout = {
        "title": {"text": title},
        "height": 600,
        "showlegend": True,
        "legend": {"orientation": "h", "y": -0.15},
        "xaxis": {"title": {"text": f"sample b ({order_name})"}, "range": edges, "anchor": "y"},
        "yaxis": {"title": {"text": f"sample a ({order_name})"}, "range": edges[::-1], "domain": [0.0, 1.0]},
    }
    if labels is not None:
        layout["yaxis"]["domain"] = [0.0, 0.95]
        layout["yaxis2"] = {"domain": [0.96, 1.0], "showticklabels": False, "title": {"text": "label"}, "anchor": "x"}
        data.append(
            {
                "type": "heatmap",
                "yaxis": "y2",
                "z": np.asarray(labels)[order][None, :],
                "colorscale": LABEL_SCALE,
                "zmin": label_range[0],
                "zmax": label_range[1],
                "showscale": False,
                "name": "label",
                "hovertemplate": "sample %{x}: label %{z:+.2f}<extra></extra>",
            }
        )
    shown_mask = None if mask is None else np.asarray(mask, dtype=bool)[order][:, order]
    levels = similarity_levels(np.asarray(similarity)[order][:, order], shown_mask)
    data.append(
        {
            "type": "image",
            "source": png_data_uri(levels, similarity_palette()),
            "x0": 0,
            "y0": 0,
            "dx": 1,
            "dy": 1,
            "name": "similarity",
            "hovertemplate": "a=%{y}, b=%{x}<extra></extra>",
        }
    )
    data.append(  # the colour bar of the image: one marker-less trace that only carries the scale
        {
            "type": "scatter",
            "x": [None],
            "y": [None],
            "mode": "markers",
            "marker": {
                "colorscale": SIMILARITY_SCALE,
                "cmin": 0.0,
                "cmax": 1.0,
                "color": [0.0],
                "showscale": True,
                "colorbar": {"title": {"text": "similarity (0–1)"}, "len": 0.8},
            },
            "showlegend": False,
            "hoverinfo": "skip",
        }
    )
    if pairs is not None and len(pairs):
        data.append(
            {
                "type": "scatter",
                "x": rank[pairs[:, 1]],
                "y": rank[pairs[:, 0]],
                "mode": "markers",
                "marker": {"size": 7, "symbol": "x", "color": OKABE_ITO[3]},
                "name": f"chosen pairs: {len(pairs)}",
                "hovertemplate": "pair a=%{y}, b=%{x}<extra></extra>",
            }
        )
    return go.Figure({"data": data, "layout": layout})


def strategy_bars(stats: pd.DataFrame) -> go.Figure:
    """Contradictory-pair rate and mean ``|Δy|`` side by side, one bar per strategy."""
    colors = [OKABE_ITO[i % len(OKABE_ITO)] for i in range(len(stats))]
    layout = panels(("Drawn pairs with opposite signs", "Mean label gap |Δy|"))
    layout["yaxis"]["title"] = {"text": "drawn pairs with opposite-sign labels (%)"}
    layout["yaxis2"]["title"] = {"text": "|y_a − y_b| (label units)"}
    layout.update(showlegend=False, height=380)
    bars = [  # the height is the message: each bar says its value, a 0 % bar included
        (1, 100 * stats["contradictory_rate"], "%{y:.0f} %", "%{x}: %{y:.1f} %<extra></extra>"),
        (2, stats["mean_abs_label_gap"], "%{y:.2f}", "%{x}: %{y:.2f}<extra></extra>"),
    ]
    data = [
        {
            "type": "bar",
            "x": stats["strategy"],
            "y": values,
            "marker": {"color": colors},
            "texttemplate": text,
            "textposition": "outside",
            "cliponaxis": False,
            "textfont": {"size": 14},
            "hovertemplate": hover,
            "xaxis": f"x{axis_suffix(column)}",
            "yaxis": f"y{axis_suffix(column)}",
        }
        for column, values, text, hover in bars
    ]
    for column, values, _, _ in bars:  # headroom above the tallest bar for its label
        layout[f"yaxis{axis_suffix(column)}"]["range"] = [0, 1.2 * max(float(np.max(values)), 1e-9)]
    return go.Figure({"data": data, "layout": layout})
