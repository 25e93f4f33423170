"""Every mixing method honours the shared contract; each rival does what its paper says; the registry checks knobs."""

import inspect
import math
from typing import ClassVar

import pytest
import torch

from msmix_core import MODALITIES
from msmix_core.analysis.partners import candidate_partners
from msmix_core.errors import MsmixError
from msmix_core.mixing import (
    METHODS,
    CMixup,
    MixMethod,
    Mixup,
    MSMix,
    MultiMix,
    NoMix,
    PowMix,
    build_method,
    describe_methods,
    method_knobs,
)
from msmix_core.mixing.intensity import largest_divisor
from msmix_core.mixing.knobs import ALPHA, MIX_WEIGHT, Knob
from msmix_core.mixing.ms_mix import ms_mix
from msmix_core.mixing.result import weight_diagnostics

DIMS = {"text": 8, "audio": 4, "vision": 6}
DIAGNOSTIC_KEYS = {"num_candidates", "fallback", "contradictory_rate", "opposite_mass", "mean_abs_label_gap"} | {
    f"lam_{k}" for k in (*MODALITIES, "label")
}


def _batch(b=24, t=None, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    features = {m: torch.randn(*((b, d) if t is None else (b, t, d)), generator=g).to(dtype) for m, d in DIMS.items()}
    return features, torch.rand(b, generator=g) * 6 - 3


@pytest.mark.parametrize("name", list(METHODS))
@pytest.mark.parametrize(("t", "dtype"), [(None, torch.float32), (3, torch.float32), (None, torch.bfloat16)])
def test_every_method_returns_the_shared_result(name, t, dtype):
    features, labels = _batch(t=t, dtype=dtype)
    method = build_method(name, latent_dims=DIMS)
    assert isinstance(method, MixMethod) and method.stage in ("latent", "input") and method.mix_weight == 0.7
    res = method(features, labels, torch.Generator().manual_seed(0))
    m = res.num_mixed
    assert set(res.diagnostics) == DIAGNOSTIC_KEYS
    assert res.alignment_loss.dim() == 0
    for mod in MODALITIES:
        assert res.mixed[mod].shape == (m, *features[mod].shape[1:]) and res.mixed[mod].dtype == dtype
    weighted = name in ("multimix", "powmix")
    assert (res.pairs is None) == weighted and (res.source_weights is None) != weighted
    if not weighted:
        assert res.pairs.shape == (m, 2) and res.labels_a.shape == (m,) and res.labels_b.shape == (m,)
        for k in (*MODALITIES, "label"):
            assert res.lam[k].shape == (m,)
            assert ((res.lam[k] >= 0) & (res.lam[k] <= 1)).all()
    sources, weights = res.sources, res.weights  # every result: its mixed labels are these weights of its sources
    assert sources.shape == weights.shape and sources.shape[0] == m and (weights >= 0).all()
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(m), atol=1e-4, rtol=0)
    torch.testing.assert_close((weights * labels[sources]).sum(dim=1), res.mixed_labels.float(), atol=1e-4, rtol=0)
    if name == "none":
        assert m == 0 and res.mix_loss(torch.zeros(0), torch.nn.functional.l1_loss) == 0
        return
    assert m > 0
    assert (res.mixed_labels >= labels.min() - 1e-5).all() and (res.mixed_labels <= labels.max() + 1e-5).all()
    again = method(features, labels, torch.Generator().manual_seed(0))
    assert torch.equal(res.mixed_labels, again.mixed_labels)  # same seed, same result
    assert all(torch.equal(res.mixed[mod], again.mixed[mod]) for mod in MODALITIES)


@pytest.mark.parametrize("name", list(METHODS))
def test_every_method_survives_a_batch_of_one(name):
    features, labels = _batch(b=1)
    res = build_method(name, latent_dims=DIMS)(features, labels, torch.Generator().manual_seed(0))
    assert res.num_mixed == 0 and res.alignment_loss == 0


