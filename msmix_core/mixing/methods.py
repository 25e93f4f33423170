"""The mixup methods, one small class each, all returning a :class:`MixResult`.

Knobs are constructor arguments with documented defaults (as in timm's ``Mixup``); every
method takes ``mix_weight`` (the weight of its mixed-sample loss in the trainer, 0.7 as in
MS-Mix's released training code: ``MIX_WEIGHT.default``). Every method reports the same diagnostics
(:func:`pair_diagnostics` for pairs, :func:`weight_diagnostics` for weighted mixes of many
sources, which report weights rather than a pair), so the app and the benchmarks can compare,
for instance, how often each one mixes contradictory sentiments. All random draws use the ``generator`` passed to
``forward`` and happen on its device.
"""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

import torch
from torch import nn

from msmix_core import MODALITIES
from msmix_core.errors import MsmixError
from msmix_core.mixing.base import MixMethod
from msmix_core.mixing.intensity import IntensityPredictor
from msmix_core.mixing.knobs import ALPHA, MIX_WEIGHT, MSMIX_ALPHA, NUM_MIX, SAL_WEIGHT, THRESHOLD, Knob
from msmix_core.mixing.ms_mix import check_features, mix_labels, mix_pairs, ms_mix
from msmix_core.mixing.result import MixResult, pair_diagnostics, weight_diagnostics
from msmix_core.mixing.sampling import generator_device, sample_beta, sample_dirichlet

Features = dict[str, torch.Tensor]

#: PowMix's mixed samples per batch, × B: ten batches' worth is already past what its paper tries.
MIX_SHARE = {"low": 0.0, "low_inclusive": False, "high": 10.0}


def _empty(features: Features, labels: torch.Tensor) -> MixResult:
    """A result with no mixed samples: the trainer adds nothing for it."""
    none = labels.new_zeros(0)
    lam = {k: none for k in (*MODALITIES, "label")}
    return MixResult(
        mixed={m: features[m][:0] for m in MODALITIES},
        mixed_labels=none,
        labels_a=none,
        labels_b=none,
        pairs=torch.zeros(0, 2, dtype=torch.long, device=labels.device),
        lam=lam,
        alignment_loss=torch.zeros((), device=labels.device),
        diagnostics=pair_diagnostics(none, none, lam, 0, False),
    )


def _pair_result(
    features: Features, labels: torch.Tensor, pairs: torch.Tensor, lam: torch.Tensor, num_candidates: int
) -> MixResult:
    """Mix every modality and the labels of ``pairs`` with the same ratios ``lam`` ``[M]``."""
    mixed_labels, labels_a, labels_b = mix_labels(labels, pairs, lam)
    ratios = {k: lam for k in (*MODALITIES, "label")}
    return MixResult(
        mixed={m: mix_pairs(features[m], pairs, lam) for m in MODALITIES},
        mixed_labels=mixed_labels,
        labels_a=labels_a,
        labels_b=labels_b,
        pairs=pairs,
        lam=ratios,
        alignment_loss=torch.zeros((), device=labels.device),
        diagnostics=pair_diagnostics(labels_a, labels_b, ratios, num_candidates, False),
    )


def _batch_size(features: Features) -> int:
    return int(features[MODALITIES[0]].shape[0])


class NoMix(MixMethod):
    """No augmentation, the baseline: an empty result, so the trainer adds no mixed-sample loss."""

    name = "none"

    def __init__(self, mix_weight: float = MIX_WEIGHT.default) -> None:
        super().__init__()
        self.mix_weight = mix_weight
        self._check_knobs()

    def forward(self, features: Features, labels: torch.Tensor, generator: torch.Generator | None = None) -> MixResult:
        return _empty(features, labels.reshape(-1))


class Mixup(MixMethod):
    """Mixup (Zhang et al., ICLR 2018) on the raw input features of all modalities alike.

    Sample ``i`` is mixed with sample ``perm[i]`` of a random permutation (possibly itself), with
    one ratio ``λ ~ Beta(alpha, alpha)`` for the whole batch. ``alpha=1.0`` (λ uniform) is the
    paper's CIFAR-10 setting.
    """

    name = "mixup"
    stage = "input"
    knobs: ClassVar[dict[str, Knob]] = {"alpha": ALPHA, "mix_weight": MIX_WEIGHT}

    def __init__(self, alpha: float = 1.0, mix_weight: float = MIX_WEIGHT.default) -> None:
        super().__init__()
        self.alpha, self.mix_weight = alpha, mix_weight
        self._check_knobs()

    def forward(self, features: Features, labels: torch.Tensor, generator: torch.Generator | None = None) -> MixResult:
        labels = labels.reshape(-1)
        b, device = _batch_size(features), labels.device
        if b < 2:
            return _empty(features, labels)
        partner = torch.randperm(b, generator=generator, device=generator_device(generator, labels.device)).to(device)
        pairs = torch.stack([torch.arange(b, device=device), partner], dim=1)
        lam = sample_beta(self.alpha, 1, device, generator).expand(b)
        return _pair_result(features, labels, pairs, lam, b * (b - 1))


