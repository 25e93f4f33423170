"""MS-Mix's functional core: SASS pair selection, SIG ratios and the SAL loss, step by step.

:func:`ms_mix` comes first and reads as the method; the steps it calls follow in its order.

It computes what the authors' released ``MS_Mix`` computes (Zhu et al., arXiv 2510.11579;
github HongyuZhu-s/MS-Mix, ``models/MS_MIX.py``) with these deliberate differences, all
documented in ``docs/mixing.md``:

- the pairs are drawn uniformly without replacement among the candidates, as in the release,
  but as distinct random ranks on the caller's generator (``mixing/sampling.py``), not by
  permuting the candidate list on the host;
- for ``[B, T, D]`` features the ratios use the same ``|I|`` min-max weights as the 2-D path
  (the release feeds raw, signed intensities there, which can push ratios outside [0, 1]);
- the fallback never asks for more top pairs than the upper triangle holds (the release then
  picks padding entries, self pairs included);
- a similarity span below 1e-6 (not 1e-8) counts as constant, so that float32 rounding noise
  between identical samples is not stretched to [0, 1].

The paper's text gives δ = 0.2, the released code 0.4; the default here is the code's
(:data:`~msmix_core.mixing.knobs.THRESHOLD`, MS-Mix's knob).

The same candidate search over a whole split, in tiles, is
:func:`msmix_core.analysis.partners.candidate_partners`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from msmix_core import MODALITIES
from msmix_core.errors import MsmixError
from msmix_core.mixing.knobs import MSMIX_ALPHA, THRESHOLD
from msmix_core.mixing.result import MixResult, pair_diagnostics
from msmix_core.mixing.sampling import as_pairs, distinct_ranks, draw_pairs, sample_beta

#: Additive constants of the released code: ratio smoothing, weight normalisation, SAL epsilon.
RATIO_EPS = 1e-8
WEIGHT_EPS = 1e-8
SAL_EPS = 1e-8
SAL_SCALE = 1000.0
#: Similarity spans at or below this count as constant (every pair then gets 0.5). The release
#: uses 1e-8, below float32's resolution near 1, so identical samples came out as rounding noise.
SPAN_EPS = 1e-6


# --- the whole step, in the order of docs/mixing.md --------------------------------------------


def ms_mix(
    features: dict[str, torch.Tensor],
    labels: torch.Tensor,
    intensities: dict[str, torch.Tensor],
    *,
    threshold: float = THRESHOLD.default,
    alpha: float = MSMIX_ALPHA.default,
    num_mix: int | None = None,
    pairs: torch.Tensor | None = None,
    lam_base: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    use_sass: bool = True,
    use_sig: bool = True,
    label_guard: bool = False,
    detach_ratios: bool = False,
) -> MixResult:
    """Mix a batch the MS-Mix way (see the module docstring and ``docs/mixing.md``).

    ``features``: modality -> ``[B, D]`` or ``[B, T, D]``; ``labels``: ``[B]`` or ``[B, 1]``;
    ``intensities``: modality -> ``[B]`` raw predictor outputs. ``pairs`` (``[M, 2]``) and
    ``lam_base`` (``[M]``) replace the random draws when given. ``use_sass=False`` draws pairs
    from all ``i ≠ j``; ``use_sig=False`` uses ``lam_base`` for every modality and the label;
    ``label_guard=True`` never pairs labels of opposite signs. ``alignment_loss`` is
    differentiable w.r.t. the intensities, and the ratios (hence the mixed samples and the
    mixed-sample loss) as well, as in the release; ``detach_ratios=True`` (our addition) computes
    the ratios from detached intensities, so the mixed-sample loss sends no gradient through them.
    """
    _check(features, labels, intensities, threshold, alpha, num_mix)
    labels = labels.reshape(-1)
    b, device = labels.shape[0], labels.device
    num_mix = b if num_mix is None else int(num_mix)
    similarity = sass_similarity(features) if use_sass else None
    forbidden = opposite_sign(labels) if label_guard else None

    def candidate_pairs() -> torch.Tensor:
        """``bool [B, B]``: SASS's candidates (every ``i ≠ j`` without SASS), less opposite signs under the guard."""
        allowed = candidate_mask(similarity, threshold) if use_sass else ~torch.eye(b, dtype=torch.bool, device=device)
        return allowed & ~forbidden if forbidden is not None else allowed

    fallback, candidates_fn = False, None
    if pairs is not None:  # no draw; the candidates are still those this call would draw from, listed on first access
        pairs = _given_pairs(pairs, b, device)
        num_candidates = pairs.shape[0]
        candidates_fn = lambda: _drawn_from(candidate_pairs(), similarity, num_mix, forbidden)  # noqa: E731
    elif b < 2:
        pairs, num_candidates = torch.zeros(0, 2, dtype=torch.long, device=device), 0
    else:
        allowed = candidate_pairs()
        pairs, num_candidates = draw_pairs(allowed, num_mix, generator)
        candidates_fn = allowed.nonzero
        if use_sass and num_candidates < num_mix:
            fallback = True
            top = _fallback_candidates(similarity, num_mix, forbidden)
            pairs = top[distinct_ranks(top.shape[0], min(num_mix, top.shape[0]), generator, similarity.device)]
            num_candidates, candidates_fn = top.shape[0], lambda: top

    m = pairs.shape[0]
    if lam_base is None:
        lam_base = sample_beta(alpha, m, device, generator)
    else:  # given by the caller (not the training path): checked, at the cost of one sync
        lam_base = torch.as_tensor(lam_base, device=device, dtype=torch.float32).reshape(-1)
        if lam_base.shape[0] != m:
            raise MsmixError(f"lam_base has {lam_base.shape[0]} ratios for {m} pairs: give one per pair")
        if m and not bool(((lam_base >= 0) & (lam_base <= 1)).all()):
            raise MsmixError("lam_base must hold ratios in [0, 1] (NaN is not one): the share of source a in each pair")
    lam_base = lam_base.to(device=device, dtype=torch.float32)
    stacked = stack_modalities(intensities)
    weights = intensity_weights(stacked.detach() if detach_ratios else stacked)
    lam = sig_ratios(weights, pairs, lam_base, use_sig)
    mixed_labels, labels_a, labels_b = mix_labels(labels, pairs, lam["label"])
    return MixResult(
        mixed={mod: mix_pairs(features[mod], pairs, lam[mod]) for mod in MODALITIES},
        mixed_labels=mixed_labels,
        labels_a=labels_a,
        labels_b=labels_b,
        pairs=pairs,
        lam=lam,
        alignment_loss=alignment_loss(labels, stacked),
        similarity=similarity,
        fallback=fallback,
        diagnostics=pair_diagnostics(labels_a, labels_b, lam, num_candidates, fallback),
        candidates_fn=candidates_fn,
    )


