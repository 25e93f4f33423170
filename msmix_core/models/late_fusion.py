"""Late fusion of pooled unimodal encoders: the small, fast default backbone of the app."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from msmix_core import MODALITIES
from msmix_core.models.base import Backbone
from msmix_core.models.layers import PostFusionMLP, SubNet, check_inputs, encode_each


class LateFusion(Backbone):
    """Per-modality pooled MLP encoders, concatenation, an MLP head.

    MMSA's LF-DNN (after Williams et al. 2018, "Recognizing Emotions in Video Using Multimodal
    DNN Feature Fusion") with its text LSTM replaced by the same pooled :class:`SubNet` as
    audio and vision, which makes every step a handful of small matrix products. Latents are
    the three subnetwork outputs ``[B, D]``.

    Size knobs (MMSA's LF-DNN MOSI config in brackets):

    - ``text_hidden=32`` [128], ``audio_hidden=16`` [16], ``vision_hidden=16`` [128].
    - ``post_fusion_dim=32`` [128]: width of the head's two hidden layers.
    - ``dropout=0.2`` [0.2]: input dropout of each subnetwork.
    - ``post_fusion_dropout=0.2`` [0.2]: dropout on the concatenated latents.
    """

    name: ClassVar[str] = "late_fusion"
    paper: ClassVar[str] = (
        "LF-DNN as in MMSA (Williams et al. 2018, Recognizing Emotions in Video Using Multimodal DNN Feature Fusion)"
    )
    latent_is_sequence: ClassVar[bool] = False

    def __init__(
        self,
        input_dims: dict[str, int],
        seq_lens: dict[str, int],
        *,
        text_hidden: int = 32,
        audio_hidden: int = 16,
        vision_hidden: int = 16,
        post_fusion_dim: int = 32,
        dropout: float = 0.2,
        post_fusion_dropout: float = 0.2,
    ) -> None:
        super().__init__()
        check_inputs(self.name, input_dims, seq_lens)
        self.latent_dims = {"text": text_hidden, "audio": audio_hidden, "vision": vision_hidden}
        self.subnets = nn.ModuleDict({m: SubNet(input_dims[m], self.latent_dims[m], dropout) for m in MODALITIES})
        self.post_fusion = PostFusionMLP(sum(self.latent_dims.values()), post_fusion_dim, post_fusion_dropout)

    def encode(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return encode_each(self.subnets, batch)

    def head(self, latents: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.post_fusion(torch.cat([latents[m] for m in MODALITIES], dim=1))
