"""Building blocks shared by several backbones: length masks, pooled and recurrent subnetworks,
multi-head attention, positional encodings and the argument checks every constructor runs."""

from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F
from torch import nn

from msmix_core import MODALITIES
from msmix_core.errors import MsmixError


def check_inputs(name: str, input_dims: dict[str, int], seq_lens: dict[str, int]) -> None:
    """Raise :class:`MsmixError` unless both maps give a positive integer for every modality."""
    for label, sizes in (("input_dims", input_dims), ("seq_lens", seq_lens)):
        for m in MODALITIES:
            value = sizes.get(m) if isinstance(sizes, dict) else None
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise MsmixError(
                    f"backbone '{name}': {label}[{m!r}] must be a positive integer, got {value!r}; "
                    f"pass a dict with keys {list(MODALITIES)} (a dataset's .dims / .seq_lens)"
                )


def require(condition: bool, message: str) -> None:
    """Raise :class:`MsmixError` with ``message`` when a constraint between knobs fails."""
    if not condition:
        raise MsmixError(message)


def length_mask(lengths: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor | None:
    """``[B, T]`` bool mask of the valid steps of ``x`` ``[B, T, D]``, or None when all are valid."""
    if lengths is None:
        return None
    steps = torch.arange(x.shape[1], device=x.device)
    return steps.unsqueeze(0) < lengths.to(x.device).unsqueeze(1)


def masked_mean(x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """Mean of ``x`` ``[B, T, D]`` over its first ``lengths`` steps; zeros for empty sequences."""
    mask = length_mask(lengths, x)
    if mask is None:
        return x.mean(dim=1)
    weights = mask.to(x.dtype).unsqueeze(-1)
    return (x * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


class LoneSampleBatchNorm1d(nn.BatchNorm1d):
    """``BatchNorm1d`` that normalises a batch of one sample with the running statistics.

    Batch statistics of a single sample are undefined (PyTorch raises); a trailing batch of
    one sample in training is normalised like an evaluation batch instead, without updating
    the running statistics.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and x.shape[0] == 1:
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)
        return super().forward(x)


class SubNet(nn.Module):
    """TFN's pre-fusion subnetwork on the time-averaged features (Zadeh et al. 2017).

    Masked mean over time, batch norm, dropout, three ReLU layers of width ``hidden``; MMSA's
    ``SubNet``, with the time averaging (done by MMSA's loader) moved in so lengths are honoured.
    """

    def __init__(self, in_dim: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.norm = LoneSampleBatchNorm1d(in_dim)
        self.drop = nn.Dropout(dropout)
        self.layers = nn.Sequential(
            nn.Linear(in_dim, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
        )

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.layers(self.drop(self.norm(masked_mean(x, lengths))))


class TextSubNet(nn.Module):
    """TFN's text subnetwork: an LSTM read at each sample's last valid step, dropout, a linear map.

    The state is taken at step ``length - 1`` of a single pass over the padded batch, which a
    unidirectional LSTM makes independent of the padding; an empty sequence gives the LSTM's
    zero initial state.
    """

    def __init__(self, in_dim: int, hidden: int, out_dim: int, dropout: float) -> None:
        super().__init__()
        self.rnn = nn.LSTM(in_dim, hidden, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.linear = nn.Linear(hidden, out_dim)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        outputs, _ = self.rnn(x)
        if lengths is None:
            last = outputs[:, -1]
        else:
            lengths = lengths.to(x.device)
            index = (lengths - 1).clamp(min=0).view(-1, 1, 1).expand(-1, 1, outputs.shape[-1])
            last = outputs.gather(1, index).squeeze(1) * (lengths > 0).unsqueeze(1).to(outputs.dtype)
        return self.linear(self.drop(last))


def tfn_subnets(
    input_dims: dict[str, int], hidden: dict[str, int], text_out: int, dropout: dict[str, float]
) -> nn.ModuleDict:
    """TFN's and LMF's pre-fusion subnetworks: the text LSTM and the audio and vision MLPs."""
    return nn.ModuleDict(
        {
            "text": TextSubNet(input_dims["text"], hidden["text"], text_out, dropout["text"]),
            "audio": SubNet(input_dims["audio"], hidden["audio"], dropout["audio"]),
            "vision": SubNet(input_dims["vision"], hidden["vision"], dropout["vision"]),
        }
    )


def encode_each(subnets: nn.ModuleDict, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Run each modality's subnetwork on its features and lengths."""
    return {m: subnets[m](batch[m], batch.get(f"{m}_lengths")) for m in MODALITIES}


def append_one(h: torch.Tensor) -> torch.Tensor:
    """``[1; h]`` (TFN, LMF): the constant 1 keeps the lower-order terms in the multiplicative fusion."""
    return torch.cat([torch.ones_like(h[:, :1]), h], dim=1)


class PostFusionMLP(nn.Module):
    """TFN's and LF-DNN's post-fusion network: dropout, two ReLU layers, a linear output ``[B]``."""

    def __init__(self, in_dim: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(in_dim, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


def split_heads_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    heads: int,
    mask: torch.Tensor | None = None,
    dropout: float = 0.0,
) -> torch.Tensor:
    """Scaled dot-product attention of projected ``[B, T, H·d]`` tensors, split into ``heads``.

    ``mask`` is boolean, True where a query may attend to a key, broadcastable to
    ``[B, heads, Tq, Tk]``. Returns ``[B, Tq, H·d]``.
    """
    b, tq, inner = q.shape
    d = inner // heads
    q, k, v = (t.reshape(b, t.shape[1], heads, d).transpose(1, 2) for t in (q, k, v))
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)
    return out.transpose(1, 2).reshape(b, tq, inner)


class MultiHeadAttention(nn.Module):
    """Multi-head attention with separate query/key/value inputs and a boolean ``mask``.

    ``dropout`` acts on the attention weights during training (MulT's ``attn_dropout``);
    ``qkv_bias=False`` gives ALMT's bias-free projections.
    """

    def __init__(self, dim: int, heads: int, dropout: float = 0.0, qkv_bias: bool = True) -> None:
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        self.to_q = nn.Linear(dim, dim, bias=qkv_bias)
        self.to_k = nn.Linear(dim, dim, bias=qkv_bias)
        self.to_v = nn.Linear(dim, dim, bias=qkv_bias)
        self.to_out = nn.Linear(dim, dim)

    def forward(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        dropout = self.dropout if self.training else 0.0
        out = split_heads_attention(self.to_q(q), self.to_k(k), self.to_v(v), self.heads, mask, dropout)
        return self.to_out(out)


def sinusoidal_positions(length: int, dim: int, device: torch.device) -> torch.Tensor:
    """Fairseq's sinusoidal position encodings ``[length, dim]`` for positions ``1..length`` (MulT)."""
    half = dim // 2
    scale = math.log(10000) / max(half - 1, 1)
    freqs = torch.exp(torch.arange(half, device=device, dtype=torch.float32) * -scale)
    angles = torch.arange(1, length + 1, device=device, dtype=torch.float32).unsqueeze(1) * freqs.unsqueeze(0)
    table = torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)
    return F.pad(table, (0, dim - 2 * half))
