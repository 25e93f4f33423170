"""MS-Mix's functional core: SASS pair selection, SIG ratios and the SAL loss, step by step.

It computes what the authors' released ``MS_Mix`` computes (Zhu et al., arXiv 2510.11579;
github HongyuZhu-s/MS-Mix, ``models/MS_MIX.py``) with three deliberate differences, all
documented in ``docs/mixing.md``:

- the draw of pairs is vectorised (top-k of uniform keys over the candidate mask, which is
  uniform sampling without replacement) instead of listing and permuting all candidates on the
  host, and it uses the caller's ``torch.Generator``;
- for ``[B, T, D]`` features the ratios use the same ``|I|`` min-max weights as the 2-D path
  (the release feeds raw, signed intensities there, which can push ratios outside [0, 1]);
- the fallback never asks for more top pairs than the upper triangle holds.

The paper's text gives δ = 0.2, the released code 0.4; the default here is the code's.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from msmix_core import MODALITIES
from msmix_core.errors import MsmixError
from msmix_core.mixing.result import MixResult, pair_diagnostics

#: Additive constants of the released code: ratio smoothing, weight normalisation, SAL epsilon.
RATIO_EPS = 1e-8
WEIGHT_EPS = 1e-8
SAL_EPS = 1e-8
SAL_SCALE = 1000.0


def sass_similarity(features: dict[str, torch.Tensor]) -> torch.Tensor:
    """SASS similarity ``[B, B]``: mean cosine similarity over modalities, min-max normalised.

    The min and max are taken over the off-diagonal entries; a constant matrix becomes 0.5;
    the diagonal is 0, so a sample is never its own candidate.
    """
    b = features[MODALITIES[0]].shape[0]
    sim = None
    for m in MODALITIES:
        z = F.normalize(features[m].reshape(b, -1).float(), p=2, dim=1)
        part = z @ z.T
        sim = part if sim is None else sim + part
    sim = sim / len(MODALITIES)
    off = ~torch.eye(b, dtype=torch.bool, device=sim.device)
    if b < 2:
        return torch.zeros_like(sim)
    values = sim[off]
    low, high = values.min(), values.max()
    span = high - low
    normalised = torch.where(span > 1e-8, (sim - low) / span.clamp(min=1e-8), torch.full_like(sim, 0.5))
    return normalised * off


def candidate_mask(similarity: torch.Tensor, threshold: float) -> torch.Tensor:
    """Ordered pairs ``(i, j)`` whose SASS similarity exceeds δ (``bool [B, B]``, diagonal False)."""
    off = ~torch.eye(similarity.shape[0], dtype=torch.bool, device=similarity.device)
    return (similarity > threshold) & off


def opposite_sign(labels: torch.Tensor) -> torch.Tensor:
    """``bool [B, B]``: True where two labels have strictly opposite signs (zeros never clash)."""
    return (labels[:, None] * labels[None, :]) < 0


def intensity_weights(intensity: torch.Tensor) -> torch.Tensor:
    """SIG weights: ``|I|`` min-max normalised over the batch (the released code's formula)."""
    w = intensity.abs()
    return (w - w.min()) / (w.max() - w.min() + WEIGHT_EPS)


def sig_ratios(
    weights: dict[str, torch.Tensor], pairs: torch.Tensor, lam_base: torch.Tensor, use_sig: bool = True
) -> dict[str, torch.Tensor]:
    """Per-modality ratios of source ``a`` and the label ratio (their mean), each ``[M]``."""
    if not use_sig:
        return {**{m: lam_base for m in MODALITIES}, "label": lam_base}
    lam = {}
    for m in MODALITIES:
        wa, wb = weights[m][pairs[:, 0]], weights[m][pairs[:, 1]]
        lam[m] = (lam_base + (wa + RATIO_EPS) / (wa + wb + 2 * RATIO_EPS)) / 2
    lam["label"] = (lam["text"] + lam["audio"] + lam["vision"]) / 3
    return lam


def alignment_loss(labels: torch.Tensor, intensities: dict[str, torch.Tensor]) -> torch.Tensor:
    """SAL: ``1000 · Σ_m KL(p_y ‖ p_m)`` with ``p = softmax_batch(|x| / 3) + 1e-8``, batch-mean reduced."""
    p_y = F.softmax(labels.reshape(-1).float().abs() / 3.0, dim=0) + SAL_EPS
    total = labels.new_zeros((), dtype=torch.float32)
    for m in MODALITIES:
        p_m = F.softmax(intensities[m].reshape(-1).float().abs() / 3.0, dim=0) + SAL_EPS
        total = total + F.kl_div(torch.log(p_m), p_y, reduction="batchmean")
    return SAL_SCALE * total


def numpy_rng(generator: torch.Generator | None) -> np.random.Generator:
    """A numpy generator seeded from a torch one, for draws torch cannot seed (Beta, Dirichlet)."""
    if generator is None:
        return np.random.default_rng()
    return np.random.default_rng(int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device)))


