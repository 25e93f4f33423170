"""MulT: Multimodal Transformer for unaligned sequences (Tsai et al., ACL 2019), after MMSA's ``MULT``."""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from msmix_core import MODALITIES
from msmix_core.models.base import Backbone
from msmix_core.models.layers import MultiHeadAttention, check_inputs, require, sinusoidal_positions


def _xavier_linear(in_dim: int, out_dim: int) -> nn.Linear:
    layer = nn.Linear(in_dim, out_dim)
    nn.init.xavier_uniform_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


class CrossmodalLayer(nn.Module):
    """One pre-norm transformer layer whose keys and values may come from another modality.

    As in MulT's code, one layer norm serves the query and the key/value inputs, and the
    feed-forward block is four times as wide as the model.
    """

    def __init__(self, dim: int, heads: int, attn_dropout: float, relu_dropout: float, res_dropout: float) -> None:
        super().__init__()
        self.attn = MultiHeadAttention(dim, heads, dropout=attn_dropout)
        self.norm_attn = nn.LayerNorm(dim)
        self.norm_ffn = nn.LayerNorm(dim)
        self.fc1 = _xavier_linear(dim, 4 * dim)
        self.fc2 = _xavier_linear(4 * dim, dim)
        self.relu_dropout = relu_dropout
        self.res_dropout = res_dropout

    def forward(self, x: torch.Tensor, source: torch.Tensor | None, mask: torch.Tensor | None) -> torch.Tensor:
        q = self.norm_attn(x)
        kv = q if source is None else self.norm_attn(source)
        x = x + F.dropout(self.attn(q, kv, kv, mask), self.res_dropout, self.training)
        h = F.dropout(F.relu(self.fc1(self.norm_ffn(x))), self.relu_dropout, self.training)
        return x + F.dropout(self.fc2(h), self.res_dropout, self.training)


class CrossmodalTransformer(nn.Module):
    """MulT's transformer: scaled input plus sinusoidal positions, ``layers`` layers, a final norm.

    With a ``source`` it is a crossmodal transformer (queries from ``x``, keys and values from
    ``source``), without one a self-attention transformer. ``causal`` applies MulT's
    ``attn_mask``: query ``i`` sees keys ``j ≤ i + |T_k - T_q|``.
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        layers: int,
        *,
        attn_dropout: float,
        relu_dropout: float,
        res_dropout: float,
        embed_dropout: float,
        causal: bool,
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            CrossmodalLayer(dim, heads, attn_dropout, relu_dropout, res_dropout) for _ in range(layers)
        )
        self.norm = nn.LayerNorm(dim)
        self.embed_dropout = embed_dropout
        self.causal = causal

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        x = math.sqrt(x.shape[-1]) * x + sinusoidal_positions(x.shape[1], x.shape[-1], x.device).to(x.dtype)
        return F.dropout(x, self.embed_dropout, self.training)

    def forward(
        self, x: torch.Tensor, source: torch.Tensor | None = None, key_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``key_mask`` ``[B, T_k]``: True on the keys a query may see (GLoMo masks padding with it)."""
        tq = x.shape[1]
        tk = tq if source is None else source.shape[1]
        mask = None
        if self.causal:
            ones = torch.ones(tq, tk, dtype=torch.bool, device=x.device)
            mask = ~torch.triu(ones, diagonal=1 + abs(tk - tq))
        if key_mask is not None:
            keys = key_mask[:, None, None, :]
            mask = keys if mask is None else mask & keys
        x = self._embed(x)
        source = None if source is None else self._embed(source)
        for layer in self.layers:
            x = layer(x, source, mask)
        return self.norm(x)


