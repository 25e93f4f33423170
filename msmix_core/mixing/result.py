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

    ``M`` is the number of mixed samples (0 when the batch could not be mixed).

    - ``mixed``: modality -> mixed features ``[M, ...]`` (same trailing shape as the input).
    - ``mixed_labels`` ``[M]``: the mixed regression targets.
    - ``labels_a``/``labels_b`` ``[M]`` and ``lam["label"]`` ``[M]``: the two source labels and
      the label ratio; the mixed loss is ``lam·ℓ(ŷ, y_a) + (1 - lam)·ℓ(ŷ, y_b)``. Methods that
      mix more than two samples (MultiMix) set ``labels_a = labels_b = mixed_labels`` and
      ``lam["label"] = 1``.
    - ``pairs`` ``[M, 2]``: batch indices of the two sources (for MultiMix: the two samples with
      the largest weights).
    - ``lam``: ``"text"``, ``"audio"``, ``"vision"``, ``"label"`` -> ``[M]`` ratios of source a.
    - ``alignment_loss``: a scalar auxiliary loss (MS-Mix's SAL; zero for the others).
    - ``similarity`` ``[B, B]``: the SASS similarity when the method computes one, else None.
    - ``candidates`` ``[K, 2]``: candidate pairs when the method has them, else None. Methods may
      fill it lazily through ``candidates_fn`` (computed on first access).
    - ``fallback``: True when SASS found too few candidates and fell back to the top pairs.
    - ``diagnostics``: floats, the same keys for every method (see :func:`pair_diagnostics`).
    """

    mixed: dict[str, torch.Tensor]
    mixed_labels: torch.Tensor
    labels_a: torch.Tensor
    labels_b: torch.Tensor
    pairs: torch.Tensor
    lam: dict[str, torch.Tensor]
    alignment_loss: torch.Tensor
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

    def mix_loss(self, prediction: torch.Tensor, loss_fn: LossFn) -> torch.Tensor:
        """Label-ratio-weighted loss of predictions on the mixed samples against both sources.

        ``loss_fn`` must be element-wise (``reduction="none"``); the result is its mean over
        the mixed samples, or zero when nothing was mixed.
        """
        if self.num_mixed == 0:
            return prediction.sum() * 0.0
        prediction = prediction.reshape(-1)
        lam = self.lam["label"].to(prediction.dtype)
        per_sample = lam * loss_fn(prediction, self.labels_a) + (1 - lam) * loss_fn(prediction, self.labels_b)
        return per_sample.mean()


def pair_diagnostics(
    labels_a: torch.Tensor,
    labels_b: torch.Tensor,
    lam: dict[str, torch.Tensor],
    num_candidates: int,
    fallback: bool,
) -> dict[str, float]:
    """The per-batch diagnostics every method reports, as plain floats.

    - ``num_candidates``: ordered pairs ``a ≠ b`` the method could choose from (``B·(B-1)`` for random
      pairing, the one count convention of every table and page).
    - ``fallback``: 1.0 when SASS fell back to the top pairs, else 0.0.
    - ``contradictory_rate``: share of pairs whose labels have opposite signs (a pair with a
      zero label is never contradictory).
    - ``mean_abs_label_gap``: mean ``|y_a - y_b|``.
    - ``lam_<m>``: mean ratio per modality and for the label.
    """
    out = {"num_candidates": float(num_candidates), "fallback": float(fallback)}
    if labels_a.numel() == 0:
        out.update({"contradictory_rate": 0.0, "mean_abs_label_gap": 0.0})
        out.update({f"lam_{k}": float("nan") for k in (*MODALITIES, "label")})
        return out
    a, b = labels_a.detach().float(), labels_b.detach().float()
    rows = [(a * b) < 0, (a - b).abs(), *[lam[k].detach().expand_as(a) for k in (*MODALITIES, "label")]]
    stats = torch.stack(rows).float().mean(dim=1).tolist()  # one host sync for all diagnostics
    out["contradictory_rate"], out["mean_abs_label_gap"] = stats[0], stats[1]
    out.update({f"lam_{k}": v for k, v in zip((*MODALITIES, "label"), stats[2:], strict=True)})
    return out
