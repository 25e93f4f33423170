"""SIG's sentiment-intensity predictor: how strongly one modality expresses emotion, in (-3, 3)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def largest_divisor(dim: int, at_most: int) -> int:
    """The largest number of attention heads ``<= at_most`` that divides ``dim``."""
    return max(h for h in range(1, max(1, min(at_most, dim)) + 1) if dim % h == 0)  # none above dim divides it


class IntensityPredictor(nn.Module):
    """Multi-head self-attention over time, residual + LayerNorm, mean over time, linear, ``3·tanh``.

    The released code's predictor: one ``qkv`` projection, scaled dot-product attention with no
    output projection, ``LayerNorm(attended + x)``, the mean over time, a linear map to one value.
    For ``[B, T, D]`` features it attends over time. For ``[B, D]`` features the attention runs
    over a single token, whose softmax weight is exactly 1: the attended value is the value
    projection itself, so only that third of ``qkv`` is computed. The output and every gradient
    equal the full computation's: the query and key rows get zero gradient, as they do there.

    Differences from the release: ``num_heads`` falls back to the largest divisor of ``dim`` not
    above it (the release zero-pads the features to a multiple of ``num_heads``); no extra
    ``Linear(dim, 1024)`` reducer for ``dim > 2000``; for ``[B, T, D]`` the residual adds ``x``
    itself (the release's ``x.unsqueeze(1)`` broadcasts it against every sample of the batch).
    """

    def __init__(self, dim: int, num_heads: int = 4) -> None:
        super().__init__()
        self.num_heads = largest_divisor(dim, num_heads)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, 1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``[B, D]`` or ``[B, T, D]`` -> intensities ``[B]`` in (-3, 3)."""
        if features.dim() == 2:
            d = features.shape[1]
            value = F.linear(features, self.qkv.weight[2 * d :], self.qkv.bias[2 * d :])
            pooled = self.norm(value + features)
        else:
            b, t, d = features.shape
            heads = self.qkv(features).reshape(b, t, 3, self.num_heads, d // self.num_heads).permute(2, 0, 3, 1, 4)
            attended = F.scaled_dot_product_attention(*heads).transpose(1, 2).reshape(b, t, d)
            pooled = self.norm(attended + features).mean(dim=1)
        return 3.0 * torch.tanh(self.out(pooled)).squeeze(-1)