@pytest.mark.parametrize("name", ["manifold", "cmixup", "multimix", "powmix", "msmix"])
def test_latent_methods_pass_gradients_to_the_latents(name):
    features, labels = _batch()
    features = {m: x.requires_grad_() for m, x in features.items()}
    res = build_method(name, latent_dims=DIMS)(features, labels, torch.Generator().manual_seed(0))
    sum(res.mixed[m].sum() for m in MODALITIES).backward()
    assert all(features[m].grad is not None and features[m].grad.abs().sum() > 0 for m in MODALITIES)


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
    torch.testing.assert_close(res.mixed_labels[5], lam * labels[i] + (1 - lam) * labels[j])


def test_manifold_mixup_mixes_latents():
    assert build_method("manifold").stage == "latent"
    assert method_knobs("manifold")["alpha"].default == 2.0


def test_cmixup_prefers_partners_with_close_labels():
    features, labels = _batch(b=64)
    narrow = build_method("cmixup", sigma=0.1)(features, labels, torch.Generator().manual_seed(0))
    wide = build_method("cmixup", sigma=100.0)(features, labels, torch.Generator().manual_seed(0))
    assert narrow.diagnostics["mean_abs_label_gap"] < 0.3 < wide.diagnostics["mean_abs_label_gap"]
    assert (narrow.pairs[:, 0] == torch.arange(64)).all()


def test_multimix_mixes_the_whole_batch_with_dirichlet_weights():
    features, labels = _batch(t=2)
    res = build_method("multimix", num_mix=50)(features, labels, torch.Generator().manual_seed(0))
    assert res.num_mixed == 50
    assert res.pairs is None and res.labels_a is None and res.lam == {} and res.source_weights.shape == (50, 24)
    # one weight vector per mixed sample, shared by the modalities and the label: recover it from the labels' mix
    flat = torch.cat([features[m].flatten(1) for m in MODALITIES], dim=1)
    weights = torch.linalg.lstsq(flat.T, torch.cat([res.mixed[m].flatten(1) for m in MODALITIES], dim=1).T).solution
    assert (weights > -1e-4).all()
    torch.testing.assert_close(weights.sum(dim=0), torch.ones(50), atol=1e-4, rtol=0)
    torch.testing.assert_close(weights.T @ labels, res.mixed_labels, atol=1e-4, rtol=0)
    torch.testing.assert_close(weights.T, res.source_weights, atol=1e-3, rtol=0)


def test_weighted_mixes_report_contradictions_from_their_weights():
    labels = torch.tensor([2.0, 1.0, -1.0, -2.0])
    weights = torch.tensor(
        [
            [0.5, 0.5, 0.0, 0.0],  # two positive sources: no contradiction
            [0.6, 0.0, 0.4, 0.0],  # mixed label +0.8, 0.4 of it from a negative source
            [0.1, 0.0, 0.0, 0.9],  # mixed label -1.6, 0.1 from a positive source
        ]
    )
    diagnostics = weight_diagnostics(labels, weights, 4)
    assert diagnostics["contradictory_rate"] == pytest.approx(2 / 3)
    assert diagnostics["opposite_mass"] == pytest.approx(0.5 / 3)
    assert math.isnan(diagnostics["mean_abs_label_gap"]) and math.isnan(diagnostics["lam_label"])
    assert set(diagnostics) == DIAGNOSTIC_KEYS


@pytest.mark.parametrize("name", ["mixup", "cmixup", "msmix"])
def test_a_pair_is_the_two_source_case_of_the_weight_diagnostics(name):
    features, labels = _batch(b=40)
    res = build_method(name, latent_dims=DIMS)(features, labels, torch.Generator().manual_seed(0))
    dense = torch.zeros(res.num_mixed, 40).scatter_add_(1, res.sources, res.weights)
    from_weights = weight_diagnostics(labels, dense, 40)
    for key in ("contradictory_rate", "opposite_mass"):
        assert from_weights[key] == pytest.approx(res.diagnostics[key], abs=1e-6), key


