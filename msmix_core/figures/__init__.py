"""Plotly figure builders for the app: plain arrays and tables in, ``go.Figure`` out (no streamlit).

The two pictures a slider redraws, the δ map and the λ histograms, are drawn in the browser by the
app (``ui/live``) from this package's numbers (:func:`~msmix_core.figures.pairs.similarity_levels`,
:func:`~msmix_core.figures.ratios.ratio_densities`); :func:`similarity_heatmap` draws the δ map as a Plotly
figure, for the Pair selection page's training replay.

A module is named after the page it draws for (``pages/<name>.py``), not after the analysis module that
computes its numbers (the Mixing ratios page's SAL curves come from :mod:`msmix_core.analysis.alignment`):

- :mod:`~msmix_core.figures.pairs`: the δ map's colours, similarity heatmap, strategy bars (Pair selection).
- :mod:`~msmix_core.figures.ratios`: the λ histograms' numbers, intensities against labels, SAL's distributions
  (Mixing ratios).
- :mod:`~msmix_core.figures.embedding`: the map of real and mixed latents (Embeddings).
- :mod:`~msmix_core.figures.training`: training curves, robustness curves (Training, Robustness).
- :mod:`~msmix_core.figures.sweeps`: a metric against a knob's value, Optuna's study plots (Sweeps).
- :mod:`~msmix_core.figures.runs`: knob values against a metric (Runs).
- :mod:`~msmix_core.figures.differences`: differences from a reference over seeds (Ablation, Robustness).
- :mod:`~msmix_core.figures.palette` and :mod:`~msmix_core.figures.layout`: the colours, markers and panel
  layout they share.

Every axis names its quantity and unit.
"""

from msmix_core.figures.differences import difference_dots, robustness_differences
from msmix_core.figures.embedding import embedding_scatter
from msmix_core.figures.pairs import similarity_heatmap, strategy_bars
from msmix_core.figures.ratios import intensity_scatter, sal_distribution_chart
from msmix_core.figures.training import robustness_curves, training_curves

__all__ = [
    "difference_dots",
    "embedding_scatter",
    "intensity_scatter",
    "robustness_curves",
    "robustness_differences",
    "sal_distribution_chart",
    "similarity_heatmap",
    "strategy_bars",
    "training_curves",
]
