"""ALMT: Adaptive Language-guided Multimodal Transformer (Zhang et al., EMNLP 2023), after its
code as shipped in MMSA and in the MS-Mix release (the backbone MS-Mix was wired into)."""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from msmix_core import MODALITIES
from msmix_core.errors import MsmixError
from msmix_core.models.base import Backbone
from msmix_core.models.layers import MultiHeadAttention, check_inputs, length_mask, require, split_heads_attention


class ALMTBlock(nn.Module):
    """ALMT's pre-norm transformer layer; queries from ``x``, keys/values from ``source`` (default ``x``).

    Query, key and value each get their own layer norm and bias-free projection, as in ALMT.
    """

    def __init__(self, dim: int, heads: int, mlp_dim: int, dropout: float) -> None:
        super().__init__()
        self.norm_q, self.norm_k, self.norm_v = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = MultiHeadAttention(dim, heads, qkv_bias=False)
        self.ffn = nn.Sequential(
            nn.LayerNorm(dim),
            nn.Linear(dim, mlp_dim),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(mlp_dim, dim),
            nn.Dropout(dropout),
        )
        self.dropout = dropout

    def forward(
        self, x: torch.Tensor, source: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        source = x if source is None else source
        attended = self.attn(self.norm_q(x), self.norm_k(source), self.norm_v(source), mask)
        x = x + F.dropout(attended, self.dropout, self.training)
        return x + self.ffn(x)


class TokenTransformer(nn.Module):
    """ALMT's ``Transformer``: optional learned tokens prepended, learned positions, ``depth`` layers.

    Returns every hidden state (the input after positions, then each layer's output), as the
    AHL consumes the text encoder's intermediate states.
    """

    def __init__(
        self, num_frames: int, dim: int, depth: int, heads: int, mlp_dim: int, dropout: float, tokens: int
    ) -> None:
        super().__init__()
        self.tokens = nn.Parameter(torch.zeros(1, tokens, dim)) if tokens else None
        self.positions = nn.Parameter(torch.randn(1, tokens + num_frames, dim))
        self.blocks = nn.ModuleList(ALMTBlock(dim, heads, mlp_dim, dropout) for _ in range(depth))

    def forward(self, x: torch.Tensor, frame_mask: torch.Tensor | None = None) -> list[torch.Tensor]:
        """``x`` ``[B, T, dim]``; ``frame_mask`` ``[B, T]`` True on valid frames (the tokens always are)."""
        b = x.shape[0]
        if self.tokens is not None:
            x = torch.cat([self.tokens.expand(b, -1, -1), x], dim=1)
        x = x + self.positions[:, : x.shape[1]]
        mask = None
        if frame_mask is not None:
            token_mask = torch.ones(b, x.shape[1] - frame_mask.shape[1], dtype=torch.bool, device=x.device)
            mask = torch.cat([token_mask, frame_mask], dim=1)[:, None, None, :]
        hidden = [x]
        for block in self.blocks:
            hidden.append(block(hidden[-1], mask=mask))
        return hidden


class HyperModalityLayer(nn.Module):
    """One AHL layer: language queries audio and vision; the sum updates the hyper-modality tokens.

    As in ALMT's code, all four inputs are layer-normed first and the update is added to the
    normed hyper-modality state.
    """

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.norms = nn.ModuleList(nn.LayerNorm(dim) for _ in range(4))
        self.heads = heads
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_kv = nn.ModuleDict({m: nn.Linear(dim, 2 * dim, bias=False) for m in ("audio", "vision")})
        self.to_out = nn.Sequential(nn.Linear(dim, dim), nn.Dropout(dropout))

    def forward(self, h_t: torch.Tensor, h_a: torch.Tensor, h_v: torch.Tensor, h_hyper: torch.Tensor) -> torch.Tensor:
        h_t, h_a, h_v, h_hyper = (norm(h) for norm, h in zip(self.norms, (h_t, h_a, h_v, h_hyper), strict=True))
        q = self.to_q(h_t)
        attended = 0
        for m, h in (("audio", h_a), ("vision", h_v)):
            k, v = self.to_kv[m](h).chunk(2, dim=-1)
            attended = attended + split_heads_attention(q, k, v, self.heads)
        return h_hyper + self.to_out(attended)


class ALMT(Backbone):
    """Language-guided fusion: text steers which audio/vision cues enter a hyper-modality state.

    Encoder (per modality): a linear map to ``dim`` and a ``TokenTransformer`` that prepends
    ``token_len`` learned tokens to the sequence; the tokens' outputs are the latents
    ``[B, token_len, dim]``, the point where the MS-Mix release mixes (``h_l``, ``h_a``,
    ``h_v``). Head: a text encoder of ``ahl_depth - 1`` layers, ``ahl_depth`` AHL layers
    (adaptive hyper-modality learning) each using one text state, a cross-modality transformer
    in which text (plus a class token) attends to the hyper-modality tokens, and a linear
    regression on the class token.

    Padded frames are masked out of the embedding attention, so lengths are honoured; the
    released code attends to padding (identical when no lengths are given).

    Size knobs (defaults shrunk for the synthetic data; the MS-Mix/MMSA ALMT MOSI config in
    brackets):

    - ``dim=32`` [128], ``heads=4`` [8] (must divide ``dim``), ``mlp_dim=64`` [128].
    - ``token_len=8`` [8]: learned tokens per modality, the latents' length.
    - ``embedding_depth=1`` [1]: layers of each modality's embedding transformer.
    - ``ahl_depth=3`` [3]: AHL layers (the text encoder has one fewer).
    - ``fusion_depth=2`` [2; 4 on MOSEI and SIMS]: layers of the cross-modality transformer.
    - ``dropout=0.0`` [0.0].
    """

    name: ClassVar[str] = "almt"
    paper: ClassVar[str] = (
        "Zhang et al. 2023, Learning Language-guided Adaptive Hyper-modality Representation for Multimodal "
        "Sentiment Analysis (EMNLP)"
    )
    latent_is_sequence: ClassVar[bool] = True
    one_step_note: ClassVar[str | None] = (
        "ALMT on one step per modality: each embedding transformer's learned tokens attend to a single frame, so "
        "they summarise one vector; it trains as built, without the temporal selection its attention offers."
    )

    def __init__(
        self,
        input_dims: dict[str, int],
        seq_lens: dict[str, int],
        *,
        dim: int = 32,
        heads: int = 4,
        mlp_dim: int = 64,
        token_len: int = 8,
        embedding_depth: int = 1,
        ahl_depth: int = 3,
        fusion_depth: int = 2,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        check_inputs(self.name, input_dims, seq_lens)
        require(dim % heads == 0, f"almt: heads={heads} must divide dim={dim}")
        self.seq_lens = dict(seq_lens)
        self.token_len = token_len
        self.input_maps = nn.ModuleDict({m: nn.Linear(input_dims[m], dim) for m in MODALITIES})
        self.embeddings = nn.ModuleDict(
            {
                m: TokenTransformer(seq_lens[m], dim, embedding_depth, heads, mlp_dim, dropout, tokens=token_len)
                for m in MODALITIES
            }
        )
        self.latent_dims = dict.fromkeys(MODALITIES, dim)
        self.text_encoder = TokenTransformer(token_len, dim, ahl_depth - 1, heads, mlp_dim, dropout, tokens=0)
        self.hyper = nn.Parameter(torch.ones(1, token_len, dim))
        self.ahl = nn.ModuleList(HyperModalityLayer(dim, heads, dropout) for _ in range(ahl_depth))
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.positions_hyper = nn.Parameter(torch.randn(1, token_len + 1, dim))
        self.positions_text = nn.Parameter(torch.randn(1, token_len + 1, dim))
        self.fusion = nn.ModuleList(ALMTBlock(dim, heads, mlp_dim, dropout) for _ in range(fusion_depth))
        self.regression = nn.Linear(dim, 1)

    def encode(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        latents = {}
        for m in MODALITIES:
            x = batch[m]
            if x.shape[1] > self.seq_lens[m]:
                raise MsmixError(
                    f"almt was built for {m} sequences of at most {self.seq_lens[m]} steps, got {x.shape[1]}: "
                    "build it with the dataset's seq_lens"
                )
            frame_mask = length_mask(batch.get(f"{m}_lengths"), x)
            latents[m] = self.embeddings[m](self.input_maps[m](x), frame_mask)[-1][:, : self.token_len]
        return latents

    def head(self, latents: dict[str, torch.Tensor]) -> torch.Tensor:
        text_states = self.text_encoder(latents["text"])
        b = text_states[0].shape[0]
        hyper = self.hyper.expand(b, -1, -1)
        for layer, h_t in zip(self.ahl, text_states, strict=True):
            hyper = layer(h_t, latents["audio"], latents["vision"], hyper)
        cls = self.cls_token.expand(b, -1, -1)
        source = torch.cat([cls, hyper], dim=1) + self.positions_hyper
        target = torch.cat([cls, text_states[-1]], dim=1) + self.positions_text
        for block in self.fusion:
            target = block(target, source)
        return self.regression(target[:, 0]).squeeze(-1)
