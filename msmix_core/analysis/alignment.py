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
    """SAL's target and inputs, each sorted from its smallest weight to its largest.

    Long table, one row per sample and curve: ``modality`` (the panel), ``series`` ("target": softmax
    over the batch of |label| / 3; "intensity": of that modality's |intensity| / 3), ``position`` (0..1,
    the sample's place in its own sorted curve) and ``weight``, the softmax weight times the batch size,
    so 1 is the uniform distribution. Sorting each curve on its own shows the two shapes KL compares: a
    flat curve gives every sample about the same weight, whatever order the samples are in.
    """
    labels = torch.from_numpy(batch.labels).float()
    n = len(batch.labels)
    position = np.arange(n) / max(n - 1, 1)
    target = np.sort(intensity_distribution(labels.reshape(1, -1))[0].numpy()) * n
    intensities = stack_modalities({m: torch.from_numpy(batch.intensities[m]) for m in MODALITIES})
    frames = []
    for m, p in zip(MODALITIES, intensity_distribution(intensities).numpy(), strict=True):
        for series, weight in (("target", target), ("intensity", np.sort(p) * n)):
            frames.append(pd.DataFrame({"modality": m, "series": series, "position": position, "weight": weight}))
    return pd.concat(frames, ignore_index=True)


#: An intensity this close to the predictor's ±3 bound counts as saturated.
SATURATED = 2.7


def intensity_tracking(batch: LatentBatch) -> pd.DataFrame:
    """Per modality: Spearman ρ of |intensity| with |label|, the mean intensity, the share of
    saturated intensities (``|I| >= SATURATED``) and SAL's term (``sal``, its KL times 1000).

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
                "saturated": float(np.mean(magnitude >= SATURATED)),
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
                f"{row['modality']} is the same for every sample (mean intensity {row['mean_intensity']:+.2f}, "
                f"{row['saturated']:.0%} saturated near ±3)"
            )
            continue
        verdict = (
            "follows |label|" if rho >= 0.3 else "barely follows |label|" if rho >= 0.1 else "does not follow |label|"
        )
        parts.append(
            f"{row['modality']} {verdict} (ρ = {rho:.2f}, mean intensity {row['mean_intensity']:+.2f}, "
            f"{row['saturated']:.0%} saturated near ±3)"
        )
    return f"{predictor.capitalize()} predictor: " + "; ".join(parts) + "."


def sal_sentence(tracking: pd.DataFrame) -> str:
    """What the SAL chart shows, in words, from the same batch: how flat the target is, and per predictor
    the largest SAL term and how many intensities sit at the ±3 bound.

    ``tracking``: :func:`intensity_tracking` of each predictor's batch, with a ``predictor`` column.
    """
    flatness = tracking["flatness"].iloc[0]
    parts = [
        f"SAL's target (black) is nearly flat: its largest weight is {flatness:.2f}× its smallest "
        f"(never more than e ≈ 2.72 for labels in [−3, 3])."
    ]
    for predictor, rows in tracking.groupby("predictor", sort=False):
        worst = rows.loc[rows["sal"].idxmax()]
        parts.append(
            f"{str(predictor).capitalize()} predictor: {rows['saturated'].mean():.0%} of the intensities are saturated "
            f"near ±3; the largest SAL term (1000·KL) is {worst['modality']}'s ({worst['sal']:.2f})."
        )
    parts.append(
        "A saturated predictor's curve is flat too, so SAL can be small while the intensities do not follow |label|."
    )
    return " ".join(parts)