def test_multimix_blends_both_sentiments_in_every_sample_and_says_so():
    features, labels = _batch()
    res = build_method("multimix")(features, labels, torch.Generator().manual_seed(0))
    assert str(res.diagnostics) == str(weight_diagnostics(labels, res.source_weights, 24))  # NaN == NaN as text
    assert res.diagnostics["contradictory_rate"] == 1.0  # Dirichlet weights: every source has some weight
    assert 0 < res.diagnostics["opposite_mass"] < 1


def test_powmix_is_anisotropic_sparse_and_varies_its_count():
    features, labels = _batch()
    method = build_method("powmix", max_sources=3)
    counts = {method(features, labels, torch.Generator().manual_seed(s)).num_mixed for s in range(6)}
    assert len(counts) > 1 and all(12 <= c <= 36 for c in counts)
    eye = {m: torch.eye(24) for m in MODALITIES}  # mixing one-hot features reveals the weights
    res = method(eye, labels, torch.Generator().manual_seed(0))
    used = [(res.mixed[m] > 0).sum(dim=1) for m in MODALITIES]
    assert all(((u >= 2) & (u <= 3)).all() for u in used)
    assert torch.equal(used[0], used[1]) and not torch.equal(res.mixed["text"], res.mixed["audio"])
    label_weights = sum(res.mixed[m] for m in MODALITIES) / 3
    torch.testing.assert_close(res.mixed_labels, label_weights @ labels)


def test_msmix_switches_and_guard():
    assert build_method("msmix", latent_dims=DIMS, use_sal=False).sal_weight == 0.0
    assert build_method("msmix", latent_dims=DIMS).sal_weight == 0.5
    guard = build_method("msmix_guard", latent_dims=DIMS)
    assert guard.label_guard and "label_guard" not in method_knobs("msmix_guard")
    features, labels = _batch(b=40)
    res = guard(features, labels, torch.Generator().manual_seed(0))
    assert res.diagnostics["contradictory_rate"] == 0.0
    intensities = guard.predict_intensities(features)
    assert all(((v > -3) & (v < 3)).all() and v.shape == (40,) for v in intensities.values())


def test_describe_methods_lists_every_knob_with_default_and_range():
    described = describe_methods()
    assert set(described) == set(METHODS)
    knobs = described["msmix"]["knobs"]
    assert {"alpha", "threshold", "num_mix", "use_sass", "use_sig", "use_sal", "num_heads"} <= set(knobs)
    assert knobs["threshold"].default == 0.4 and knobs["threshold"].describe() == "a number in [0, 1]"
    assert knobs["num_mix"].describe() == "an integer in [1, 10000] or None"
    assert described["mixup"]["stage"] == "input" and described["cmixup"]["knobs"]["sigma"].default == 1.0
    for name, entry in described.items():  # the defaults themselves pass the checks
        assert all(k.accepts(k.default) for k in entry["knobs"].values()), name


