"""The mixup methods, one small class each, all returning a :class:`MixResult`.

Knobs are constructor arguments with documented defaults (as in timm's ``Mixup``). Every
method reports the same diagnostics (:func:`pair_diagnostics`), so the app and the benchmarks
can compare how often each one mixes contradictory sentiments.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from msmix_core import MODALITIES
from msmix_core.mixing.base import MixMethod
from msmix_core.mixing.intensity import IntensityPredictor
from msmix_core.mixing.ms_mix import ms_mix, numpy_rng, sample_beta
from msmix_core.mixing.result import MixResult, pair_diagnostics


def _empty(features: dict[str, torch.Tensor], labels: torch.Tensor, num_candidates: int = 0) -> MixResult:
    """A result with no mixed samples: the trainer adds nothing for it."""
    device = labels.device
    none = labels.new_zeros(0)
    lam = {k: none for k in (*MODALITIES, "label")}
    return MixResult(
        mixed={m: features[m][:0] for m in MODALITIES},
        mixed_labels=none,
        labels_a=none,
        labels_b=none,
        pairs=torch.zeros(0, 2, dtype=torch.long, device=device),
        lam=lam,
        alignment_loss=torch.zeros((), device=device),
        diagnostics=pair_diagnostics(none, none, lam, num_candidates, False),
    )


def _pair_result(
    features: dict[str, torch.Tensor],
    labels: torch.Tensor,
    pairs: torch.Tensor,
    lam: dict[str, torch.Tensor],
    num_candidates: int,
) -> MixResult:
    """Mix each modality of the pairs with its own ratio ``[M]``; labels with ``lam["label"]``."""
    mixed = {}
    for m in MODALITIES:
        x = features[m]
        ratio = lam[m].to(x.dtype).reshape((-1,) + (1,) * (x.dim() - 1))
        mixed[m] = ratio * x[pairs[:, 0]] + (1 - ratio) * x[pairs[:, 1]]
    labels_a, labels_b = labels[pairs[:, 0]], labels[pairs[:, 1]]
    lam_y = lam["label"].to(labels.dtype)
    return MixResult(
        mixed=mixed,
        mixed_labels=lam_y * labels_a + (1 - lam_y) * labels_b,
        labels_a=labels_a,
        labels_b=labels_b,
        pairs=pairs,
        lam=lam,
        alignment_loss=torch.zeros((), device=labels.device),
        diagnostics=pair_diagnostics(labels_a, labels_b, lam, num_candidates, False),
    )


def _batch_size(features: dict[str, torch.Tensor]) -> int:
    return int(features[MODALITIES[0]].shape[0])


class NoMix(MixMethod):
    """No augmentation: the baseline. Returns an empty result."""

    name = "none"

    def forward(self, features, labels, generator=None) -> MixResult:
        return _empty(features, labels.reshape(-1))


class Mixup(MixMethod):
    """Mixup (Zhang et al., ICLR 2018) on the raw input features of all modalities alike.

    Each sample is mixed with a partner from a random permutation, with one ratio
    ``λ ~ Beta(alpha, alpha)`` for the whole batch. ``alpha=1.0`` is the paper's CIFAR setting.
    """

    name = "mixup"
    stage = "input"

    def __init__(self, alpha: float = 1.0, mix_weight: float = 0.7) -> None:
        super().__init__(mix_weight=mix_weight)
        self.alpha = float(alpha)

    def forward(self, features, labels, generator=None) -> MixResult:
        labels = labels.reshape(-1)
        b = _batch_size(features)
        if b < 2:
            return _empty(features, labels)
        device = labels.device
        gen_device = generator.device if generator is not None else device
        partner = torch.randperm(b, generator=generator, device=gen_device).to(device)
        pairs = torch.stack([torch.arange(b, device=device), partner], dim=1)
        lam_batch = sample_beta(self.alpha, 1, generator, device).expand(b)
        lam = {k: lam_batch for k in (*MODALITIES, "label")}
        return _pair_result(features, labels, pairs, lam, b * b)


class ManifoldMixup(Mixup):
    """Manifold Mixup (Verma et al., ICML 2019): Mixup on the unimodal latent features.

    ``alpha=2.0`` is the paper's setting; it mixes the same latents MS-Mix mixes, so the two
    differ only in which pairs and ratios they use.
    """

    name = "manifold"
    stage = "latent"

    def __init__(self, alpha: float = 2.0, mix_weight: float = 0.7) -> None:
        super().__init__(alpha=alpha, mix_weight=mix_weight)


class CMixup(MixMethod):
    """C-Mixup (Yao et al., NeurIPS 2022) for regression, on the latent features.

    Sample ``i``'s partner ``j ≠ i`` is drawn with probability ``∝ exp(-(y_i - y_j)² / 2σ²)``,
    so samples with close labels are mixed; one ``λ ~ Beta(alpha, alpha)`` per batch.
    ``sigma`` is the kernel bandwidth, tuned per dataset in the paper.
    """

    name = "cmixup"

    def __init__(self, sigma: float = 1.0, alpha: float = 2.0, mix_weight: float = 0.7) -> None:
        super().__init__(mix_weight=mix_weight)
        self.sigma = float(sigma)
        self.alpha = float(alpha)

    def forward(self, features, labels, generator=None) -> MixResult:
        labels = labels.reshape(-1)
        b = _batch_size(features)
        if b < 2:
            return _empty(features, labels)
        y = labels.float()
        kernel = torch.exp(-((y[:, None] - y[None, :]) ** 2) / (2 * self.sigma**2))
        kernel.fill_diagonal_(0.0)
        underflow = kernel.sum(dim=1, keepdim=True) == 0  # σ tiny and no close label: pick uniformly
        kernel = torch.where(underflow, 1 - torch.eye(b, device=y.device), kernel)
        sampler_device = generator.device if generator is not None else kernel.device
        partner = torch.multinomial(kernel.to(sampler_device), 1, generator=generator).reshape(-1)
        pairs = torch.stack([torch.arange(b, device=labels.device), partner.to(labels.device)], dim=1)
        lam_batch = sample_beta(self.alpha, 1, generator, labels.device).expand(b)
        lam = {k: lam_batch for k in (*MODALITIES, "label")}
        return _pair_result(features, labels, pairs, lam, b * (b - 1))


class _MultiSourceMix(MixMethod):
    """Shared by MultiMix and PowMix: mixed samples as weighted sums over many batch samples."""

    def _result(
        self,
        features: dict[str, torch.Tensor],
        labels: torch.Tensor,
        weights: dict[str, torch.Tensor],
    ) -> MixResult:
        """``weights``: modality -> ``[M, B]`` rows summing to 1; labels mix with their mean."""
        mixed = {}
        for m in MODALITIES:
            x = features[m]
            w = weights[m].to(x.dtype)
            mixed[m] = (w @ x.reshape(x.shape[0], -1)).reshape(w.shape[0], *x.shape[1:])
        label_weights = torch.stack([weights[m] for m in MODALITIES]).mean(dim=0)
        mixed_labels = label_weights.to(labels.dtype) @ labels
        top = label_weights.topk(2, dim=1)
        pairs = top.indices
        lam = {m: weights[m].gather(1, pairs)[:, 0] / weights[m].gather(1, pairs).sum(dim=1) for m in MODALITIES}
        lam["label"] = torch.ones_like(mixed_labels)
        diagnostics = pair_diagnostics(labels[pairs[:, 0]], labels[pairs[:, 1]], lam, labels.shape[0], False)
        return MixResult(
            mixed=mixed,
            mixed_labels=mixed_labels,
            labels_a=mixed_labels,
            labels_b=mixed_labels,
            pairs=pairs,
            lam=lam,
            alignment_loss=torch.zeros((), device=labels.device),
            diagnostics=diagnostics,
        )


class MultiMix(_MultiSourceMix):
    """MultiMix (Venkataramanan et al., NeurIPS 2023) in embedding space.

    ``num_mix`` mixed samples (default: the batch size) are convex combinations of the whole
    batch with weights ``~ Dirichlet(alpha·1)``; the labels are mixed with the same weights.
    ``alpha=1.0`` (uniform over the simplex) is the paper's default.
    """

    name = "multimix"

    def __init__(self, alpha: float = 1.0, num_mix: int | None = None, mix_weight: float = 0.7) -> None:
        super().__init__(mix_weight=mix_weight)
        self.alpha = float(alpha)
        self.num_mix = num_mix

    def forward(self, features, labels, generator=None) -> MixResult:
        labels = labels.reshape(-1)
        b = _batch_size(features)
        if b < 2:
            return _empty(features, labels)
        m = self.num_mix or b
        w = torch.from_numpy(numpy_rng(generator).dirichlet(np.full(b, self.alpha), m)).float().to(labels.device)
        return self._result(features, labels, {mod: w for mod in MODALITIES})


class PowMix(_MultiSourceMix):
    """PowMix (Georgiou, Avrithis, Potamianos, arXiv 2312.12334): intra-modal mixing before fusion.

    Our reading of its five components (the authors' code is not public):

    1. *varying number of generated examples*: each batch makes ``M ~ U{min_mix·B .. max_mix·B}``;
    2. *mixing-factor reweighting*: Dirichlet factors are raised to ``power`` and renormalised,
       which sharpens them towards one dominant source;
    3. *anisotropic mixing*: each modality draws its own factors;
    4. *dynamic mixing*: each mixed sample combines ``k ~ U{2 .. max_sources}`` random samples;
    5. *cross-modal label mixing*: the label is the mean over modalities of the label mixes.
    """

    name = "powmix"

    def __init__(
        self,
        alpha: float = 1.0,
        power: float = 2.0,
        max_sources: int = 3,
        min_mix: float = 0.5,
        max_mix: float = 1.5,
        mix_weight: float = 0.7,
    ) -> None:
        super().__init__(mix_weight=mix_weight)
        self.alpha, self.power = float(alpha), float(power)
        self.max_sources = int(max_sources)
        self.min_mix, self.max_mix = float(min_mix), float(max_mix)

    def forward(self, features, labels, generator=None) -> MixResult:
        labels = labels.reshape(-1)
        b = _batch_size(features)
        if b < 2:
            return _empty(features, labels)
        rng = numpy_rng(generator)
        m = int(rng.integers(max(1, round(self.min_mix * b)), max(1, round(self.max_mix * b)) + 1))
        k = rng.integers(2, min(self.max_sources, b) + 1, size=m)
        sources = np.argsort(rng.random((m, b)), axis=1)  # a random order of the batch per row
        chosen = np.arange(b)[None, :] < k[:, None]  # the first k of each order take part
        weights = {}
        for mod in MODALITIES:
            raw = rng.gamma(self.alpha, size=(m, b)) ** self.power * chosen
            w = np.zeros((m, b))
            np.put_along_axis(w, sources, raw, axis=1)
            weights[mod] = torch.from_numpy(w / w.sum(axis=1, keepdims=True)).float().to(labels.device)
        return self._result(features, labels, weights)


class MSMix(MixMethod):
    """MS-Mix (Zhu et al., arXiv 2510.11579): SASS pairs, SIG per-modality ratios, SAL loss.

    Owns one :class:`IntensityPredictor` per modality and calls :func:`ms_mix`. Defaults are the
    released code's: ``alpha=2.0``, ``threshold=0.4`` (δ; the paper's text says 0.2),
    ``num_mix=None`` (= batch size), ``mix_weight=0.7``, ``sal_weight=0.5``. ``use_sass``,
    ``use_sig`` and ``use_sal`` switch the parts off for ablations; ``label_guard=True`` (our
    addition) never pairs labels of opposite signs, to measure how well SASS alone avoids them.
    """

    name = "msmix"

    def __init__(
        self,
        latent_dims: dict[str, int],
        alpha: float = 2.0,
        threshold: float = 0.4,
        num_mix: int | None = None,
        use_sass: bool = True,
        use_sig: bool = True,
        use_sal: bool = True,
        label_guard: bool = False,
        num_heads: int = 4,
        mix_weight: float = 0.7,
        sal_weight: float = 0.5,
    ) -> None:
        super().__init__(mix_weight=mix_weight, sal_weight=sal_weight if use_sal else 0.0)
        self.alpha, self.threshold, self.num_mix = float(alpha), float(threshold), num_mix
        self.use_sass, self.use_sig, self.use_sal, self.label_guard = use_sass, use_sig, use_sal, label_guard
        self.predictors = nn.ModuleDict({m: IntensityPredictor(latent_dims[m], num_heads) for m in MODALITIES})

    def predict_intensities(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Each modality's predicted sentiment intensity ``[B]`` in (-3, 3)."""
        return {m: self.predictors[m](features[m].float()) for m in MODALITIES}

    def forward(self, features, labels, generator=None) -> MixResult:
        return ms_mix(
            features,
            labels,
            self.predict_intensities(features),
            threshold=self.threshold,
            alpha=self.alpha,
            num_mix=self.num_mix,
            generator=generator,
            use_sass=self.use_sass,
            use_sig=self.use_sig,
            label_guard=self.label_guard,
        )
