"""What every mixing method returns, and the diagnostics they all report."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from msmix_core import MODALITIES

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class MixResult:
    """The mixed samples of one batch and everything needed to inspect or train on them.

    ``M`` is the number of mixed samples (0 when the batch could not be mixed). Pairwise methods
    fill the pair fields; weighted mixes of many sources (MultiMix, PowMix) fill
    ``source_weights`` instead and leave the pair fields None, so nothing pretends to be a pair.

    - ``mixed``: modality -> mixed features ``[M, ...]`` (same trailing shape as the input).
    - ``mixed_labels`` ``[M]``: the mixed regression targets.
    - ``pairs`` ``[M, 2]``: batch indices of the two sources; ``labels_a``/``labels_b`` ``[M]``
      their labels; ``lam``: ``"text"``, ``"audio"``, ``"vision"``, ``"label"`` -> ``[M]`` ratios
      of source a. The mixed loss is ``lam·ℓ(ŷ, y_a) + (1 - lam)·ℓ(ŷ, y_b)``.
    - ``source_weights`` ``[M, B]``: a weighted mix's label weight on every sample of the batch
      (rows sum to 1); its mixed loss is ``ℓ(ŷ, mixed_label)``. ``lam`` is empty.
    - ``sources``/``weights``: both kinds alike, ``[M, S]`` source indices and label weights
      (a pair is the case ``S = 2``, weights ``(λ, 1 - λ)``).
    - ``alignment_loss``: a scalar auxiliary loss (MS-Mix's SAL; zero for the others).
    - ``similarity`` ``[B, B]``: the SASS similarity when the method computes one, else None.
    - ``candidates`` ``[K, 2]``: the pairs a draw picks from when the method has them, else None. Methods may
      fill it lazily through ``candidates_fn`` (computed on first access).
    - ``fallback``: True when SASS found too few candidates and fell back to the top pairs.
    - ``diagnostics``: floats, the same keys for every method (see :func:`pair_diagnostics` and
      :func:`weight_diagnostics`).
    """

    mixed: dict[str, torch.Tensor]
    mixed_labels: torch.Tensor
    alignment_loss: torch.Tensor
    pairs: torch.Tensor | None = None
    labels_a: torch.Tensor | None = None
    labels_b: torch.Tensor | None = None
    lam: dict[str, torch.Tensor] = field(default_factory=dict)
    source_weights: torch.Tensor | None = None
    similarity: torch.Tensor | None = None
    fallback: bool = False
    diagnostics: dict[str, float] = field(default_factory=dict)
    candidates_fn: Callable[[], torch.Tensor] | None = field(default=None, repr=False)
    _candidates: torch.Tensor | None = field(default=None, repr=False)

    @property
    def candidates(self) -> torch.Tensor | None:
        if self._candidates is None and self.candidates_fn is not None:
            self._candidates = self.candidates_fn()
        return self._candidates

    @property
    def num_mixed(self) -> int:
        return int(self.mixed_labels.shape[0])

    @property
    def sources(self) -> torch.Tensor:
        """``[M, S]`` batch indices of each mixed sample's sources."""
        if self.pairs is not None:
            return self.pairs
        m, b = self.source_weights.shape
        return torch.arange(b, device=self.source_weights.device).expand(m, b)

    @property
    def weights(self) -> torch.Tensor:
        """``[M, S]`` label weight of each source in :attr:`sources` (rows sum to 1)."""
        if self.pairs is not None:
            lam = self.lam["label"]
            return torch.stack([lam, 1 - lam], dim=1)
        return self.source_weights

    def mix_loss(self, prediction: torch.Tensor, loss_fn: LossFn) -> torch.Tensor:
        """Loss of predictions on the mixed samples: label-ratio weighted over a pair's two sources,
        against the mixed label for a weighted mix.

        ``loss_fn`` must be element-wise (``reduction="none"``); the result is its mean over
        the mixed samples, or zero when nothing was mixed.
        """
        if self.num_mixed == 0:
            return prediction.sum() * 0.0
        prediction = prediction.reshape(-1)
        if self.pairs is None:
            return loss_fn(prediction, self.mixed_labels).mean()
        lam = self.lam["label"].to(prediction.dtype)
        per_sample = lam * loss_fn(prediction, self.labels_a) + (1 - lam) * loss_fn(prediction, self.labels_b)
        return per_sample.mean()


#: The ratios every method reports a mean of (``lam_<key>``); NaN where a method has none.
RATIO_KEYS = (*MODALITIES, "label")


def _empty_diagnostics(num_candidates: int, fallback: bool) -> dict[str, float]:
    out = {"num_candidates": float(num_candidates), "fallback": float(fallback)}
    out.update({"contradictory_rate": 0.0, "opposite_mass": 0.0, "mean_abs_label_gap": 0.0})
    return out | {f"lam_{k}": float("nan") for k in RATIO_KEYS}


def _opposite(labels: torch.Tensor, mixed_labels: torch.Tensor) -> torch.Tensor:
    """``bool``: True where a source label's sign is strictly opposite to its mixed label's."""
    return labels * mixed_labels < 0


def pair_diagnostics(
    labels_a: torch.Tensor,
    labels_b: torch.Tensor,
    lam: dict[str, torch.Tensor],
    num_candidates: int,
    fallback: bool,
) -> dict[str, float]:
    """The per-batch diagnostics of a pairwise method, as plain floats.

    - ``num_candidates``: ordered pairs ``a ≠ b`` the method could choose from (``B·(B-1)`` for random
      pairing, the one count convention of every table and page).
    - ``fallback``: 1.0 when SASS fell back to the top pairs, else 0.0.
    - ``contradictory_rate``: share of pairs whose labels have opposite signs (a pair with a
      zero label is never contradictory): the pair case of :func:`weight_diagnostics`' rate.
    - ``opposite_mass``: mean label weight on the source whose sign is opposite to the mixed label's.
    - ``mean_abs_label_gap``: mean ``|y_a - y_b|``.
    - ``lam_<m>``: mean ratio per modality and for the label.
    """
    if labels_a.numel() == 0:
        return _empty_diagnostics(num_candidates, fallback)
    a, b = labels_a.detach().float(), labels_b.detach().float()
    lam_y = lam["label"].detach().float().expand_as(a)
    mixed = torch.lerp(b, a, lam_y)
    opposite_mass = lam_y * _opposite(a, mixed) + (1 - lam_y) * _opposite(b, mixed)
    rows = [(a * b) < 0, opposite_mass, (a - b).abs(), *[lam[k].detach().expand_as(a) for k in RATIO_KEYS]]
    stats = torch.stack(rows).float().mean(dim=1).tolist()  # one host sync for all diagnostics
    out = {"num_candidates": float(num_candidates), "fallback": float(fallback)}
    out.update(zip(("contradictory_rate", "opposite_mass", "mean_abs_label_gap"), stats[:3], strict=True))
    return out | {f"lam_{k}": v for k, v in zip(RATIO_KEYS, stats[3:], strict=True)}


def weight_diagnostics(labels: torch.Tensor, weights: torch.Tensor, num_candidates: int) -> dict[str, float]:
    """The diagnostics of a weighted mix (``weights`` ``[M, B]``, label weights over the batch), same keys.

    - ``contradictory_rate``: share of mixed samples with any label weight (> 0) on a source whose
      sign is strictly opposite to the mixed label's; for a pair this is a pair of opposite signs.
    - ``opposite_mass``: mean label weight on such sources.
    - ``mean_abs_label_gap`` and ``lam_<m>``: NaN, a mix of many sources has no pair gap and no ratio.
    """
    if weights.shape[0] == 0:
        return _empty_diagnostics(num_candidates, False)
    w, y = weights.detach().float(), labels.detach().float().reshape(1, -1)
    mixed = w @ y.reshape(-1, 1)
    opposite_mass = (w * _opposite(y, mixed)).sum(dim=1)
    rate, mass = torch.stack([(opposite_mass > 0).float(), opposite_mass]).mean(dim=1).tolist()
    nan = float("nan")
    out = {"num_candidates": float(num_candidates), "fallback": 0.0, "contradictory_rate": rate}
    out |= {"opposite_mass": mass, "mean_abs_label_gap": nan}
    return out | {f"lam_{k}": nan for k in RATIO_KEYS}
