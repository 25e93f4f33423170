"""The Mixing ratios page's α slider and λ histograms (``ratio_histograms.js``): an α move redraws in the browser.

The server draws SASS's ratios once per batch at every α the slider can reach (each draw as the
page draws it at that α: the same seed, so the browser shows exactly what the server would), and
sends their histograms and Beta(α, α) densities; the browser picks the α's frame as the slider moves.
"""

from __future__ import annotations

import numpy as np
import torch

from msmix_core import MODALITIES
from msmix_core.analysis import STRATEGIES, LatentBatch
from msmix_core.figures.palette import OKABE_ITO
from msmix_core.figures.ratios import BETA_GRID, ratio_densities
from msmix_core.mixing import MixResult
from ui.live import SliderSpec, mount

LABEL = "α of Beta(α, α)"
KEYS = (*MODALITIES, "label")
BINS = 20
STEP = 0.1


def alpha_grid(low: float, high: float, extra: float | None = None) -> list[float]:
    """Every α the slider reaches (``low`` to ``high`` by :data:`STEP`), and ``extra`` (an α from a link) if given."""
    grid = np.round(np.arange(low, high + STEP / 2, STEP), 1).tolist()
    return sorted({*grid, *([] if extra is None else [float(extra)])})


def sass_draw(batch: LatentBatch, seed: int, alpha: float) -> MixResult:
    """SASS's pairs and ratios of one batch at ``alpha`` (a generator seeded with ``seed``): the page's
    table and every frame of the histograms come from this one draw."""
    return STRATEGIES["sass"](batch, torch.Generator().manual_seed(seed), alpha=alpha)


def ratio_frames(batch: LatentBatch, seed: int, alphas: list[float]) -> dict:
    """Per α of ``alphas``: each ratio's histogram (density over :data:`BINS` bins) and the Beta(α, α) density."""
    hist, density = [], []
    for alpha in alphas:
        lam = sass_draw(batch, seed, alpha).lam
        frame = ratio_densities({k: lam[k].numpy() for k in KEYS}, alpha, BINS)
        hist.append([np.round(frame[k], 4).tolist() for k in KEYS])
        density.append(np.round(frame["beta"][::2], 4).tolist())
    return {"alphas": alphas, "keys": list(KEYS), "bins": BINS, "hist": hist, "beta": density}


def ratio_histograms(key: str, alpha: float, low: float, high: float, frames: dict, help_text: str) -> None:
    """Mount the histograms with their α slider; an α the user sets lands in ``st.session_state[key]``."""
    data = {
        **frames,
        "beta_x": np.round(BETA_GRID[::2], 4).tolist(),
        "slider": SliderSpec(LABEL, low, high, STEP, float(alpha), 1, help_text).to_data(),
        "colours": {"bars": OKABE_ITO[0], "line": OKABE_ITO[3]},
    }
    mount("ratio_histograms", key, data)
