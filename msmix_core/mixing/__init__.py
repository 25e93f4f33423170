"""Mixup methods acting on multimodal latent (or input) features: MS-Mix and its rivals."""

from msmix_core.mixing.base import MixMethod
from msmix_core.mixing.intensity import IntensityPredictor
from msmix_core.mixing.methods import CMixup, ManifoldMixup, Mixup, MSMix, MultiMix, NoMix, PowMix
from msmix_core.mixing.ms_mix import alignment_loss, candidate_mask, ms_mix, sass_similarity
from msmix_core.mixing.registry import METHODS, build_method, method_knobs
from msmix_core.mixing.result import MixResult, pair_diagnostics

__all__ = [
    "METHODS",
    "CMixup",
    "IntensityPredictor",
    "MSMix",
    "ManifoldMixup",
    "MixMethod",
    "MixResult",
    "Mixup",
    "MultiMix",
    "NoMix",
    "PowMix",
    "alignment_loss",
    "build_method",
    "candidate_mask",
    "method_knobs",
    "ms_mix",
    "pair_diagnostics",
    "sass_similarity",
]