class ManifoldMixup(Mixup):
    """Manifold Mixup (Verma et al., ICML 2019): Mixup on the unimodal latent features.

    The paper mixes the hidden states of a randomly chosen layer; here the layer is fixed to the
    one MS-Mix mixes (the unimodal latents before fusion), so the two differ only in which pairs
    and ratios they use. ``alpha=2.0`` is the paper's setting.
    """

    name = "manifold"
    stage = "latent"

    def __init__(self, alpha: float = 2.0, mix_weight: float = MIX_WEIGHT.default) -> None:
        super().__init__(alpha=alpha, mix_weight=mix_weight)


class CMixup(MixMethod):
    """C-Mixup (Yao et al., NeurIPS 2022) for regression, on the latent features.

    Sample ``i``'s partner ``j`` is drawn with probability ``∝ exp(-(y_i - y_j)² / 2σ²)``, so
    samples with close labels are mixed; as in the authors' code (huaxiuyao/C-Mixup) ``j`` ranges
    over the whole batch, ``i`` itself included. One ``λ ~ Beta(alpha, alpha)`` per batch.
    ``sigma`` is the kernel bandwidth, tuned per dataset in the paper; 1.0 suits labels in [-3, 3].
    """

    name = "cmixup"
    knobs: ClassVar[dict[str, Knob]] = {
        "sigma": Knob(
            kind="float", low=1e-3, high=1e3, doc="bandwidth of the label kernel", suggested=(0.05, 4.0, True)
        ),
        "alpha": ALPHA,
        "mix_weight": MIX_WEIGHT,
    }

    def __init__(self, sigma: float = 1.0, alpha: float = 2.0, mix_weight: float = MIX_WEIGHT.default) -> None:
        super().__init__()
        self.sigma, self.alpha, self.mix_weight = sigma, alpha, mix_weight
        self._check_knobs()

    def forward(self, features: Features, labels: torch.Tensor, generator: torch.Generator | None = None) -> MixResult:
        labels = labels.reshape(-1)
        b, device = _batch_size(features), labels.device
        if b < 2:
            return _empty(features, labels)
        y = labels.float()
        kernel = torch.exp(-((y[:, None] - y[None, :]) ** 2) / (2 * self.sigma**2))  # diagonal 1: never all zero
        partner = torch.multinomial(kernel.to(generator_device(generator, labels.device)), 1, generator=generator)
        pairs = torch.stack([torch.arange(b, device=device), partner.reshape(-1).to(device)], dim=1)
        lam = sample_beta(self.alpha, 1, device, generator).expand(b)
        return _pair_result(features, labels, pairs, lam, b * (b - 1))


class _WeightedMix(MixMethod):
    """Shared by MultiMix and PowMix: mixed samples as convex combinations of the whole batch."""

    def _result(self, features: Features, labels: torch.Tensor, weights: Features) -> MixResult:
        """``weights``: modality -> ``[M, B]`` rows summing to 1; labels mix with their mean.

        The result holds those label weights (``source_weights``), not a pair: the mixed loss is
        taken against the mixed label, and the diagnostics are computed from the weights.
        """
        mixed = {}
        for m in MODALITIES:
            x = features[m]
            mixed[m] = (weights[m].to(x.dtype) @ x.reshape(x.shape[0], -1)).reshape(-1, *x.shape[1:])
        label_weights = sum(weights[m] for m in MODALITIES) / len(MODALITIES)
        return MixResult(
            mixed=mixed,
            mixed_labels=label_weights.to(labels.dtype) @ labels,
            alignment_loss=torch.zeros((), device=labels.device),
            source_weights=label_weights,
            diagnostics=weight_diagnostics(labels, label_weights, labels.shape[0]),
        )


