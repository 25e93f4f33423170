"""SIG's sentiment-intensity predictor: how strongly one modality expresses emotion, in (-3, 3)."""

from __future__ import annotations

import torch
from torch import nn


def largest_divisor(dim: int, at_most: int) -> int:
    """The largest number of attention heads ``<= at_most`` that divides ``dim``."""
    return max(h for h in range(1, max(1, at_most) + 1) if dim % h == 0)


class IntensityPredictor(nn.Module):
    """Multi-head self-attention over time, residual + LayerNorm, mean over time, linear, ``3·tanh``.

    The structure of the released code's predictor. For ``[B, D]`` features the attention runs
    over a single token (it then reduces to a residual MLP-like map); for ``[B, T, D]`` it attends
    over time. ``num_heads`` falls back to the largest divisor of ``dim`` not above it (the release
    pads the features instead; a divisor keeps the map the same size as the features).
    """

    def __init__(self, dim: int, num_heads: int = 4) -> None:
        super().__init__()
        self.attention = nn.MultiheadAttention(dim, largest_divisor(dim, num_heads), batch_first=True)
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, 1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = features if features.dim() == 3 else features.reshape(features.shape[0], 1, -1)
        attended, _ = self.attention(x, x, x, need_weights=False)
        pooled = self.norm(attended + x).mean(dim=1)
        return 3.0 * torch.tanh(self.out(pooled)).squeeze(-1)
