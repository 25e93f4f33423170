"""GLoMo: Global-Local Modal Fusion (Zhuang et al., ACM MM 2024), at the feature level, after its code
(github YetZzzzzz/GLoMo, ``GLoMo_MSA/GLoMo.py``) and the copy in the MS-Mix release (``models/GLoMo``)."""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from msmix_core import MODALITIES
from msmix_core.models.base import Backbone
from msmix_core.models.layers import check_inputs, length_mask, require
from msmix_core.models.mult import CrossmodalTransformer

#: Added to the softplus of the noise logits (the sparsely-gated MoE's ``noise_epsilon``).
NOISE_EPS = 1e-2
#: Added to the squared mean in the coefficient of variation.
CV_EPS = 1e-10


def segment_max(x: torch.Tensor, lengths: torch.Tensor | None, segments: int) -> torch.Tensor:
    """Adaptive max-pooling of ``x`` ``[B, T, D]`` to ``[B, segments, D]`` over each sample's valid steps.

    Segment ``i`` of a sample of length ``L`` spans steps ``floor(i·L/n) .. ceil((i+1)·L/n) - 1``,
    PyTorch's ``AdaptiveMaxPool1d`` windows, so without lengths (or with ``L = T``) this is that
    layer; padding never enters a maximum, and an empty sequence pools to zeros.
    """
    b, t, _ = x.shape
    full = torch.full((b,), t, dtype=torch.int64, device=x.device)
    lengths = full if lengths is None else lengths.to(x.device, torch.int64).clamp(max=t)
    i = torch.arange(segments, device=x.device).unsqueeze(0)
    start = (i * lengths.unsqueeze(1)) // segments
    end = ((i + 1) * lengths.unsqueeze(1) + segments - 1) // segments
    steps = torch.arange(t, device=x.device)
    inside = (steps >= start.unsqueeze(-1)) & (steps < end.unsqueeze(-1))  # [B, n, T]
    pooled = x.unsqueeze(1).masked_fill(~inside.unsqueeze(-1), float("-inf")).amax(dim=2)
    return torch.where(inside.any(dim=-1, keepdim=True), pooled, torch.zeros_like(pooled))


def cv_squared(x: torch.Tensor) -> torch.Tensor:
    """Squared coefficient of variation of a ``[E]`` vector (0 for one expert): small when balanced."""
    if x.shape[0] == 1:
        return x.new_zeros(())
    x = x.float()
    return x.var() / (x.mean() ** 2 + CV_EPS)


