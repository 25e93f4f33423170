"""Plotly figure builders for the app: plain arrays and tables in, ``go.Figure`` out (no streamlit).

The two pictures a slider redraws, the δ map and the λ histograms, are drawn in the browser by the
app (``ui/live``) from this package's numbers (:func:`~msmix_core.figures.pairs.similarity_levels`,
:func:`~msmix_core.figures.ratios.ratio_densities`); :func:`similarity_heatmap` and
:func:`lambda_histograms` draw the same pictures as Plotly figures, for reports and notebooks.

One module per page, named like the :mod:`msmix_core.analysis` module that computes what it draws:

- :mod:`~msmix_core.figures.pairs`: similarity heatmap with the δ mask, strategy bars (Pair selection).
- :mod:`~msmix_core.figures.ratios`: λ histograms, intensities against labels, SAL's distributions (Mixing ratios).
- :mod:`~msmix_core.figures.embedding`: the map of real and mixed latents (Embeddings).
- :mod:`~msmix_core.figures.training`: training curves, robustness curves (trained runs).
- :mod:`~msmix_core.figures.differences`: differences from a reference over seeds (Ablation, Robustness).
- :mod:`~msmix_core.figures.palette`: the colours and markers they share.

Every axis names its quantity and unit.
"""

from msmix_core.figures.differences import difference_dots, robustness_differences
from msmix_core.figures.embedding import embedding_scatter
from msmix_core.figures.pairs import similarity_heatmap, strategy_bars
from msmix_core.figures.ratios import intensity_scatter, lambda_histograms, sal_distribution_chart
from msmix_core.figures.training import robustness_curves, training_curves

__all__ = [
    "difference_dots",
    "embedding_scatter",
    "intensity_scatter",
    "lambda_histograms",
    "robustness_curves",
    "robustness_differences",
    "sal_distribution_chart",
    "similarity_heatmap",
    "strategy_bars",
    "training_curves",
]