class MultiMix(_WeightedMix):
    """MultiMix (Venkataramanan et al., NeurIPS 2023) in embedding space.

    ``num_mix`` mixed samples (default: the batch size; the paper makes up to 1000 per batch)
    are convex combinations of the whole batch with weights ``~ Dirichlet(alpha·1)``, the labels
    mixed with the same weights. ``alpha=1.0`` (uniform over the simplex) is the paper's default.
    """

    name = "multimix"
    knobs: ClassVar[dict[str, Knob]] = {
        "alpha": replace(ALPHA, doc="concentration of the Dirichlet(α·1) weights"),
        "num_mix": NUM_MIX,
        "mix_weight": MIX_WEIGHT,
    }

    def __init__(self, alpha: float = 1.0, num_mix: int | None = None, mix_weight: float = MIX_WEIGHT.default) -> None:
        super().__init__()
        self.alpha, self.num_mix, self.mix_weight = alpha, num_mix, mix_weight
        self._check_knobs()

    def forward(self, features: Features, labels: torch.Tensor, generator: torch.Generator | None = None) -> MixResult:
        labels = labels.reshape(-1)
        b, gdev = _batch_size(features), generator_device(generator, labels.device)
        if b < 2:
            return _empty(features, labels)
        concentration = torch.full((self.num_mix or b, b), self.alpha, device=gdev)
        w = sample_dirichlet(concentration, generator).to(labels.device)
        return self._result(features, labels, {m: w for m in MODALITIES})


class PowMix(_WeightedMix):
    """PowMix (Georgiou, Avrithis, Potamianos, arXiv 2312.12334): intra-modal mixing before fusion.

    The authors' code is not public; this is our reading of its five components:

    1. *varying number of generated examples*: each batch makes ``M ~ U{round(min_mix·B) ..
       round(max_mix·B)}`` mixed samples;
    2. *mixing-factor reweighting*: Dirichlet(alpha) factors raised to ``power`` and renormalised,
       which sharpens them towards one dominant source (``power=1`` switches it off);
    3. *anisotropic mixing*: each modality draws its own factors over the same sources;
    4. *dynamic mixing*: each mixed sample combines ``k ~ U{2 .. max_sources}`` random samples;
    5. *cross-modal label mixing*: the label weights are the mean of the modalities' factors.
    """

    name = "powmix"
    knobs: ClassVar[dict[str, Knob]] = {
        "alpha": replace(ALPHA, doc="concentration of each modality's Dirichlet factors"),
        "power": Knob(
            kind="float", low=1e-2, high=1e2, doc="exponent that sharpens the factors", suggested=(0.5, 4.0, True)
        ),
        "max_sources": Knob(kind="int", low=2, high=1024, doc="most samples in one mix", suggested=(2, 5, False)),
        "min_mix": Knob(kind="float", **MIX_SHARE, doc="fewest mixed samples, × B", suggested=(0.1, 1.0, False)),
        "max_mix": Knob(kind="float", **MIX_SHARE, doc="most mixed samples, × B", suggested=(1.0, 3.0, False)),
        "mix_weight": MIX_WEIGHT,
    }

    def __init__(
        self,
        alpha: float = 1.0,
        power: float = 2.0,
        max_sources: int = 3,
        min_mix: float = 0.5,
        max_mix: float = 1.5,
        mix_weight: float = MIX_WEIGHT.default,
    ) -> None:
        super().__init__()
        self.alpha, self.power, self.max_sources = alpha, power, max_sources
        self.min_mix, self.max_mix, self.mix_weight = min_mix, max_mix, mix_weight
        self._check_knobs()
        if self.min_mix > self.max_mix:
            raise MsmixError(f"{self.name}: min_mix ({min_mix}) must not exceed max_mix ({max_mix})")

    def forward(self, features: Features, labels: torch.Tensor, generator: torch.Generator | None = None) -> MixResult:
        labels = labels.reshape(-1)
        b, gdev = _batch_size(features), generator_device(generator, labels.device)
        if b < 2:
            return _empty(features, labels)
        low, high = max(1, round(self.min_mix * b)), max(1, round(self.max_mix * b))
        m = int(torch.randint(low, high + 1, (1,), generator=generator, device=gdev))  # sets shapes: one sync
        k = torch.randint(2, min(self.max_sources, b) + 1, (m, 1), generator=generator, device=gdev)
        order = torch.rand(m, b, generator=generator, device=gdev).argsort(dim=1)
        sources = torch.zeros(m, b, dtype=torch.bool, device=gdev).scatter_(1, order, torch.arange(b, device=gdev) < k)
        weights = {}
        for mod in MODALITIES:
            gamma = sample_dirichlet(torch.full((m, b), self.alpha, device=gdev), generator, normalise=False)
            # Dirichlet over the sources, raised to `power` and renormalised, in log space (no underflow)
            logits = (self.power * gamma.log()).masked_fill(~sources, -torch.inf)
            weights[mod] = torch.softmax(logits, dim=1).to(labels.device)
        return self._result(features, labels, weights)


