"""What SAL compares: the batch distributions of |label| and of each modality's |intensity|.

SAL is ``1000 · Σ_m KL(p_y ‖ p_m)`` with ``p = softmax over the batch of |x| / 3``. Since |x| / 3
lies in [0, 1], each softmax weight lies within a factor e of every other: the target ``p_y`` is
nearly flat, and SAL can be satisfied by intensities that barely follow |label|. These tables
let a page show that instead of asserting that training makes intensities follow |label|.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from scipy import stats

from msmix_core import MODALITIES
from msmix_core.analysis.latents import LatentBatch
from msmix_core.mixing.ms_mix import alignment_loss, intensity_distribution, stack_modalities


def sal_distributions(batch: LatentBatch) -> pd.DataFrame:
    """Long table, samples ranked by |label|: ``rank``, ``abs_label``, ``series`` ("label", "text", ...), ``p``."""
    labels = torch.from_numpy(batch.labels).float()
    order = np.argsort(np.abs(batch.labels), kind="stable")
    rows = {"label": intensity_distribution(labels.reshape(1, -1))[0].numpy()}
    intensities = stack_modalities({m: torch.from_numpy(batch.intensities[m]) for m in MODALITIES})
    rows |= dict(zip(MODALITIES, intensity_distribution(intensities).numpy(), strict=True))
    frames = [
        pd.DataFrame(
            {"rank": np.arange(len(order)), "abs_label": np.abs(batch.labels)[order], "series": k, "p": p[order]}
        )
        for k, p in rows.items()
    ]
    return pd.concat(frames, ignore_index=True)


def intensity_tracking(batch: LatentBatch) -> pd.DataFrame:
    """Per modality: Spearman ρ of |intensity| with |label|, the mean intensity, and SAL's KL term.

    ``flatness`` is the target's max/min weight ratio (at most e, for labels in [-3, 3]).
    """
    labels = torch.from_numpy(batch.labels).float()
    p_y = intensity_distribution(labels.reshape(1, -1))[0]
    records = []
    for m in MODALITIES:
        intensity = torch.from_numpy(batch.intensities[m]).float()
        magnitude = np.abs(batch.intensities[m])
        constant = np.ptp(magnitude) == 0 or np.ptp(np.abs(batch.labels)) == 0
        rho = np.nan if constant else stats.spearmanr(magnitude, np.abs(batch.labels)).statistic
        sal = float(alignment_loss(labels, intensity.reshape(1, -1)))
        records.append(
            {
                "modality": m,
                "spearman_abs": float(rho) if np.isfinite(rho) else float("nan"),
                "mean_intensity": float(intensity.mean()),
                "sal": sal,
                "flatness": float(p_y.max() / p_y.min()),
            }
        )
    return pd.DataFrame(records)


def tracking_sentence(predictor: str, tracking: pd.DataFrame) -> str:
    """What the chart shows, in words: whether each modality's |intensity| follows |label|."""
    parts = []
    for _, row in tracking.iterrows():
        rho = row["spearman_abs"]
        if not np.isfinite(rho):
            parts.append(
                f"{row['modality']} is the same for every sample (mean intensity {row['mean_intensity']:+.2f})"
            )
            continue
        verdict = (
            "follows |label|" if rho >= 0.3 else "barely follows |label|" if rho >= 0.1 else "does not follow |label|"
        )
        parts.append(f"{row['modality']} {verdict} (ρ = {rho:.2f}, mean intensity {row['mean_intensity']:+.2f})")
    return f"{predictor.capitalize()} predictor: " + "; ".join(parts) + "."
