"""LMF: Low-rank Multimodal Fusion (Liu et al., ACL 2018), after MMSA's ``LMF``."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from msmix_core import MODALITIES
from msmix_core.models.base import Backbone
from msmix_core.models.layers import append_one, check_inputs, encode_each, tfn_subnets


class LMF(Backbone):
    """TFN's fusion tensor, never built: its weight is factorised into ``rank`` modality factors.

    ``y = Σ_r w_r · Π_m ([1; h_m] · W_m^(r)) + b``. Latents are the subnetwork outputs (the
    same subnetworks as :class:`~msmix_core.models.tfn.TFN`); the low-rank fusion is the head.

    Size knobs (defaults shrunk for the synthetic data; MMSA's MOSI config in brackets):

    - ``text_hidden=32`` [128], ``audio_hidden=8`` [16], ``vision_hidden=8`` [128].
    - ``text_out=16`` [text_hidden // 2 = 64]: text latent size.
    - ``rank=3`` [3]: rank of the factorised fusion weight.
    - ``text_dropout=0.3``, ``audio_dropout=0.3``, ``vision_dropout=0.3`` [0.3, 0.3, 0.3].
      (MMSA also defines a post-fusion dropout but never applies it; so does the original code.)
    """

    name: ClassVar[str] = "lmf"
    paper: ClassVar[str] = "Liu et al. 2018, Efficient Low-rank Multimodal Fusion with Modality-Specific Factors (ACL)"
    latent_is_sequence: ClassVar[bool] = False

    def __init__(
        self,
        input_dims: dict[str, int],
        seq_lens: dict[str, int],
        *,
        text_hidden: int = 32,
        audio_hidden: int = 8,
        vision_hidden: int = 8,
        text_out: int = 16,
        rank: int = 3,
        text_dropout: float = 0.3,
        audio_dropout: float = 0.3,
        vision_dropout: float = 0.3,
    ) -> None:
        super().__init__()
        check_inputs(self.name, input_dims, seq_lens)
        self.subnets = tfn_subnets(
            input_dims,
            {"text": text_hidden, "audio": audio_hidden, "vision": vision_hidden},
            text_out,
            {"text": text_dropout, "audio": audio_dropout, "vision": vision_dropout},
        )
        self.latent_dims = {"text": text_out, "audio": audio_hidden, "vision": vision_hidden}
        self.factors = nn.ParameterDict(
            {m: nn.Parameter(nn.init.xavier_normal_(torch.empty(rank, d + 1, 1))) for m, d in self.latent_dims.items()}
        )
        self.fusion_weights = nn.Parameter(nn.init.xavier_normal_(torch.empty(1, rank)))
        self.fusion_bias = nn.Parameter(torch.zeros(1))

    def encode(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return encode_each(self.subnets, batch)

    def head(self, latents: dict[str, torch.Tensor]) -> torch.Tensor:
        product = None
        for m in MODALITIES:
            projected = torch.matmul(append_one(latents[m]), self.factors[m])  # [rank, B, 1]
            product = projected if product is None else product * projected
        return (self.fusion_weights @ product.squeeze(-1)).squeeze(0) + self.fusion_bias
