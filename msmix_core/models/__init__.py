"""MSA backbones split into ``encode`` (unimodal latents) and ``head`` (fusion + regression)."""

from msmix_core.models.almt import ALMT
from msmix_core.models.base import Backbone
from msmix_core.models.glomo import GLoMo
from msmix_core.models.late_fusion import LateFusion
from msmix_core.models.lmf import LMF
from msmix_core.models.misa import MISA
from msmix_core.models.mult import MulT
from msmix_core.models.registry import BACKBONES, build_backbone, data_note, describe_backbones
from msmix_core.models.tfn import TFN

__all__ = [
    "ALMT",
    "BACKBONES",
    "LMF",
    "MISA",
    "TFN",
    "Backbone",
    "GLoMo",
    "LateFusion",
    "MulT",
    "build_backbone",
    "data_note",
    "describe_backbones",
]
