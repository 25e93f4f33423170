"""The interface every mixing method implements, so the trainer can swap them."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from msmix_core.mixing.result import MixResult


class MixMethod(nn.Module):
    """Base class of the mixup methods.

    Subclasses set ``name`` (the registry key) and ``stage``: ``"latent"`` methods mix the
    unimodal latent features between a backbone's ``encode`` and ``head``; ``"input"`` methods
    (vanilla Mixup) mix the raw input features before ``encode``. ``mix_weight`` scales the
    mixed-sample loss and ``sal_weight`` the result's ``alignment_loss`` in the trainer's loss,
    so every method is trained with the same loss composition.
    """

    name: ClassVar[str] = ""
    stage: ClassVar[str] = "latent"

    def __init__(self, mix_weight: float = 0.7, sal_weight: float = 0.0) -> None:
        super().__init__()
        self.mix_weight = float(mix_weight)
        self.sal_weight = float(sal_weight)

    def forward(
        self,
        features: dict[str, torch.Tensor],
        labels: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> MixResult:
        """Mix a batch: ``features`` modality -> ``[B, D]`` or ``[B, T, D]``, ``labels`` ``[B]``."""
        raise NotImplementedError
