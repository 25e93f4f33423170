"""Figures of the Pair selection page: the colours of the δ map (drawn in the browser by ``ui/live``) and the
strategy bars."""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import hex_to_rgb, sample_colorscale, unlabel_rgb

from msmix_core.figures.layout import axis_suffix, panels
from msmix_core.figures.palette import OKABE_ITO, VEIL_COLOR, VEIL_OPACITY

#: Colour scale of the similarity (0–1), and how many steps of it the δ map uses.
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


#: Colour scale of the label strip along the δ map's top (red negative, blue positive).
LABEL_SCALE = "RdBu"


def label_colours(labels: np.ndarray, label_range: tuple[float, float]) -> np.ndarray:
    """``uint8 [B, 3]``: each label's colour on :data:`LABEL_SCALE` over ``label_range``, as the strip shows it."""
    low, high = label_range
    where = np.clip((np.asarray(labels, dtype=np.float64) - low) / (high - low), 0.0, 1.0)
    return np.rint([unlabel_rgb(c) for c in sample_colorscale(LABEL_SCALE, where.tolist())]).astype(np.uint8)


def strategy_bars(stats: pd.DataFrame) -> go.Figure:
    """Contradictory-pair rate and mean ``|Δy|`` side by side, one bar per strategy."""
    colors = [OKABE_ITO[i % len(OKABE_ITO)] for i in range(len(stats))]
    layout = panels(("Contradictory pairs", "Mean label gap |Δy|"))
    layout["yaxis"]["title"] = {"text": "pairs with opposite-sign labels (%)"}
    layout["yaxis2"]["title"] = {"text": "|y_a − y_b| (label units)"}
    layout.update(showlegend=False, height=380)
    bars = [
        (1, 100 * stats["contradictory_rate"], "%{x}: %{y:.1f}%<extra></extra>"),
        (2, stats["mean_abs_label_gap"], "%{x}: %{y:.3f}<extra></extra>"),
    ]
    data = [
        {
            "type": "bar",
            "x": stats["strategy"],
            "y": values,
            "marker": {"color": colors},
            "hovertemplate": hover,
            "xaxis": f"x{axis_suffix(column)}",
            "yaxis": f"y{axis_suffix(column)}",
        }
        for column, values, hover in bars
    ]
    return go.Figure({"data": data, "layout": layout})
