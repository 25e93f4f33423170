"""Mixup methods acting on multimodal latent (or input) features: MS-Mix and its rivals."""

from msmix_core.mixing.base import MixMethod, Stage
from msmix_core.mixing.intensity import IntensityPredictor
from msmix_core.mixing.knobs import Knob
from msmix_core.mixing.methods import CMixup, ManifoldMixup, Mixup, MSMix, MultiMix, NoMix, PowMix
from msmix_core.mixing.ms_mix import (
    alignment_loss,
    candidate_mask,
    draw_pairs,
    intensity_weights,
    ms_mix,
    sass_similarity,
    sig_ratios,
    stack_modalities,
)
from msmix_core.mixing.registry import METHODS, build_method, describe_methods, method_knobs
from msmix_core.mixing.result import MixResult, pair_diagnostics, weight_diagnostics

__all__ = [
    "METHODS",
    "CMixup",
    "IntensityPredictor",
    "Knob",
    "MSMix",
    "ManifoldMixup",
    "MixMethod",
    "MixResult",
    "Mixup",
    "MultiMix",
    "NoMix",
    "PowMix",
    "Stage",
    "alignment_loss",
    "build_method",
    "candidate_mask",
    "describe_methods",
    "draw_pairs",
    "intensity_weights",
    "method_knobs",
    "ms_mix",
    "pair_diagnostics",
    "sass_similarity",
    "sig_ratios",
    "stack_modalities",
    "weight_diagnostics",
]
