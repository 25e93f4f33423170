"""Panels side by side, laid out as one layout dict.

``plotly.subplots.make_subplots`` builds the same axes through many validated updates; a page
that redraws on every slider move builds its figure from one dict instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def axis_suffix(column: int) -> str:
    """Plotly's axis-name suffix of the 1-based ``column``: "" for the first panel, then "2", "3"…"""
    return "" if column == 1 else str(column)


def panels(titles: Sequence[str], *, shared_y: bool = False) -> dict[str, Any]:
    """Layout of ``len(titles)`` panels in one row: an x and a y axis per panel and a title above each.

    ``shared_y`` makes every panel's y axis follow the first one's (its tick labels shown once). The
    panels are spaced as ``make_subplots`` spaces them: gaps of 0.2 / (number of panels) of the width.
    Traces of panel ``c`` take ``xaxis="x" + axis_suffix(c)`` and ``yaxis="y" + axis_suffix(c)``.
    """
    gap = 0.2 / len(titles)
    width = (1.0 - gap * (len(titles) - 1)) / len(titles)
    layout: dict[str, Any] = {"annotations": []}
    for column, title in enumerate(titles, start=1):
        low = (column - 1) * (width + gap)
        suffix = axis_suffix(column)
        layout[f"xaxis{suffix}"] = {"domain": [low, low + width], "anchor": f"y{suffix}"}
        layout[f"yaxis{suffix}"] = {"anchor": f"x{suffix}"}
        if shared_y and column > 1:
            layout[f"yaxis{suffix}"].update(matches="y", showticklabels=False)
        layout["annotations"].append(
            {
                "text": title,
                "x": low + width / 2,
                "y": 1.0,
                "xref": "paper",
                "yref": "paper",
                "xanchor": "center",
                "yanchor": "bottom",
                "showarrow": False,
                "font": {"size": 16},
            }
        )
    return layout