@pytest.mark.parametrize(
    ("name", "knobs", "message"),
    [
        ("mixupp", {}, "unknown mixing method 'mixupp': choose one of none, mixup"),
        ("msmix", {"threshold": 1.5}, r"threshold must be a number in \[0, 1\], got 1.5"),
        ("mixup", {"alpha": 0}, r"alpha must be a number in \[0.001, 10000\], got 0"),
        ("cmixup", {"sigma": float("nan")}, r"sigma must be a number in \[0.001, 1000\]"),
        ("msmix", {"use_sass": "yes"}, "use_sass must be true or false"),
        ("cmixup", {"bandwidth": 1}, r"unknown knob\(s\) \['bandwidth'\]"),
        ("multimix", {"num_mix": 0}, r"num_mix must be an integer in \[1, 10000\] or None"),
        ("multimix", {"num_mix": 2.5}, "num_mix must be an integer"),
        ("powmix", {"max_sources": 1}, r"max_sources must be an integer in \[2, 1024\]"),
        ("powmix", {"min_mix": 2.0, "max_mix": 1.0}, "min_mix .* must not exceed max_mix"),
        ("msmix_guard", {"label_guard": False}, "unknown knob"),
    ],
)
def test_bad_names_and_knobs_are_explained(name, knobs, message):
    with pytest.raises(MsmixError, match=message):
        build_method(name, latent_dims=DIMS, **knobs)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Mixup(alpha=-1), r"^mixup: knob alpha must be a number in \[0.001, 10000\], got -1$"),
        (lambda: CMixup(sigma=0.0), r"sigma must be a number in \[0.001, 1000\]"),
        (lambda: MultiMix(num_mix=0), r"num_mix must be an integer in \[1, 10000\] or None"),
        (lambda: PowMix(min_mix=2.0, max_mix=1.0), "min_mix .* must not exceed max_mix"),
        (lambda: MSMix(DIMS, threshold=1.5), r"threshold must be a number in \[0, 1\]"),
        (lambda: NoMix(mix_weight=-0.1), r"mix_weight must be a number in \[0, 1000\]"),
    ],
)
def test_the_classes_check_their_knobs_when_built_directly(build, message):
    with pytest.raises(MsmixError, match=message):
        build()


@pytest.mark.parametrize("name", list(METHODS))
def test_every_knob_is_declared_once_on_its_class_with_its_constructor_default(name):
    cls, knobs = METHODS[name], method_knobs(name)
    params = inspect.signature(cls.__init__).parameters
    for knob, declared in knobs.items():
        assert declared is cls.knobs[knob] and declared.default == params[knob].default, knob
        assert declared.doc and declared.kind in ("bool", "int", "float"), knob
        assert declared.accepts(declared.default), knob
    assert set(cls.knobs) == set(params) - {"self", "latent_dims"}
    method = build_method(name, latent_dims=DIMS)
    assert all(getattr(method, knob) == declared.default for knob, declared in knobs.items())  # stored as declared


@pytest.mark.parametrize("name", list(METHODS))
def test_every_knob_is_checked_when_its_method_is_built(name):
    for knob in method_knobs(name):
        with pytest.raises(MsmixError, match=rf"knob {knob} must be .*, got 'many'$"):
            build_method(name, latent_dims=DIMS, **{knob: "many"})


def test_a_constructor_that_forgets_to_store_a_knob_is_refused():
    class Forgetful(MixMethod):
        knobs: ClassVar[dict[str, Knob]] = {"alpha": ALPHA, "mix_weight": MIX_WEIGHT}

        def __init__(self, alpha: float = 1.0, mix_weight: float = 0.7) -> None:
            super().__init__()
            self.mix_weight = mix_weight
            self._check_knobs()

    with pytest.raises(TypeError, match="does not store its knob 'alpha'"):
        Forgetful()


def test_a_method_with_an_undeclared_knob_is_refused_when_its_class_is_made():
    with pytest.raises(TypeError, match="declared knobs"):

        class Broken(MixMethod):
            def __init__(self, beta: float = 1.0, mix_weight: float = 0.7) -> None:
                super().__init__(beta=beta, mix_weight=mix_weight)


def test_msmix_defaults_hold_for_the_functional_core_and_the_search_over_a_split():
    knobs = method_knobs("msmix")
    for function in (ms_mix, candidate_partners):
        params = inspect.signature(function).parameters
        assert params["threshold"].default == knobs["threshold"].default == 0.4  # the released code's δ
    assert inspect.signature(ms_mix).parameters["alpha"].default == knobs["alpha"].default == 2.0
    assert {method_knobs(name)["mix_weight"].default for name in METHODS} == {0.7}


def test_search_ranges_are_the_finite_range_or_the_declared_suggestion():
    knobs = method_knobs("msmix")
    assert knobs["threshold"].search_range() == (0.0, 1.0, False)
    assert knobs["alpha"].search_range() == (0.1, 8.0, True)
    assert knobs["num_mix"].search_range() is None and knobs["num_heads"].search_range() is None


