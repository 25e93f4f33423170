"""Robustness to missing or corrupted modalities: score a trained model under occlusion.

MS-Mix's paper reports how models degrade when a modality is occluded. Here each condition
changes one modality of every sample of a split and scores the model with MMSA's metrics:

- ``zeroed``: the modality's features are set to 0 (lengths unchanged), i.e. removed;
- ``noise``: Gaussian noise ``level · σ_d · ε`` is added to each valid time step, where ``σ_d``
  is the standard deviation of feature ``d`` of that modality over the *training* split's valid
  time steps, so a level means the same on every dataset and every feature (level 1 = noise as
  large as the feature's own spread). Level 0 reproduces the clean scores.

The same ``seed`` draws the same ``ε`` for every level, so the curves over levels are smooth
(common random numbers) and reproducible on one device.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import fields
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from msmix_core import MODALITIES
from msmix_core.data.batching import SplitLoader
from msmix_core.data.schema import SPLITS, MSADataset, Split
from msmix_core.device import resolve_device
from msmix_core.errors import MsmixError
from msmix_core.metrics import mmsa_metrics
from msmix_core.models.base import Backbone
from msmix_core.training.config import TrainConfig
from msmix_core.training.trainer import EVAL_BATCH_SIZE, build_models, predict

if TYPE_CHECKING:
    from msmix_core.runs import Run


def load_trained(run: Run, dataset: MSADataset, *, device: str | torch.device = "auto") -> Backbone:
    """The best backbone of a stored run: rebuilt from its config, weights loaded, in eval mode.

    ``dataset`` must have the feature sizes and lengths the run was trained on (the same data,
    or a converted copy of it); anything else raises :class:`MsmixError` before loading.
    """
    stored = run.config
    trained_on = stored.get("dataset_summary", {})
    for key in ("dims", "seq_lens"):
        if key in trained_on and trained_on[key] != getattr(dataset, key):
            raise MsmixError(
                f"run {run.id!r} was trained on {stored['dataset']!r} with {key} {trained_on[key]}, but "
                f"{dataset.name!r} has {getattr(dataset, key)}: load the dataset the run was trained on"
            )
    config = TrainConfig.from_dict({f.name: stored[f.name] for f in fields(TrainConfig) if f.name in stored})
    device = resolve_device(device)
    backbone, _ = build_models(dataset, config, device)
    state = run.load_weights(map_location=device)
    weights = state.get("backbone") if isinstance(state, dict) else None
    if not isinstance(weights, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in weights.items()
    ):
        raise MsmixError(
            f"run {run.id!r} has weights without a 'backbone' dict of tensors: it was not saved by msmix's trainer"
        )
    try:
        backbone.load_state_dict(weights)
    except RuntimeError as exc:
        raise MsmixError(f"the weights of run {run.id!r} do not fit a rebuilt {config.backbone!r}: {exc}") from exc
    return backbone.eval()


def feature_std(split: Split, modality: str, chunk: int = 512) -> np.ndarray:
    """Per-feature standard deviation ``[D]`` over the valid time steps of a split.

    Valid steps are the first ``length`` steps of each sample when the split has lengths, else
    all of them. Computed in float64 chunks merged with Chan et al.'s update, so that
    MOSEI-sized text features are never copied whole and no precision is lost.
    """
    x, lengths = split.modality(modality), split.lengths(modality)
    steps, dim = x.shape[1], x.shape[2]
    count, mean, m2 = 0, np.zeros(dim), np.zeros(dim)
    for start in range(0, len(x), chunk):
        block = x[start : start + chunk].astype(np.float64)
        if lengths is not None:
            block = block[np.arange(steps) < lengths[start : start + chunk, None]]
        block = block.reshape(-1, dim)
        if len(block) == 0:
            continue
        block_mean = block.mean(axis=0)
        delta, total = block_mean - mean, count + len(block)
        m2 += np.square(block - block_mean).sum(axis=0) + np.square(delta) * count * len(block) / total
        mean += delta * len(block) / total
        count = total
    return np.sqrt(m2 / count) if count else np.zeros(dim)


def _corrupted(
    batches: Iterable[dict[str, torch.Tensor]],
    modality: str,
    level: float | None,
    std: torch.Tensor | None,
    generator: torch.Generator | None,
) -> Iterable[dict[str, torch.Tensor]]:
    """The batches with one modality zeroed (``level=None``) or noised at ``level``."""
    for batch in batches:
        x = batch[modality]
        if level is None:
            x = torch.zeros_like(x)
        else:
            noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype) * (level * std)
            lengths = batch.get(f"{modality}_lengths")
            if lengths is not None:
                noise = noise * (torch.arange(x.shape[1], device=x.device) < lengths[:, None]).unsqueeze(-1)
            x = x + noise
        yield {**batch, modality: x}


#: The conditions of :func:`score_condition`.
CONDITIONS: tuple[str, ...] = ("clean", "zeroed", "noise")


def score_condition(
    backbone: Backbone,
    dataset: MSADataset,
    *,
    split: str = "test",
    condition: str = "clean",
    modality: str = "none",
    level: float = float("nan"),
    seed: int = 0,
    std: np.ndarray | None = None,
    device: str | torch.device = "auto",
    batch_size: int = EVAL_BATCH_SIZE,
) -> dict:
    """One row of :func:`evaluate_robustness`: ``backbone`` scored on ``split`` under one condition.

    A page can cache rows one by one (per run, split, modality and level), so a new noise level
    costs one scoring pass per model rather than all of them. ``std`` is ``feature_std`` of the
    modality on the training split (computed when None); the noise of a ``seed`` is the same draw
    at every level.
    """
    if split not in SPLITS:
        raise MsmixError(f"unknown split {split!r}: use one of {list(SPLITS)}")
    if condition not in CONDITIONS:
        raise MsmixError(f"unknown condition {condition!r}: use one of {list(CONDITIONS)}")
    if condition != "clean" and modality not in MODALITIES:
        raise MsmixError(f"modality must be one of {list(MODALITIES)}, got {modality!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise MsmixError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    device = resolve_device(device)
    backbone = backbone.to(device)
    batches = SplitLoader(dataset.splits[split], batch_size, shuffle=False, seed=seed, device=device)
    if condition == "clean":
        modality, level = "none", 0.0
    elif condition == "zeroed":
        batches, level = _corrupted(batches, modality, None, None, None), float("nan")
    else:
        level = float(level)
        if not math.isfinite(level) or level < 0:
            raise MsmixError(f"noise levels must be finite numbers >= 0, got {level}")
        spread = feature_std(dataset.train, modality) if std is None else std
        spread = torch.as_tensor(spread, dtype=torch.float32, device=device)
        generator = torch.Generator(device=device).manual_seed(seed)
        batches = _corrupted(batches, modality, level, spread, generator)
    pred, y = predict(backbone, batches)
    return {"condition": condition, "modality": modality, "level": level, **mmsa_metrics(pred, y, dataset.metrics)}


def evaluate_robustness(
    backbone: Backbone,
    dataset: MSADataset,
    *,
    split: str = "test",
    modalities: Sequence[str] = MODALITIES,
    noise_levels: Sequence[float] = (0.0, 0.5, 1.0),
    seed: int = 0,
    device: str | torch.device = "auto",
    batch_size: int = EVAL_BATCH_SIZE,
) -> pd.DataFrame:
    """Score ``backbone`` on ``split`` clean, then with each modality zeroed and noised per level.

    Returns one row per condition: ``condition`` (``clean``/``zeroed``/``noise``), ``modality``
    (``"none"`` for clean), ``level`` (the noise level; NaN for zeroed) and MMSA's metrics for the
    dataset. The backbone is moved to ``device`` and scored in eval mode.
    """
    unknown = [m for m in modalities if m not in MODALITIES]
    if unknown or not modalities:
        raise MsmixError(f"modalities must be a non-empty subset of {list(MODALITIES)}, got {list(modalities)}")
    levels = [float(v) for v in noise_levels]
    if any(not math.isfinite(v) or v < 0 for v in levels):
        raise MsmixError(f"noise levels must be finite numbers >= 0, got {list(noise_levels)}")
    common = {"split": split, "seed": seed, "device": device, "batch_size": batch_size}
    rows = [score_condition(backbone, dataset, condition="clean", **common)]
    for m in modalities:
        rows.append(score_condition(backbone, dataset, condition="zeroed", modality=m, **common))
        std = feature_std(dataset.train, m)
        for level in levels:
            rows.append(
                score_condition(backbone, dataset, condition="noise", modality=m, level=level, std=std, **common)
            )
    return pd.DataFrame(rows)
