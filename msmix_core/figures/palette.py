"""Colours and markers every figure shares.

Categorical colours are Okabe-Ito, one per method label in the order given, so a method keeps
its colour on every page; colour scales are Cividis/Viridis (readable with every common
colour-vision deficiency).
"""

from __future__ import annotations

#: Okabe-Ito colours, distinguishable with every common colour-vision deficiency.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")


#: Marker symbol per mixing method in the embedding scatter (real samples are circles).
METHOD_SYMBOLS = ("diamond", "triangle-up", "square", "star", "x")


#: The veil over the heatmap cells that fail δ: light grey, laid over the cell at this opacity.
VEIL_COLOR = "#EDEFF2"
VEIL_OPACITY = 0.8

#: How a ±1 std band around a line (a sweep's, a group of runs' mean curve) is drawn: a filled outline,
#: no edge, no legend or hover.
BAND = {"fill": "toself", "opacity": 0.18, "line": {"width": 0}, "hoverinfo": "skip", "showlegend": False}