class MSMix(MixMethod):
    """MS-Mix (Zhu et al., arXiv 2510.11579): SASS pairs, SIG per-modality ratios, SAL loss.

    Owns one :class:`IntensityPredictor` per modality, built for ``latent_dims`` (the backbone's
    latent size per modality), and calls :func:`ms_mix`. Defaults are the released code's:
    ``alpha=2.0``, ``threshold=0.4`` (δ; the paper's text says 0.2), ``num_mix=None`` (= batch
    size), ``num_heads=4`` (the largest divisor of a latent size not above it when it does not
    divide), ``mix_weight=0.7``, ``sal_weight=0.5``. ``use_sass``, ``use_sig`` and ``use_sal``
    switch the parts off for ablations (without SAL, ``sal_weight`` is 0); ``label_guard=True``
    (our addition) never pairs labels of opposite signs, to measure how well SASS alone avoids them.
    ``detach_predictor_input=True`` (our addition, **the default**; ``False`` is the release) feeds the
    predictors detached latents: SAL and the SIG ratios then train the predictors only and send no
    gradient into the backbone's encoders. With the release's paths (``False``) that gradient holds
    the model at a constant prediction for several epochs (``docs/findings.md``).
    ``detach_ratios=True`` (our addition) cuts only the path through the SIG ratios: the mixed-sample
    loss then trains neither the predictors nor, through them, the encoders; SAL still trains both.
    """

    name = "msmix"
    knobs: ClassVar[dict[str, Knob]] = {
        "alpha": MSMIX_ALPHA,
        "threshold": THRESHOLD,
        "num_mix": NUM_MIX,
        "use_sass": Knob(kind="bool", doc="pick pairs by similarity (False: from all i ≠ j)"),
        "use_sig": Knob(kind="bool", doc="per-modality ratios from the intensities (False: λ_base)"),
        "use_sal": Knob(kind="bool", doc="train with the alignment loss (False: sal_weight 0)"),
        "label_guard": Knob(kind="bool", doc="never pair labels of opposite signs (ours)"),
        "detach_predictor_input": Knob(kind="bool", doc="predictors read detached latents (ours; the release: False)"),
        "detach_ratios": Knob(kind="bool", doc="no gradient through the SIG ratios (ours)"),
        "num_heads": Knob(kind="int", low=1, high=1024, doc="attention heads of each intensity predictor"),
        "mix_weight": MIX_WEIGHT,
        "sal_weight": SAL_WEIGHT,
    }

    def __init__(
        self,
        latent_dims: dict[str, int],
        alpha: float = MSMIX_ALPHA.default,
        threshold: float = THRESHOLD.default,
        num_mix: int | None = None,
        use_sass: bool = True,
        use_sig: bool = True,
        use_sal: bool = True,
        label_guard: bool = False,
        detach_predictor_input: bool = True,
        detach_ratios: bool = False,
        num_heads: int = 4,
        mix_weight: float = MIX_WEIGHT.default,
        sal_weight: float = 0.5,
    ) -> None:
        super().__init__()
        self.alpha, self.threshold, self.num_mix, self.num_heads = alpha, threshold, num_mix, num_heads
        self.use_sass, self.use_sig, self.use_sal, self.label_guard = use_sass, use_sig, use_sal, label_guard
        self.detach_predictor_input, self.detach_ratios = detach_predictor_input, detach_ratios
        self.mix_weight, self.sal_weight = mix_weight, sal_weight
        self._check_knobs()
        if not self.use_sal:
            self.sal_weight = 0.0
        self.latent_dims = {m: int(latent_dims[m]) for m in MODALITIES}
        self.predictors = nn.ModuleDict({m: IntensityPredictor(latent_dims[m], num_heads) for m in MODALITIES})

    def predict_intensities(self, features: Features) -> dict[str, torch.Tensor]:
        """Each modality's predicted sentiment intensity ``[B]`` in (-3, 3)."""
        check_features(features)
        sizes = {m: features[m].shape[-1] for m in MODALITIES}
        if sizes != self.latent_dims:  # shapes only: no device sync
            raise MsmixError(
                f"msmix: latent feature sizes {sizes} differ from the latent_dims {self.latent_dims} it was built for: "
                "build it with the backbone's latent_dims"
            )
        dtype = self.predictors[MODALITIES[0]].out.weight.dtype
        inputs = {m: features[m].detach() if self.detach_predictor_input else features[m] for m in MODALITIES}
        return {m: self.predictors[m](inputs[m].to(dtype)) for m in MODALITIES}

    def forward(self, features: Features, labels: torch.Tensor, generator: torch.Generator | None = None) -> MixResult:
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
            detach_ratios=self.detach_ratios,
        )