# --- SASS: similarity and candidates ----------------------------------------------------------


def unit_rows(features: dict[str, torch.Tensor]) -> torch.Tensor:
    """``[B, ΣD]``: each modality's flattened features L2-normalised and scaled by ``1/√3``.

    Then ``Z Zᵀ`` is the mean over modalities of the cosine similarities, in one product.
    """
    parts = [F.normalize(features[m].detach().flatten(1).float(), p=2, dim=1) for m in MODALITIES]
    return torch.cat(parts, dim=1) / math.sqrt(len(MODALITIES))


def min_max_(similarity: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """In place ``(S - low) / (high - low)``; all 0.5 when the span is at most :data:`SPAN_EPS`."""
    span = high - low
    similarity.sub_(low).div_(span.clamp(min=SPAN_EPS))
    return similarity.masked_fill_(span <= SPAN_EPS, 0.5)


@torch.no_grad()
def sass_similarity(features: dict[str, torch.Tensor]) -> torch.Tensor:
    """SASS similarity ``[B, B]``: mean cosine similarity over modalities, min-max normalised.

    Features are flattened per sample (``[B, T, D]`` -> ``[B, T·D]``). The min and max are taken
    over the off-diagonal entries; a constant matrix becomes 0.5; the diagonal is 0, so a sample
    is never its own candidate. Computed without autograd: it only selects pairs.
    """
    z = unit_rows(features)
    b = z.shape[0]
    similarity = z @ z.T
    if b < 2:
        return torch.zeros_like(similarity)
    # an off-diagonal value on the diagonal leaves the off-diagonal min and max unchanged
    similarity.diagonal().copy_(similarity[0, 1].expand(b))
    low, high = torch.aminmax(similarity)
    return min_max_(similarity, low, high).fill_diagonal_(0.0)


def candidate_mask(similarity: torch.Tensor, threshold: float) -> torch.Tensor:
    """Ordered pairs ``(i, j)`` whose SASS similarity exceeds δ (``bool [B, B]``, diagonal False)."""
    return (similarity > threshold).fill_diagonal_(False)


def opposite_sign(labels: torch.Tensor) -> torch.Tensor:
    """``bool [B, B]``: True where two labels have strictly opposite signs (zeros never clash)."""
    labels = labels.reshape(-1)
    return (labels[:, None] * labels[None, :]) < 0


def _fallback_candidates(similarity: torch.Tensor, num_mix: int, forbidden: torch.Tensor | None) -> torch.Tensor:
    """The release's fallback draws its ``num_mix`` pairs among these: the ``2·num_mix`` most similar pairs
    ``i < j`` (``[K, 2]``, row-major), less opposite signs under the guard."""
    b = similarity.shape[0]
    upper = torch.ones(b, b, dtype=torch.bool, device=similarity.device).triu_(1)
    available = b * (b - 1) // 2
    if forbidden is not None:
        upper &= ~forbidden
        available = int(upper.sum())
    k = min(2 * num_mix, available)
    scores = similarity.masked_fill(~upper, -math.inf).reshape(-1)
    return as_pairs(scores.topk(k).indices.sort().values, b)


def _drawn_from(
    allowed: torch.Tensor, similarity: torch.Tensor | None, num_mix: int, forbidden: torch.Tensor | None
) -> torch.Tensor:
    """``[K, 2]``: the pairs a draw of ``num_mix`` picks from: the ``allowed`` ones, or SASS's fallback
    candidates when fewer than ``num_mix`` are allowed (``similarity`` None: no SASS, no fallback)."""
    if similarity is not None and int(allowed.sum()) < num_mix:
        return _fallback_candidates(similarity, num_mix, forbidden)
    return allowed.nonzero()


# --- SIG and SAL ------------------------------------------------------------------------------


def stack_modalities(values: dict[str, torch.Tensor]) -> torch.Tensor:
    """One row per modality (in :data:`MODALITIES` order) as float32 ``[3, B]``: SIG and SAL treat all three at once."""
    return torch.stack([values[m].reshape(-1).float() for m in MODALITIES])


def intensity_weights(intensities: torch.Tensor) -> torch.Tensor:
    """SIG weights: ``|I|`` min-max normalised over the batch (the released code's formula).

    ``intensities`` is ``[B]`` or one row per modality ``[3, B]``; each row is normalised alone.
    """
    w = intensities.abs()
    if w.numel() == 0:
        return w
    low, high = w.amin(dim=-1, keepdim=True), w.amax(dim=-1, keepdim=True)
    return (w - low) / (high - low + WEIGHT_EPS)


def sig_ratios(
    weights: torch.Tensor, pairs: torch.Tensor, lam_base: torch.Tensor, use_sig: bool = True
) -> dict[str, torch.Tensor]:
    """Per-modality ratios of source ``a`` and the label ratio (their mean), each ``[M]``.

    ``weights`` ``[3, B]``: :func:`intensity_weights` of each modality, in :data:`MODALITIES` order.
    """
    if not use_sig:
        return {**{m: lam_base for m in MODALITIES}, "label": lam_base}
    wa, wb = weights[:, pairs[:, 0]], weights[:, pairs[:, 1]]
    lam = (lam_base + (wa + RATIO_EPS) / (wa + wb + 2 * RATIO_EPS)) / 2
    return {**dict(zip(MODALITIES, lam.unbind(0), strict=True)), "label": lam.mean(dim=0)}


def alignment_loss(labels: torch.Tensor, intensities: torch.Tensor) -> torch.Tensor:
    """SAL: ``1000 · Σ_m KL(p_y ‖ p_m)`` with ``p = softmax_batch(|x| / 3) + 1e-8``, batch-mean reduced.

    ``intensities`` ``[3, B]``, one row per modality. The release sums three ``kl_div(...,
    reduction="batchmean")`` terms; their sum is the summed divergence over all rows divided by ``B``.
    """
    b = labels.numel()
    if b == 0:
        return torch.zeros((), device=labels.device)
    p_y = intensity_distribution(labels.reshape(1, -1))
    p_m = intensity_distribution(intensities)
    return SAL_SCALE * F.kl_div(p_m.log(), p_y.expand_as(p_m), reduction="sum") / b


def intensity_distribution(values: torch.Tensor) -> torch.Tensor:
    """SAL's distribution over each row's batch: ``softmax(|x| / 3) + 1e-8`` (3 = the label range's bound)."""
    return F.softmax(values.float().abs() / 3.0, dim=-1) + SAL_EPS


def mix_pairs(features: torch.Tensor, pairs: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """``lam·x[a] + (1 - lam)·x[b]`` per pair, the ratio broadcast over all trailing axes.

    One gather of both sources and one ``lerp`` (exactly ``x[a]`` where ``lam = 1``).
    """
    lam = lam.to(features.dtype).reshape((-1,) + (1,) * (features.dim() - 1))
    first, second = features[pairs].unbind(1)
    return torch.lerp(second, first, lam)


def mix_labels(
    labels: torch.Tensor, pairs: torch.Tensor, lam: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The mixed labels ``lam·y[a] + (1 - lam)·y[b]`` ``[M]`` and the two source labels ``y[a]``, ``y[b]``."""
    labels_a, labels_b = labels.reshape(-1)[pairs].unbind(1)
    return torch.lerp(labels_b, labels_a, lam.to(labels.dtype)), labels_a, labels_b


# --- argument checks -------------------------------------------------------------------------


def check_features(features: object, name: str = "features", ndims: tuple[int, ...] = (2, 3)) -> None:
    """A dict with a tensor of ``ndims`` dimensions per modality (shapes only: no device sync)."""
    if not isinstance(features, dict):
        raise MsmixError(
            f"{name} must be a dict of tensors, modality -> [B, D] or [B, T, D], with {list(MODALITIES)}; "
            f"got a {type(features).__name__}"
        )
    missing = [m for m in MODALITIES if m not in features]
    if missing:
        raise MsmixError(f"{name} lack the modalities {missing}: give a dict with {list(MODALITIES)}")
    for m in MODALITIES:
        value = features[m]
        if not isinstance(value, torch.Tensor) or value.dim() not in ndims:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise MsmixError(
                f"{name}[{m!r}] must be a tensor of {' or '.join(map(str, ndims))} dimensions, got {shape}"
            )


def _check(
    features: dict[str, torch.Tensor],
    labels: torch.Tensor,
    intensities: dict[str, torch.Tensor],
    threshold: float,
    alpha: float,
    num_mix: int | None,
) -> None:
    check_features(features)
    check_features(intensities, "intensities", ndims=(1, 2))
    if not isinstance(labels, torch.Tensor):
        raise MsmixError(f"labels must be a tensor [B], got a {type(labels).__name__}")
    sizes = {features[m].shape[0] for m in MODALITIES} | {intensities[m].numel() for m in MODALITIES}
    if sizes != {labels.numel()}:
        raise MsmixError(
            f"features, intensities and labels disagree on the batch size ({sorted(sizes)} vs {labels.numel()}): "
            "give one row, one intensity and one label per sample"
        )
    if not 0.0 <= threshold <= 1.0:
        raise MsmixError(f"threshold (δ) must lie in [0, 1], got {threshold}")
    if not alpha > 0:
        raise MsmixError(f"alpha must be > 0 (Beta(alpha, alpha)), got {alpha}")
    if num_mix is not None and num_mix < 1:
        raise MsmixError(f"num_mix must be an integer >= 1, or None for the batch size; got {num_mix}")


def _given_pairs(pairs: torch.Tensor, b: int, device: torch.device) -> torch.Tensor:
    if not isinstance(pairs, torch.Tensor) or pairs.dim() != 2 or pairs.shape[1] != 2 or pairs.is_floating_point():
        shape = (
            f"shape {tuple(pairs.shape)} of {pairs.dtype}" if isinstance(pairs, torch.Tensor) else type(pairs).__name__
        )
        raise MsmixError(f"pairs must be an integer tensor of shape [M, 2], rows (i, j) of batch indices; got {shape}")
    pairs = pairs.to(device=device, dtype=torch.long)
    if pairs.numel() and (int(pairs.min()) < 0 or int(pairs.max()) >= b):
        raise MsmixError(f"pairs must hold batch indices in [0, {b}): pass rows (i, j) of samples in this batch")
    return pairs
