"""Figures of the Mixing ratios page: the λ histograms' numbers, intensities against labels, and what SAL compares."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from scipy.stats import beta

from msmix_core import MODALITIES
from msmix_core.figures.layout import axis_suffix, panels
from msmix_core.figures.palette import OKABE_ITO

#: Where the Beta(α, α) density is drawn: inside (0, 1), off its poles at 0 and 1 when α < 1.
BETA_GRID = np.linspace(0.005, 0.995, 199)


def beta_density(alpha: float) -> np.ndarray:
    """The Beta(α, α) density Mixup and Manifold Mixup draw their ratio from, on :data:`BETA_GRID`."""
    return beta.pdf(BETA_GRID, alpha, alpha)


def ratio_densities(lam: dict[str, np.ndarray], alpha: float, bins: int = 20) -> dict[str, np.ndarray]:
    """What the λ histograms (``ui/live``) draw: each ratio's histogram over ``bins`` equal bins of [0, 1]
    as a density (count / (n · bin width)), and ``"beta"``, the Beta(α, α) density on :data:`BETA_GRID`."""
    out = {k: np.histogram(np.asarray(v), bins=bins, range=(0.0, 1.0), density=True)[0] for k, v in lam.items()}
    return {**out, "beta": beta_density(alpha)}


def intensity_scatter(table: pd.DataFrame) -> go.Figure:
    """Predicted intensity against ``|label|``, one panel per modality, one colour per ``predictor``.

    ``table`` has columns ``modality``, ``abs_label``, ``intensity``, ``row`` and ``predictor``
    (e.g. "untrained", "trained").
    """
    layout = panels(MODALITIES, shared_y=True)
    data = []
    for p, (name, part) in enumerate(table.groupby("predictor", sort=False)):
        for column, m in enumerate(MODALITIES, start=1):
            rows = part[part["modality"] == m]
            data.append(
                {
                    "type": "scattergl",
                    "x": rows["abs_label"],
                    "y": rows["intensity"],
                    "mode": "markers",
                    "marker": {"size": 5, "color": OKABE_ITO[p % len(OKABE_ITO)], "opacity": 0.7},
                    "name": f"{name} predictor",
                    "legendgroup": str(name),
                    "showlegend": column == 1,
                    "customdata": rows["row"],
                    "hovertemplate": "row %{customdata}<br>|label| %{x:.2f}<br>intensity %{y:.2f}<extra></extra>",
                    "xaxis": f"x{axis_suffix(column)}",
                    "yaxis": f"y{axis_suffix(column)}",
                }
            )
    for column in range(1, len(MODALITIES) + 1):
        layout[f"xaxis{axis_suffix(column)}"]["title"] = {"text": "|label| (sentiment units)"}
    layout["yaxis"]["title"] = {"text": "predicted intensity (−3…3)"}
    layout.update(height=380, legend={"orientation": "h", "y": -0.3})
    return go.Figure({"data": data, "layout": layout})


def sal_distribution_chart(table: pd.DataFrame, tracking: pd.DataFrame) -> go.Figure:
    """What SAL compares, one panel per modality: the target (softmax of |label| / 3, black) and each
    predictor's softmax of |intensity| / 3, each curve sorted on its own, as weight × batch size (1 = uniform).

    ``table``: :func:`msmix_core.analysis.alignment.sal_distributions` with a ``predictor`` column;
    ``tracking``: :func:`msmix_core.analysis.alignment.intensity_tracking` with a ``predictor`` column,
    whose SAL terms (1000 · KL) title the panels.
    """
    predictors = list(dict.fromkeys(table["predictor"]))
    titles = []
    for m in MODALITIES:
        rows = tracking[tracking["modality"] == m].set_index("predictor")
        terms = ", ".join(f"{p} {rows.loc[p, 'sal']:.2f}" for p in predictors)
        titles.append(f"{m}<br>SAL term (1000·KL): {terms}")
    layout = panels(titles, shared_y=True)
    data = []
    for column, m in enumerate(MODALITIES, start=1):
        axes = {"xaxis": f"x{axis_suffix(column)}", "yaxis": f"y{axis_suffix(column)}"}
        panel = table[table["modality"] == m]
        target = panel[(panel["series"] == "target") & (panel["predictor"] == predictors[0])]
        curves = [("target: |label|", target, "black", 3)]
        for p, predictor in enumerate(predictors):
            rows = panel[(panel["series"] == "intensity") & (panel["predictor"] == predictor)]
            curves.append((f"|intensity| ({predictor})", rows, OKABE_ITO[p % len(OKABE_ITO)], 2))
        for name, rows, colour, width in curves:
            data.append(
                {
                    "type": "scatter",
                    "x": rows["position"],
                    "y": rows["weight"],
                    "mode": "lines",
                    "line": {"color": colour, "width": width},
                    "name": name,
                    "legendgroup": name,
                    "showlegend": column == 1,
                    "hovertemplate": "weight %{y:.2f}× uniform<extra></extra>",
                    **axes,
                }
            )
        layout[f"xaxis{axis_suffix(column)}"].update(title={"text": "samples, each curve sorted"}, range=[0, 1])
    layout["yaxis"].update(title={"text": "weight × batch size (1 = uniform)"}, rangemode="tozero")
    for annotation in layout["annotations"]:
        annotation["font"] = {"size": 14}
    layout.update(height=380, legend={"orientation": "h", "y": -0.3})
    return go.Figure({"data": data, "layout": layout})
