"""Every mixing method honours the shared contract; each rival does what its paper says."""

import pytest
import torch

from msmix_core import MODALITIES
from msmix_core.errors import MsmixError
from msmix_core.mixing import METHODS, MixMethod, build_method, method_knobs

DIMS = {"text": 8, "audio": 4, "vision": 6}
DIAGNOSTIC_KEYS = {"num_candidates", "fallback", "contradictory_rate", "mean_abs_label_gap"} | {
    f"lam_{k}" for k in (*MODALITIES, "label")
}


def _batch(b=24, t=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    features = {m: torch.randn(*((b, d) if t is None else (b, t, d)), generator=g) for m, d in DIMS.items()}
    return features, torch.rand(b, generator=g) * 6 - 3


@pytest.mark.parametrize("name", list(METHODS))
@pytest.mark.parametrize("t", [None, 3])
def test_every_method_returns_the_shared_result(name, t):
    features, labels = _batch(t=t)
    method = build_method(name, latent_dims=DIMS)
    assert isinstance(method, MixMethod) and method.stage in ("latent", "input")
    res = method(features, labels, torch.Generator().manual_seed(0))
    m = res.num_mixed
    assert set(res.diagnostics) == DIAGNOSTIC_KEYS
    assert res.pairs.shape == (m, 2) and res.labels_a.shape == (m,) and res.alignment_loss.dim() == 0
    for mod in MODALITIES:
        assert res.mixed[mod].shape[1:] == features[mod].shape[1:] and res.mixed[mod].shape[0] == m
    for k in (*MODALITIES, "label"):
        assert res.lam[k].shape == (m,)
        assert ((res.lam[k] >= 0) & (res.lam[k] <= 1)).all()
    if name == "none":
        assert m == 0
        return
    assert m > 0
    assert (res.mixed_labels >= labels.min() - 1e-5).all() and (res.mixed_labels <= labels.max() + 1e-5).all()
    again = method(features, labels, torch.Generator().manual_seed(0))
    assert torch.equal(res.mixed_labels, again.mixed_labels)  # same seed, same result


@pytest.mark.parametrize("name", list(METHODS))
def test_every_method_survives_a_batch_of_one(name):
    features, labels = _batch(b=1)
    res = build_method(name, latent_dims=DIMS)(features, labels, torch.Generator().manual_seed(0))
    assert res.num_mixed == 0


def test_mixup_uses_one_ratio_per_batch_on_inputs():
    method = build_method("mixup", alpha=0.4)
    assert method.stage == "input"
    features, labels = _batch()
    res = method(features, labels, torch.Generator().manual_seed(3))
    assert res.lam["text"].unique().numel() == 1 and torch.equal(res.lam["text"], res.lam["label"])
    assert sorted(res.pairs[:, 1].tolist()) == list(range(24))  # a permutation of the batch
    lam = res.lam["text"][0]
    i, j = res.pairs[5].tolist()
    torch.testing.assert_close(res.mixed["vision"][5], lam * features["vision"][i] + (1 - lam) * features["vision"][j])


def test_manifold_mixup_mixes_latents():
    assert build_method("manifold").stage == "latent"
    assert method_knobs("manifold")["alpha"] == 2.0


def test_cmixup_prefers_partners_with_close_labels():
    features, labels = _batch(b=64)
    narrow = build_method("cmixup", sigma=0.1)(features, labels, torch.Generator().manual_seed(0))
    wide = build_method("cmixup", sigma=100.0)(features, labels, torch.Generator().manual_seed(0))
    assert (narrow.pairs[:, 0] != narrow.pairs[:, 1]).all()
    assert narrow.diagnostics["mean_abs_label_gap"] < 0.3 < wide.diagnostics["mean_abs_label_gap"]


def test_multimix_mixes_the_whole_batch_with_dirichlet_weights():
    features, labels = _batch()
    res = build_method("multimix", num_mix=50)(features, labels, torch.Generator().manual_seed(0))
    assert res.num_mixed == 50
    assert torch.equal(res.labels_a, res.mixed_labels) and (res.lam["label"] == 1).all()
    # a mixed sample is a convex combination: it lies inside the batch's bounding box
    assert (res.mixed["text"] <= features["text"].max(dim=0).values + 1e-5).all()


def test_powmix_is_anisotropic_and_varies_its_count():
    features, labels = _batch()
    method = build_method("powmix")
    counts = {method(features, labels, torch.Generator().manual_seed(s)).num_mixed for s in range(6)}
    assert len(counts) > 1 and all(12 <= c <= 36 for c in counts)
    res = method(features, labels, torch.Generator().manual_seed(0))
    assert not torch.equal(res.lam["text"], res.lam["audio"])


def test_msmix_switches_and_guard():
    assert build_method("msmix", latent_dims=DIMS, use_sal=False).sal_weight == 0.0
    assert build_method("msmix", latent_dims=DIMS).sal_weight == 0.5
    guard = build_method("msmix_guard", latent_dims=DIMS)
    features, labels = _batch(b=40)
    res = guard(features, labels, torch.Generator().manual_seed(0))
    assert res.diagnostics["contradictory_rate"] == 0.0
    intensities = guard.predict_intensities(features)
    assert all(((v > -3) & (v < 3)).all() and v.shape == (40,) for v in intensities.values())


@pytest.mark.parametrize(
    ("name", "knobs", "message"),
    [
        ("mixupp", {}, "unknown mixing method 'mixupp': choose one of none, mixup"),
        ("msmix", {"threshold": 1.5}, r"threshold must lie in \[0.0, 1.0\]"),
        ("mixup", {"alpha": 0}, r"alpha must lie in \(0.0"),
        ("msmix", {"use_sass": "yes"}, "use_sass must be true or false"),
        ("cmixup", {"bandwidth": 1}, r"unknown knob\(s\) \['bandwidth'\]"),
        ("multimix", {"num_mix": 0}, "num_mix must be an integer >= 1"),
        ("powmix", {"min_mix": 2.0, "max_mix": 1.0}, "min_mix must not exceed max_mix"),
    ],
)
def test_bad_names_and_knobs_are_explained(name, knobs, message):
    with pytest.raises(MsmixError, match=message):
        build_method(name, latent_dims=DIMS, **knobs)


def test_msmix_needs_latent_dims():
    with pytest.raises(MsmixError, match="latent_dims"):
        build_method("msmix")
