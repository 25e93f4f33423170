"""MISA: modality-invariant and -specific representations (Hazarika et al., ACM MM 2020), after MMSA's ``MISA``."""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from msmix_core import MODALITIES
from msmix_core.models.base import Backbone
from msmix_core.models.layers import check_inputs, masked_mean, require


def central_moment_discrepancy(x: torch.Tensor, y: torch.Tensor, moments: int = 5) -> torch.Tensor:
    """CMD (Zellinger et al. 2017) between two ``[B, D]`` samples, as in MISA's code.

    ``‖E[x] - E[y]‖ + Σ_{k=2..moments} ‖E[(x - E x)^k] - E[(y - E y)^k]‖`` (unnormalised).
    ``vector_norm`` has a zero subgradient at 0, so a batch of one sample trains without NaN.
    """
    mx, my = x.mean(0), y.mean(0)
    cx, cy = x - mx, y - my
    total = torch.linalg.vector_norm(mx - my)
    for k in range(2, moments + 1):
        total = total + torch.linalg.vector_norm(cx.pow(k).mean(0) - cy.pow(k).mean(0))
    return total


def soft_orthogonality(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """MISA's difference loss: squared Frobenius norm of the correlation of two ``[B, D]`` codes.

    Each code is centred over the batch and scaled to unit rows (norms detached, as in MISA's
    ``DiffLoss``); the result is the mean of ``(xᵀy)²``.
    """
    x, y = x - x.mean(0, keepdim=True), y - y.mean(0, keepdim=True)
    x = x / (x.norm(dim=1, keepdim=True).detach() + 1e-6)
    y = y / (y.norm(dim=1, keepdim=True).detach() + 1e-6)
    return (x.t() @ y).pow(2).mean()


class StackedBiLSTM(nn.Module):
    """MISA's audio/vision encoder: two bidirectional LSTMs with a layer norm in between.

    Returns the final forward and backward states of both layers, ``[B, 4·hidden]``. Sequences
    are packed, so padding is never read; an empty sequence encodes as zeros.
    """

    def __init__(self, in_dim: int, hidden: int) -> None:
        super().__init__()
        self.rnn1 = nn.LSTM(in_dim, hidden, bidirectional=True, batch_first=True)
        self.norm = nn.LayerNorm(2 * hidden)
        self.rnn2 = nn.LSTM(2 * hidden, hidden, bidirectional=True, batch_first=True)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        if lengths is None:
            lengths = torch.full((x.shape[0],), x.shape[1], dtype=torch.int64)
        lengths = lengths.to("cpu", torch.int64)
        packed = pack_padded_sequence(x, lengths.clamp(min=1), batch_first=True, enforce_sorted=False)
        out1, (h1, _) = self.rnn1(packed)
        _, (h2, _) = self.rnn2(out1._replace(data=self.norm(out1.data)))
        final = torch.cat([h1, h2], dim=2).transpose(0, 1).reshape(x.shape[0], -1)
        return final * (lengths > 0).to(final.device, final.dtype).unsqueeze(1)


def _projection(in_dim: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.LayerNorm(hidden))


class MISA(Backbone):
    """Each modality is split into a shared (modality-invariant) and a private (-specific) code.

    Utterance vectors: the masked mean of the text features (MISA's pooling of BERT's output,
    here over pre-extracted BERT vectors), a two-layer BiLSTM for audio and vision. Each is
    projected to ``hidden_size``; one shared encoder and three private encoders (sigmoid
    layers) split it. The latent of a modality is ``[private; shared]`` ``[B, 2·hidden_size]``,
    exactly what the fusion consumes: the head stacks the six codes as tokens, runs MISA's
    one-layer transformer over them and an MLP on their concatenation.

    :meth:`encode_with_aux` also returns MISA's losses on the batch it encodes, weighted:
    similarity (CMD over the three pairs of shared codes, MMSA's default ``use_cmd_sim``),
    difference (soft orthogonality between each private and shared code and between the
    private codes) and reconstruction (MSE between each projection and a linear map of
    private + shared).

    Size knobs (MMSA's MOSI config in brackets):

    - ``hidden_size=32`` [128] (even: the fusion transformer has two heads).
    - ``fusion_ffn_dim=64`` [PyTorch's default 2048]: feed-forward width of that transformer.
    - ``dropout=0.2`` [0.2]: dropout of the fusion MLP (the transformer keeps PyTorch's 0.1).
    - ``sim_weight=0.3`` [0.3], ``diff_weight=0.1`` [0.1], ``recon_weight=1.0`` [1.0].
    - ``cmd_moments=5`` [5]: central moments compared by CMD.
    """

    name: ClassVar[str] = "misa"
    paper: ClassVar[str] = (
        "Hazarika et al. 2020, MISA: Modality-Invariant and -Specific Representations for Multimodal Sentiment "
        "Analysis (ACM MM)"
    )
    latent_is_sequence: ClassVar[bool] = False

    def __init__(
        self,
        input_dims: dict[str, int],
        seq_lens: dict[str, int],
        *,
        hidden_size: int = 32,
        fusion_ffn_dim: int = 64,
        dropout: float = 0.2,
        sim_weight: float = 0.3,
        diff_weight: float = 0.1,
        recon_weight: float = 1.0,
        cmd_moments: int = 5,
    ) -> None:
        super().__init__()
        check_inputs(self.name, input_dims, seq_lens)
        require(hidden_size % 2 == 0, f"misa: hidden_size={hidden_size} must be even (two attention heads)")
        self.hidden_size = hidden_size
        self.weights = {"sim": float(sim_weight), "diff": float(diff_weight), "recon": float(recon_weight)}
        self.cmd_moments = cmd_moments
        # MISA sizes each BiLSTM like its input.
        self.rnns = nn.ModuleDict({m: StackedBiLSTM(input_dims[m], input_dims[m]) for m in ("audio", "vision")})
        self.project = nn.ModuleDict(
            {
                "text": _projection(input_dims["text"], hidden_size),
                "audio": _projection(4 * input_dims["audio"], hidden_size),
                "vision": _projection(4 * input_dims["vision"], hidden_size),
            }
        )
        self.private = nn.ModuleDict(
            {m: nn.Sequential(nn.Linear(hidden_size, hidden_size), nn.Sigmoid()) for m in MODALITIES}
        )
        self.shared = nn.Sequential(nn.Linear(hidden_size, hidden_size), nn.Sigmoid())
        self.recon = nn.ModuleDict({m: nn.Linear(hidden_size, hidden_size) for m in MODALITIES})
        self.fusion_transformer = nn.TransformerEncoderLayer(
            hidden_size, nhead=2, dim_feedforward=fusion_ffn_dim, batch_first=True
        )
        self.fusion = nn.Sequential(
            nn.Linear(6 * hidden_size, 3 * hidden_size),
            nn.Dropout(dropout),
            nn.ReLU(),
            nn.Linear(3 * hidden_size, 1),
        )
        self.latent_dims = dict.fromkeys(MODALITIES, 2 * hidden_size)

    def _utterances(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        utterances = {"text": masked_mean(batch["text"], batch.get("text_lengths"))}
        for m in ("audio", "vision"):
            utterances[m] = self.rnns[m](batch[m], batch.get(f"{m}_lengths"))
        return {m: self.project[m](u) for m, u in utterances.items()}

    def encode(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self.encode_with_aux(batch)[0]

    def encode_with_aux(self, batch: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """The latents and ``sim_weight·CMD + diff_weight·difference + recon_weight·reconstruction``."""
        projected = self._utterances(batch)
        private = {m: self.private[m](u) for m, u in projected.items()}
        shared = {m: self.shared(u) for m, u in projected.items()}
        t, a, v = MODALITIES
        sim = sum(
            central_moment_discrepancy(shared[x], shared[y], self.cmd_moments) for x, y in ((t, v), (t, a), (a, v))
        )
        diff = sum(soft_orthogonality(private[m], shared[m]) for m in MODALITIES) + sum(
            soft_orthogonality(private[x], private[y]) for x, y in ((a, t), (a, v), (t, v))
        )
        recon = sum(F.mse_loss(self.recon[m](private[m] + shared[m]), projected[m]) for m in MODALITIES)
        losses = {"sim": sim / 3, "diff": diff, "recon": recon / 3}
        aux = sum(self.weights[k] * losses[k] for k in losses)
        return {m: torch.cat([private[m], shared[m]], dim=1) for m in MODALITIES}, aux

    def head(self, latents: dict[str, torch.Tensor]) -> torch.Tensor:
        private = [latents[m][:, : self.hidden_size] for m in MODALITIES]
        shared = [latents[m][:, self.hidden_size :] for m in MODALITIES]
        tokens = self.fusion_transformer(torch.stack(private + shared, dim=1))
        return self.fusion(tokens.flatten(1)).squeeze(-1)