class MulT(Backbone):
    """Crossmodal transformers: each modality attends to the other two, then to itself over time.

    Latents are the temporally convolved projections ``[B, T - k + 1, d_model]`` of the three
    input sequences; the head holds the six crossmodal transformers, the three self-attention
    memories (whose last time step is read out), and the residual output block. Like the
    original, MulT ignores ``*_lengths``: the transformers see the padded sequences.

    Size knobs (defaults shrunk for the synthetic data; MMSA's MOSI config in brackets):

    - ``d_model=32`` [50], ``num_heads=4`` [10] (must divide ``d_model``).
    - ``num_layers=2`` [4]: depth of each crossmodal transformer (``nlevels``).
    - ``mem_layers=2`` [max(nlevels, 3) = 4]: depth of each self-attention memory.
    - ``kernel_text=5``, ``kernel_audio=5``, ``kernel_vision=5`` [5, 5, 5]: temporal convolution widths.
    - ``adapt_kernels=True`` [no such option]: a kernel longer than its sequences shrinks to their
      length (``min(kernel, T)``; utterance-level data has ``T = 1``), recorded in ``adaptations``;
      ``False`` refuses such data, as the original would fail on it.
    - ``text_dropout=0.5`` [0.5]: dropout on the text input features.
    - ``embed_dropout=0.2`` [0.2], ``relu_dropout=0.0`` [0.0], ``res_dropout=0.0`` [0.0],
      ``output_dropout=0.5`` [0.5].
    - ``attn_dropout=0.3`` [0.3], ``attn_dropout_audio=0.2`` [0.2], ``attn_dropout_vision=0.0`` [0.0]:
      attention dropout when the keys come from text (and in the memories), audio, vision.
    - ``causal=True`` [attn_mask true]: MulT's attention mask.
    """

    name: ClassVar[str] = "mult"
    paper: ClassVar[str] = "Tsai et al. 2019, Multimodal Transformer for Unaligned Multimodal Language Sequences (ACL)"
    latent_is_sequence: ClassVar[bool] = True
    one_step_note: ClassVar[str | None] = (
        "MulT on one step per modality: its temporal convolutions shrink to width 1 (recorded in the run's config) "
        "and each crossmodal attention sees a single key, so the model has no time axis to align: it trains, "
        "but as a plain fusion network, not as the MulT of the paper."
    )

    def __init__(
        self,
        input_dims: dict[str, int],
        seq_lens: dict[str, int],
        *,
        d_model: int = 32,
        num_heads: int = 4,
        num_layers: int = 2,
        mem_layers: int = 2,
        kernel_text: int = 5,
        kernel_audio: int = 5,
        kernel_vision: int = 5,
        text_dropout: float = 0.5,
        embed_dropout: float = 0.2,
        relu_dropout: float = 0.0,
        res_dropout: float = 0.0,
        output_dropout: float = 0.5,
        attn_dropout: float = 0.3,
        attn_dropout_audio: float = 0.2,
        attn_dropout_vision: float = 0.0,
        causal: bool = True,
        adapt_kernels: bool = True,
    ) -> None:
        super().__init__()
        check_inputs(self.name, input_dims, seq_lens)
        require(d_model % num_heads == 0, f"mult: num_heads={num_heads} must divide d_model={d_model}")
        kernels = {"text": kernel_text, "audio": kernel_audio, "vision": kernel_vision}
        for m, k in kernels.items():
            if k <= seq_lens[m]:
                continue
            require(
                adapt_kernels,
                f"mult: kernel_{m}={k} is longer than the {m} sequences ({seq_lens[m]} steps); use a smaller kernel "
                "or adapt_kernels=true",
            )
            kernels[m] = seq_lens[m]
            self.adaptations[f"kernel_{m}"] = seq_lens[m]
        self.text_dropout = text_dropout
        self.output_dropout = output_dropout
        self.project = nn.ModuleDict(
            {m: nn.Conv1d(input_dims[m], d_model, kernel_size=kernels[m], bias=False) for m in MODALITIES}
        )
        self.latent_dims = dict.fromkeys(MODALITIES, d_model)
        key_dropout = {"text": attn_dropout, "audio": attn_dropout_audio, "vision": attn_dropout_vision}
        common = {"relu_dropout": relu_dropout, "res_dropout": res_dropout, "embed_dropout": embed_dropout}
        self.cross = nn.ModuleDict(
            {
                f"{target}_from_{source}": CrossmodalTransformer(
                    d_model, num_heads, num_layers, attn_dropout=key_dropout[source], causal=causal, **common
                )
                for target in MODALITIES
                for source in MODALITIES
                if source != target
            }
        )
        self.memory = nn.ModuleDict(
            {
                m: CrossmodalTransformer(
                    2 * d_model, num_heads, mem_layers, attn_dropout=attn_dropout, causal=causal, **common
                )
                for m in MODALITIES
            }
        )
        combined = 6 * d_model
        self.proj1 = nn.Linear(combined, combined)
        self.proj2 = nn.Linear(combined, combined)
        self.out_layer = nn.Linear(combined, 1)

    def encode(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        latents = {}
        for m in MODALITIES:
            x = batch[m].transpose(1, 2)
            if m == "text":
                x = F.dropout(x, self.text_dropout, self.training)
            latents[m] = self.project[m](x).transpose(1, 2)
        return latents

    def head(self, latents: dict[str, torch.Tensor]) -> torch.Tensor:
        last = []
        for target in MODALITIES:
            sources = [s for s in MODALITIES if s != target]
            h = torch.cat([self.cross[f"{target}_from_{s}"](latents[target], latents[s]) for s in sources], dim=2)
            last.append(self.memory[target](h)[:, -1])
        h = torch.cat(last, dim=1)
        residual = self.proj2(F.dropout(F.relu(self.proj1(h)), self.output_dropout, self.training))
        return self.out_layer(h + residual).squeeze(-1)
