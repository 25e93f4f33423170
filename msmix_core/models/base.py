"""The interface every MSA backbone implements.

The forward pass is split in two so that mixing can act between the halves, as MS-Mix does:
``encode(batch)`` returns the unimodal latent features and ``head(latents)`` fuses them into a
prediction. Input-level Mixup mixes before ``encode``. A backbone with its own training loss
(MISA) returns it with the latents from ``encode_with_aux``, so no loss depends on call order.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn


class Backbone(nn.Module):
    """Base class of the backbones.

    Constructor signature of every subclass: ``(input_dims, seq_lens, **sizes)`` where
    ``input_dims``/``seq_lens`` map each modality to its feature size ``D`` and length ``T``,
    and the size knobs have documented defaults.

    ``latent_dims`` (set by the subclass) maps each modality to the last dimension of its latent
    features; latents are ``[B, D]`` or ``[B, T, D]`` (``latent_is_sequence`` tells which).
    """

    name: ClassVar[str] = ""
    latent_is_sequence: ClassVar[bool] = False
    #: What the backbone makes of data with one time step per modality (utterance vectors), when its
    #: design assumes sequences; None when such data suits it.
    one_step_note: ClassVar[str | None] = None
    latent_dims: dict[str, int]

    def __init__(self) -> None:
        super().__init__()
        #: Knobs the backbone had to change to fit the data it was built for (e.g. MulT's kernel on
        #: utterance-level data): knob -> the value used. The run store records it with the run's config.
        self.adaptations: dict[str, Any] = {}

    def encode(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Unimodal latents: ``{"text", "audio", "vision"}`` from a batch of raw features.

        ``batch`` holds ``text``/``audio``/``vision`` ``[B, T, D]`` and, when known,
        ``text_lengths``/``audio_lengths``/``vision_lengths`` ``[B]``.
        """
        raise NotImplementedError

    def head(self, latents: dict[str, torch.Tensor]) -> torch.Tensor:
        """Fuse the latents into one sentiment prediction per sample, ``[B]``."""
        raise NotImplementedError

    def encode_with_aux(self, batch: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """The latents of ``encode`` and the backbone's own extra training loss on this batch (a scalar).

        Zero for most backbones; MISA overrides this to return its weighted similarity, difference
        and reconstruction losses (and its ``encode`` drops them).
        """
        return self.encode(batch), torch.zeros((), device=next(self.parameters()).device)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.head(self.encode(batch))