def sample_beta(alpha: float, size: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """``size`` draws of Beta(α, α), seeded from ``generator`` (torch has no seeded Beta sampler)."""
    seed = (
        None if generator is None else int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
    )
    draws = np.random.default_rng(seed).beta(alpha, alpha, size)
    return torch.from_numpy(draws).to(device=device, dtype=torch.float32)


def draw_pairs(allowed: torch.Tensor, num: int, generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``num`` entries of the ``bool [B, B]`` mask uniformly without replacement.

    Top-k of i.i.d. uniform keys over the allowed entries is exactly uniform sampling without
    replacement, with no host-side listing or permutation of the candidates. Returns the pairs
    ``[M, 2]`` (``M = min(num, allowed.sum())``) and the number of allowed entries.
    """
    b = allowed.shape[0]
    count = int(allowed.sum().item())  # the one host sync: how many pairs can be drawn
    m = min(num, count)
    keys_device = allowed.device if generator is None else generator.device
    keys = torch.rand(b * b, generator=generator, device=keys_device).to(allowed.device)
    keys = keys.masked_fill(~allowed.reshape(-1), -1.0)
    flat = keys.topk(m).indices
    return torch.stack([flat // b, flat % b], dim=1), torch.tensor(count)


def _fallback_mask(similarity: torch.Tensor, num_mix: int, forbidden: torch.Tensor | None) -> torch.Tensor:
    """The ``2·num_mix`` most similar pairs of the strict upper triangle, as a mask."""
    b = similarity.shape[0]
    upper = torch.ones(b, b, dtype=torch.bool, device=similarity.device).triu(1)
    if forbidden is not None:
        upper &= ~forbidden
    k = min(2 * num_mix, int(upper.sum().item()))
    scores = similarity.masked_fill(~upper, -float("inf")).reshape(-1)
    mask = torch.zeros(b * b, dtype=torch.bool, device=similarity.device)
    mask[scores.topk(k).indices] = True
    return mask.reshape(b, b)


def _mix(features: torch.Tensor, pairs: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    shape = (-1,) + (1,) * (features.dim() - 1)
    lam = lam.to(features.dtype).reshape(shape)
    return lam * features[pairs[:, 0]] + (1 - lam) * features[pairs[:, 1]]


def _check(features: dict[str, torch.Tensor], threshold: float, alpha: float) -> None:
    missing = [m for m in MODALITIES if m not in features]
    if missing:
        raise MsmixError(f"features lack the modalities {missing}: give a dict with {list(MODALITIES)}")
    sizes = {features[m].shape[0] for m in MODALITIES}
    if len(sizes) != 1:
        raise MsmixError(f"modalities have different batch sizes {sizes}: every modality needs the same samples")
    if not 0.0 <= threshold <= 1.0 or not alpha > 0:
        raise MsmixError(f"threshold must lie in [0, 1] and alpha be > 0; got threshold={threshold}, alpha={alpha}")


def ms_mix(
    features: dict[str, torch.Tensor],
    labels: torch.Tensor,
    intensities: dict[str, torch.Tensor],
    *,
    threshold: float = 0.4,
    alpha: float = 2.0,
    num_mix: int | None = None,
    pairs: torch.Tensor | None = None,
    lam_base: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    use_sass: bool = True,
    use_sig: bool = True,
    label_guard: bool = False,
) -> MixResult:
    """Mix a batch the MS-Mix way (see the module docstring and ``docs/mixing.md``).

    ``features``: modality -> ``[B, D]`` or ``[B, T, D]``; ``labels``: ``[B]`` or ``[B, 1]``;
    ``intensities``: modality -> ``[B]`` raw predictor outputs. ``pairs`` (``[M, 2]``) and
    ``lam_base`` (``[M]``) replace the random draws when given. ``use_sass=False`` draws pairs
    from all ``i ≠ j``; ``use_sig=False`` uses ``lam_base`` for every modality and the label;
    ``label_guard=True`` never pairs labels of opposite signs.
    """
    _check(features, threshold, alpha)
    labels = labels.reshape(-1)
    b = labels.shape[0]
    device = labels.device
    num_mix = b if num_mix is None else int(num_mix)
    sal = alignment_loss(labels, intensities)
    similarity = sass_similarity(features)
    forbidden = opposite_sign(labels) if label_guard else None

    fallback = False
    if pairs is not None:
        allowed = None
        num_candidates = int(pairs.shape[0])
    elif b < 2 or num_mix < 1:
        allowed, pairs, num_candidates = None, torch.zeros(0, 2, dtype=torch.long, device=device), 0
    else:
        off = ~torch.eye(b, dtype=torch.bool, device=device)
        allowed = candidate_mask(similarity, threshold) if use_sass else off
        if forbidden is not None:
            allowed = allowed & ~forbidden
        pairs, count = draw_pairs(allowed, num_mix, generator) if allowed.any() else (None, torch.tensor(0))
        num_candidates = int(count)
        if use_sass and num_candidates < num_mix:
            fallback = True
            allowed = _fallback_mask(similarity, num_mix, forbidden)
            pairs, count = draw_pairs(allowed, num_mix, generator)
            num_candidates = int(count)
        elif pairs is None:
            pairs = torch.zeros(0, 2, dtype=torch.long, device=device)

    pairs = pairs.to(device=device, dtype=torch.long)
    m = pairs.shape[0]
    if lam_base is None:
        lam_base = sample_beta(alpha, m, generator, device)
    lam_base = lam_base.to(device=device, dtype=torch.float32).reshape(-1)
    if lam_base.shape[0] != m:
        raise MsmixError(f"lam_base has {lam_base.shape[0]} ratios for {m} pairs: give one per pair")
    weights = {mod: intensity_weights(intensities[mod].reshape(-1).float()) for mod in MODALITIES}
    lam = sig_ratios(weights, pairs, lam_base, use_sig)
    mixed = {mod: _mix(features[mod], pairs, lam[mod]) for mod in MODALITIES}
    labels_a, labels_b = labels[pairs[:, 0]], labels[pairs[:, 1]]
    mixed_labels = lam["label"].to(labels.dtype) * labels_a + (1 - lam["label"].to(labels.dtype)) * labels_b
    return MixResult(
        mixed=mixed,
        mixed_labels=mixed_labels,
        labels_a=labels_a,
        labels_b=labels_b,
        pairs=pairs,
        lam=lam,
        alignment_loss=sal,
        similarity=similarity,
        fallback=fallback,
        diagnostics=pair_diagnostics(labels_a, labels_b, lam, num_candidates, fallback),
        candidates_fn=(lambda: allowed.nonzero()) if allowed is not None else None,
    )
