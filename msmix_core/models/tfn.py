"""TFN: Tensor Fusion Network (Zadeh et al., EMNLP 2017), after MMSA's ``TFN``."""

from __future__ import annotations

from typing import ClassVar

import torch

from msmix_core.models.base import Backbone
from msmix_core.models.layers import PostFusionMLP, append_one, check_inputs, encode_each, tfn_subnets


class TFN(Backbone):
    """Tensor fusion: the outer product of ``[1; h_t]``, ``[1; h_a]`` and ``[1; h_v]``, then an MLP.

    Latents are the three subnetwork outputs (``[B, D]``); the outer product happens in
    ``head`` so that mixed latents are fused exactly like clean ones. Audio and vision pass
    through :class:`SubNet` (masked time average, batch norm, three ReLU layers), text through
    the :class:`TextSubNet` LSTM.

    Size knobs (defaults shrunk for the synthetic data; MMSA's MOSI config in brackets):

    - ``text_hidden=32`` [128], ``audio_hidden=8`` [32], ``vision_hidden=8`` [128]: subnetwork widths.
    - ``text_out=16`` [32]: text latent size.
    - ``post_fusion_dim=32`` [64]: width of the post-fusion layers.
    - ``text_dropout=0.3``, ``audio_dropout=0.3``, ``vision_dropout=0.3``, ``post_fusion_dropout=0.5``
      [0.3, 0.3, 0.3, 0.5].
    - ``output_scale=3.0`` [3]: the output is ``output_scale · tanh(z/2)`` (= MMSA's
      ``6·sigmoid(z) - 3`` at 3), bounded to the MOSI/MOSEI label range; use 1.0 for SIMS and 0
      for an unbounded linear output.
    """

    name: ClassVar[str] = "tfn"
    paper: ClassVar[str] = "Zadeh et al. 2017, Tensor Fusion Network for Multimodal Sentiment Analysis (EMNLP)"
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
        post_fusion_dim: int = 32,
        text_dropout: float = 0.3,
        audio_dropout: float = 0.3,
        vision_dropout: float = 0.3,
        post_fusion_dropout: float = 0.5,
        output_scale: float = 3.0,
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
        fused = (text_out + 1) * (audio_hidden + 1) * (vision_hidden + 1)
        self.post_fusion = PostFusionMLP(fused, post_fusion_dim, post_fusion_dropout)
        self.output_scale = float(output_scale)

    def encode(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return encode_each(self.subnets, batch)

    def head(self, latents: dict[str, torch.Tensor]) -> torch.Tensor:
        t, a, v = (append_one(latents[m]) for m in ("text", "audio", "vision"))
        fusion = torch.einsum("bi,bj,bk->bijk", a, v, t).flatten(1)
        out = self.post_fusion(fusion)
        return self.output_scale * torch.tanh(out / 2) if self.output_scale else out