class NoisyTopKMoE(nn.Module):
    """Sparsely-gated mixture of experts (Shazeer et al., ICLR 2017) as GLoMo uses it.

    Experts are Linear-ReLU-Linear; gate and noise weights start at zero. In training, Gaussian
    noise scaled by ``softplus(x·W_noise) + 0.01`` is added to the gate logits ``x·W_gate`` (drawn
    from the caller's generator); without it (evaluation, ``noisy=False``) the gate is
    deterministic. The top ``k`` logits are softmaxed into gates and the output is the gated sum of
    the experts. The load-balancing loss is ``CV²(importance) + CV²(load)``: importance is each
    expert's summed gate, load the expected number of samples routed to it under the noise
    (its smooth estimate, when noisy and ``k`` < experts) or the count of non-zero gates.
    """

    def __init__(self, in_dim: int, out_dim: int, hidden: int, experts: int, k: int, noisy: bool) -> None:
        super().__init__()
        self.k, self.noisy = k, noisy
        self.experts = nn.ModuleList(
            nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, out_dim)) for _ in range(experts)
        )
        self.w_gate = nn.Parameter(torch.zeros(in_dim, experts))
        self.w_noise = nn.Parameter(torch.zeros(in_dim, experts))

    def forward(self, x: torch.Tensor, generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` ``[B, in_dim]`` -> (output ``[B, out_dim]``, load-balancing loss, a scalar)."""
        num_experts = len(self.experts)
        clean = x @ self.w_gate
        noisy = self.noisy and self.training
        logits, std = clean, None
        if noisy:
            std = F.softplus(x @ self.w_noise) + NOISE_EPS
            noise = torch.randn(clean.shape, generator=generator, device=clean.device, dtype=clean.dtype)
            logits = clean + noise * std
        top_values, top_index = logits.topk(min(self.k + 1, num_experts), dim=1)
        gates = torch.zeros_like(logits).scatter(1, top_index[:, : self.k], top_values[:, : self.k].softmax(dim=1))
        if noisy and self.k < num_experts:
            load = self._prob_in_top_k(clean, logits, std, top_values).sum(0)
        else:
            load = (gates > 0).sum(0).to(gates.dtype)
        loss = cv_squared(gates.sum(0)) + cv_squared(load)
        outputs = torch.stack([expert(x) for expert in self.experts], dim=1)  # [B, E, out]
        return (gates.unsqueeze(-1) * outputs).sum(dim=1), loss

    def _prob_in_top_k(
        self, clean: torch.Tensor, noisy: torch.Tensor, std: torch.Tensor, top_values: torch.Tensor
    ) -> torch.Tensor:
        """The probability, under fresh noise, that each expert is among a sample's top ``k`` (differentiable).

        An expert now in the top k stays there if its noisy logit beats the (k+1)-th value; one now
        outside gets in if it beats the k-th.
        """
        threshold_in = top_values[:, self.k : self.k + 1]
        threshold_out = top_values[:, self.k - 1 : self.k]
        is_in = noisy > threshold_in
        prob_in = torch.special.ndtr((clean - threshold_in) / std)
        prob_out = torch.special.ndtr((clean - threshold_out) / std)
        return torch.where(is_in, prob_in, prob_out)


class UnimodalEncoder(nn.Module):
    """One modality: a bias-free temporal convolution to ``dim`` and a MulT-style Transformer encoder.

    Returns the global vector (max over valid time steps) and ``segments`` local tokens (adaptive
    max-pooling over the valid steps). Padded steps are zeroed before the convolution and masked
    out of the attention, so padding does not change the output.
    """

    def __init__(self, in_dim: int, dim: int, heads: int, layers: int, kernel: int, segments: int, **dropouts) -> None:
        super().__init__()
        self.segments = segments
        self.conv = nn.Conv1d(in_dim, dim, kernel_size=kernel, padding=kernel // 2, bias=False)
        self.encoder = CrossmodalTransformer(dim, heads, layers, causal=False, **dropouts)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        mask = length_mask(lengths, x)
        if mask is not None:
            x = x * mask.unsqueeze(-1).to(x.dtype)
            mask = mask | ~mask.any(dim=1, keepdim=True)  # an empty sequence attends to its padding, then pools to 0
        h = self.encoder(self.conv(x.transpose(1, 2)).transpose(1, 2), key_mask=mask)
        return segment_max(h, lengths, 1).squeeze(1), segment_max(h, lengths, self.segments)


class TokenAttention(nn.Module):
    """GLoMo's attention over three tokens: an MLP on their concatenation gives three softmax weights."""

    def __init__(self, dim: int, dropout: float) -> None:
        super().__init__()
        self.scale = dim**-0.5
        self.mlp = nn.Sequential(nn.Linear(3 * dim, dim), nn.Dropout(dropout), nn.ReLU(), nn.Linear(dim, 3))

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``tokens`` ``[B, 3, D]`` -> (weights ``[B, 3]``, weighted sum ``[B, D]``)."""
        weights = (self.mlp(tokens.flatten(1)) * self.scale).softmax(dim=1)
        return weights, (weights.unsqueeze(-1) * tokens).sum(dim=1)


class GLoMo(Backbone):
    """Global and local views of each modality, local ones refined by a mixture of experts, fused by attention.

    Encoder (per modality): a temporal convolution (kernel 3) and a Transformer encoder; the global
    vector is the maximum over time, the local tokens an adaptive max-pooling to ``segments``
    pieces, whose concatenation goes through a mixture of ``experts`` two-layer MLPs with noisy
    top-``top_k`` gating. The latent of a modality is ``[global; MoE output]`` ``[B, 2, d_model]``,
    the point where the MS-Mix release would mix (after the MoE, before the fusion), so a mixing
    method mixes both with the same pairs and ratios. ``encode_with_aux`` returns the three
    load-balancing losses, summed and weighted by ``moe_weight``.

    Head: the six tokens (global and local of text, audio, vision) through a Transformer
    (``fusion_layers``); attention over the three global tokens and over the three local ones gives
    ``Z_g`` and ``Z_l``; ``Z1 = Linear([Z_g; Z_l])``, ``Z2`` = the global weights' sum of
    ``Linear_m([global_m; local_m])``; the prediction is ``Linear([Z1; Z2])``.

    Text is treated like audio and vision (pre-extracted features, no BERT): GLoMo's own text path
    reads BERT's CLS and last two layers. The gating noise comes from the model's own generator,
    seeded when the model is built from torch's global generator (which the trainer seeds with the
    run's seed): same seed, same noise; :meth:`reseed_noise` restarts it.

    Size knobs (defaults shrunk for a CPU; the GLoMo paper's MOSI settings, else its code's, in brackets):

    - ``d_model=32`` [48], ``num_heads=4`` [16] (must divide ``d_model``), ``layers=2`` [4]: the
      unimodal Transformer encoders.
    - ``kernel=3`` [3] (odd): temporal convolution width, padded to keep the length.
    - ``segments=3`` [3]: local tokens per modality.
    - ``experts=3`` [3], ``top_k=2`` [2], ``noisy_gating=True`` [True], ``moe_weight=0.01`` [0.01].
    - ``attn_dropout=0.5`` [0.5], ``relu_dropout=0.3`` [0.3], ``res_dropout=0.3`` [0.3],
      ``embed_dropout=0.2`` [0.2]: the unimodal encoders' dropouts.
    - ``fusion_layers=2`` [2], ``fusion_ffn_dim=64`` [PyTorch's default 2048], ``fusion_dropout=0.1``
      [0.1]: the fusion Transformer; ``attention_dropout=0.3`` [0.3]: in the token attention MLPs.
    """

    name: ClassVar[str] = "glomo"
    paper: ClassVar[str] = (
        "Zhuang et al. 2024, GLoMo: Global-Local Modal Fusion for Multimodal Sentiment Analysis (ACM MM)"
    )
    latent_is_sequence: ClassVar[bool] = True
    one_step_note: ClassVar[str | None] = (
        "GLoMo on one step per modality: the global vector is that step and its three local windows repeat it, "
        "so the global/local split it is built on carries nothing: it trains, but its comparison with the "
        "paper's GLoMo is not meaningful."
    )

    def __init__(
        self,
        input_dims: dict[str, int],
        seq_lens: dict[str, int],
        *,
        d_model: int = 32,
        num_heads: int = 4,
        layers: int = 2,
        kernel: int = 3,
        segments: int = 3,
        experts: int = 3,
        top_k: int = 2,
        noisy_gating: bool = True,
        moe_weight: float = 0.01,
        attn_dropout: float = 0.5,
        relu_dropout: float = 0.3,
        res_dropout: float = 0.3,
        embed_dropout: float = 0.2,
        fusion_layers: int = 2,
        fusion_ffn_dim: int = 64,
        fusion_dropout: float = 0.1,
        attention_dropout: float = 0.3,
    ) -> None:
        super().__init__()
        check_inputs(self.name, input_dims, seq_lens)
        require(d_model % num_heads == 0, f"glomo: num_heads={num_heads} must divide d_model={d_model}")
        require(kernel % 2 == 1, f"glomo: kernel={kernel} must be odd (it is padded to keep the sequence length)")
        require(top_k <= experts, f"glomo: top_k={top_k} must not exceed experts={experts}")
        self.moe_weight = float(moe_weight)
        dropouts = {
            "attn_dropout": attn_dropout,
            "relu_dropout": relu_dropout,
            "res_dropout": res_dropout,
            "embed_dropout": embed_dropout,
        }
        self.encoders = nn.ModuleDict(
            {
                m: UnimodalEncoder(input_dims[m], d_model, num_heads, layers, kernel, segments, **dropouts)
                for m in MODALITIES
            }
        )
        self.moe = nn.ModuleDict(
            {m: NoisyTopKMoE(segments * d_model, d_model, d_model, experts, top_k, noisy_gating) for m in MODALITIES}
        )
        self.latent_dims = dict.fromkeys(MODALITIES, d_model)
        layer = nn.TransformerEncoderLayer(
            d_model, num_heads, dim_feedforward=fusion_ffn_dim, dropout=fusion_dropout, batch_first=True
        )
        self.fusion = nn.TransformerEncoder(layer, fusion_layers, enable_nested_tensor=False)
        self.attend_global = TokenAttention(d_model, attention_dropout)
        self.attend_local = TokenAttention(d_model, attention_dropout)
        self.per_modality = nn.ModuleDict({m: nn.Linear(2 * d_model, d_model) for m in MODALITIES})
        self.combine = nn.Linear(2 * d_model, d_model)
        self.regression = nn.Linear(2 * d_model, 1)
        self.noise_seed = int(torch.randint(0, 2**62, (), device="cpu").item())  # cpu: also under a meta device
        self._generators: dict[torch.device, torch.Generator] = {}

    def reseed_noise(self, seed: int) -> None:
        """Restart the gating noise from ``seed`` (on every device)."""
        self.noise_seed = int(seed)
        self._generators.clear()

    def _generator(self, device: torch.device) -> torch.Generator:
        if device not in self._generators:
            self._generators[device] = torch.Generator(device=device).manual_seed(self.noise_seed)
        return self._generators[device]

    def encode(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self.encode_with_aux(batch)[0]

    def encode_with_aux(self, batch: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """The latents ``[B, 2, d_model]`` (global, MoE output) and ``moe_weight`` × the summed balancing losses."""
        latents, balance = {}, []
        for m in MODALITIES:
            x = batch[m]
            global_m, local_m = self.encoders[m](x, batch.get(f"{m}_lengths"))
            moe_m, loss_m = self.moe[m](local_m.flatten(1), self._generator(x.device))
            latents[m] = torch.stack([global_m, moe_m], dim=1)
            balance.append(loss_m)
        return latents, self.moe_weight * torch.stack(balance).sum()

    def head(self, latents: dict[str, torch.Tensor]) -> torch.Tensor:
        tokens = self.fusion(torch.cat([latents[m] for m in MODALITIES], dim=1))  # [B, 6, d]: g_t, l_t, g_a, ...
        global_tokens, local_tokens = tokens[:, 0::2], tokens[:, 1::2]
        weights, z_global = self.attend_global(global_tokens)
        _, z_local = self.attend_local(local_tokens)
        z1 = self.combine(torch.cat([z_global, z_local], dim=1))
        per_modality = torch.stack(
            [self.per_modality[m](tokens[:, 2 * i : 2 * i + 2].flatten(1)) for i, m in enumerate(MODALITIES)], dim=1
        )
        z2 = (weights.unsqueeze(-1) * per_modality).sum(dim=1)
        return self.regression(torch.cat([z1, z2], dim=1)).squeeze(-1)