def test_every_float_knob_has_a_finite_range_whose_ends_build_and_whose_outside_is_refused():
    """A float knob beyond its range would overflow float32 in training (alpha=1e308): refused when built."""
    latent = {"latent_dims": {"text": 4, "audio": 4, "vision": 4}}
    for name in METHODS:
        extra = latent if name.startswith("msmix") else {}
        for knob, declared in method_knobs(name).items():
            if declared.kind != "float":
                continue
            assert math.isfinite(declared.low) and math.isfinite(declared.high), (name, knob)
            ends = [declared.high] + ([declared.low] if declared.low_inclusive else [])
            for value in ends:
                others = {"min_mix": 1e-3} if knob == "max_mix" else {"max_mix": 10.0} if knob == "min_mix" else {}
                build_method(name, **extra, **others, **{knob: value})
            for value in (declared.high * 1.01, declared.low - 1, 1e308, -1e308):
                with pytest.raises(MsmixError, match=f"knob {knob} must be a number in"):
                    build_method(name, **extra, **{knob: value})
    with pytest.raises(ValueError, match="finite range"):
        Knob(1.0, kind="float", low=0.0)


def test_every_integer_knob_is_bounded_and_many_heads_build_at_once():
    """num_mix=10^12 would allocate terabytes, num_heads=10^9 looped a billion times looking for a divisor."""
    for name in METHODS:
        for knob, declared in method_knobs(name).items():
            assert declared.kind != "int" or math.isfinite(declared.high), (name, knob)
    assert largest_divisor(12, 10**9) == 12 and largest_divisor(7, 4) == 1


def test_every_float_knob_of_every_backbone_is_bounded():
    from msmix_core.models.registry import BACKBONES, build_backbone, knob_defaults

    dims, lens = {"text": 6, "audio": 5, "vision": 4}, {"text": 7, "audio": 9, "vision": 6}
    for name, cls in BACKBONES.items():
        for knob, default in knob_defaults(cls).items():
            if isinstance(default, float):
                with pytest.raises(MsmixError, match=f"knob '{knob}'"):
                    build_backbone(name, dims, lens, **{knob: 1e300})


def test_msmix_needs_latent_dims():
    with pytest.raises(MsmixError, match="latent_dims"):
        build_method("msmix")


@pytest.mark.parametrize(
    ("latent_dims", "message"),
    [
        ({**DIMS, "text": 0}, r"latent_dims\['text'\] must be an integer >= 1, got 0"),
        ({**DIMS, "audio": -4}, r"latent_dims\['audio'\] must be an integer >= 1, got -4"),
        ({**DIMS, "vision": 6.0}, r"latent_dims\['vision'\] must be an integer >= 1, got 6.0"),
        ({**DIMS, "text": True}, r"latent_dims\['text'\] must be an integer"),
        ({"text": 8, "audio": 4}, r"latent_dims lacks \['vision'\]"),
        ([8, 4, 6], "latent_dims must be a dict"),
    ],
)
def test_msmix_latent_dims_are_checked_naming_the_modality(latent_dims, message):
    with pytest.raises(MsmixError, match=message):
        build_method("msmix", latent_dims=latent_dims)


@pytest.mark.parametrize("t", [None, 5])
def test_latents_of_another_size_than_declared_are_an_msmix_error(t):
    method = build_method("msmix", latent_dims=DIMS)
    features, labels = _batch(t=t)
    features["audio"] = torch.cat([features["audio"], features["audio"]], dim=-1)  # 8 features where 4 were declared
    with pytest.raises(MsmixError, match=r"latent feature sizes .*'audio': 8.* differ from the latent_dims"):
        method(features, labels, torch.Generator().manual_seed(0))
    with pytest.raises(MsmixError, match="must be a dict of tensors"):
        method(features["text"], labels)
