"""Mixup methods acting on multimodal latent (or input) features: MS-Mix and its rivals."""

from msmix_core.mixing.base import MixMethod
from msmix_core.mixing.result import MixResult, pair_diagnostics

__all__ = ["MixMethod", "MixResult", "pair_diagnostics"]
