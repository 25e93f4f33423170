"""ms_mix against a plain loop reference, its properties, edge cases, seeded draws and the predictor."""

import itertools
import math

import numpy as np
import pytest
import torch

from msmix_core import MODALITIES
from msmix_core.errors import MsmixError
from msmix_core.mixing import IntensityPredictor, MSMix, candidate_mask, ms_mix, sass_similarity


def _batch(b=12, d=6, t=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    shape = (b, d) if t is None else (b, t, d)
    features = {m: torch.randn(*shape, generator=g) for m in MODALITIES}
    labels = (torch.rand(b, generator=g) * 6 - 3).round(decimals=1)
    intensities = {m: torch.rand(b, generator=g) * 6 - 3 for m in MODALITIES}
    return features, labels, intensities


def _reference_similarity(features):
    """Step 1 with loops: mean cosine similarity, min-max over i != j, zero diagonal."""
    b = features["text"].shape[0]
    flat = {m: [features[m][i].reshape(-1).tolist() for i in range(b)] for m in MODALITIES}
    raw = [[0.0] * b for _ in range(b)]
    for i, j, m in itertools.product(range(b), range(b), MODALITIES):
        u, v = flat[m][i], flat[m][j]
        cos = sum(x * y for x, y in zip(u, v, strict=True)) / math.sqrt(sum(x * x for x in u) * sum(y * y for y in v))
        raw[i][j] += cos / len(MODALITIES)
    off = [raw[i][j] for i in range(b) for j in range(b) if i != j]
    low, high = min(off), max(off)
    return [[0.0 if i == j else (raw[i][j] - low) / (high - low) for j in range(b)] for i in range(b)]


def _reference(features, labels, intensities, pairs, lam_base, use_sig=True):
    """Steps 4-7 with loops over samples and pairs."""
    b = len(labels)
    weights = {}
    for m in MODALITIES:
        w = [abs(float(x)) for x in intensities[m]]
        weights[m] = [(x - min(w)) / (max(w) - min(w) + 1e-8) for x in w]
    lam = {k: [] for k in (*MODALITIES, "label")}
    for (i, j), base in zip(pairs.tolist(), lam_base.tolist(), strict=True):
        for m in MODALITIES:
            wi, wj = weights[m][i], weights[m][j]
            lam[m].append((base + (wi + 1e-8) / (wi + wj + 2e-8)) / 2 if use_sig else base)
        lam["label"].append(sum(lam[m][-1] for m in MODALITIES) / 3 if use_sig else base)
    mixed_labels = [
        lam["label"][k] * float(labels[i]) + (1 - lam["label"][k]) * float(labels[j])
        for k, (i, j) in enumerate(pairs.tolist())
    ]

    def distribution(values):
        e = [math.exp(abs(float(v)) / 3) for v in values]
        return [x / sum(e) + 1e-8 for x in e]

    p_y, kl = distribution(labels), 0.0
    for m in MODALITIES:
        p_m = distribution(intensities[m])
        kl += sum(py * (math.log(py) - math.log(pm)) for py, pm in zip(p_y, p_m, strict=True)) / b
    return lam, mixed_labels, 1000 * kl


@pytest.mark.parametrize("use_sig", [True, False])
def test_ms_mix_equals_a_loop_reference(use_sig):
    features, labels, intensities = _batch()
    pairs = torch.tensor([[0, 3], [5, 1], [2, 7], [11, 4]])
    lam_base = torch.tensor([0.1, 0.5, 0.9, 0.33])
    res = ms_mix(features, labels, intensities, pairs=pairs, lam_base=lam_base, use_sig=use_sig)
    lam, mixed_labels, sal = _reference(features, labels, intensities, pairs, lam_base, use_sig)
    np.testing.assert_allclose(res.similarity.numpy(), np.array(_reference_similarity(features)), atol=1e-5)
    for k in (*MODALITIES, "label"):
        np.testing.assert_allclose(res.lam[k].numpy(), np.array(lam[k]), atol=1e-6)
    np.testing.assert_allclose(res.mixed_labels.numpy(), np.array(mixed_labels), atol=1e-5)
    assert res.alignment_loss.item() == pytest.approx(sal, rel=1e-4)
    for m in MODALITIES:
        for k, (i, j) in enumerate(pairs.tolist()):
            expected = lam[m][k] * features[m][i] + (1 - lam[m][k]) * features[m][j]
            torch.testing.assert_close(res.mixed[m][k], expected)


def test_candidates_and_fallback_equal_a_loop_reference():
    features, labels, intensities = _batch(b=10)
    sim = _reference_similarity(features)
    res = ms_mix(features, labels, intensities, threshold=0.6, generator=torch.Generator().manual_seed(0))
    expected = [[i, j] for i in range(10) for j in range(10) if sim[i][j] > 0.6]  # row-major, both orders
    assert len(expected) >= 10 and not res.fallback
    assert res.candidates.tolist() == expected
    assert res.diagnostics["num_candidates"] == len(expected)

    res = ms_mix(features, labels, intensities, threshold=0.99, num_mix=4, generator=torch.Generator().manual_seed(0))
    upper = sorted(((sim[i][j], i, j) for i in range(10) for j in range(i + 1, 10)), reverse=True)
    assert res.fallback and res.diagnostics["fallback"] == 1.0
    assert sorted(res.candidates.tolist()) == sorted([i, j] for _, i, j in upper[:8])
    assert res.num_mixed == 4 and set(map(tuple, res.pairs.tolist())) <= set(map(tuple, res.candidates.tolist()))


@pytest.mark.parametrize("label_guard", [False, True])
def test_given_pairs_still_list_the_candidates_of_the_search(label_guard):
    features, labels, intensities = _batch(b=10)
    drawn = ms_mix(features, labels, intensities, threshold=0.2, label_guard=label_guard, generator=torch.Generator())
    given = ms_mix(features, labels, intensities, threshold=0.2, label_guard=label_guard, pairs=drawn.pairs)
    assert not drawn.fallback and torch.equal(given.candidates, drawn.candidates)
    assert given.candidates is given.candidates  # listed once, on first access


@pytest.mark.parametrize("label_guard", [False, True])
def test_under_the_fallback_given_pairs_list_the_top_pairs_the_same_call_draws_from(label_guard):
    features, labels, intensities = _batch(b=10)
    knobs = {"threshold": 0.99, "num_mix": 4, "label_guard": label_guard}
    drawn = ms_mix(features, labels, intensities, **knobs, generator=torch.Generator().manual_seed(0))
    given = ms_mix(features, labels, intensities, **knobs, pairs=drawn.pairs)
    assert drawn.fallback and torch.equal(given.candidates, drawn.candidates)
    assert set(map(tuple, given.pairs.tolist())) <= set(map(tuple, given.candidates.tolist()))


def test_same_generator_seed_same_result_and_other_seed_differs():
    batch = _batch(b=32)
    a = ms_mix(*batch, generator=torch.Generator().manual_seed(7))
    b = ms_mix(*batch, generator=torch.Generator().manual_seed(7))
    c = ms_mix(*batch, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a.pairs, b.pairs) and torch.equal(a.lam["label"], b.lam["label"])
    assert all(torch.equal(a.mixed[m], b.mixed[m]) for m in MODALITIES)
    assert not torch.equal(a.pairs, c.pairs)


@pytest.mark.parametrize("threshold", [0.2, 0.5])
def test_properties_ratios_labels_pairs_and_candidates(threshold):
    features, labels, intensities = _batch(b=40)
    res = ms_mix(features, labels, intensities, threshold=threshold, generator=torch.Generator().manual_seed(1))
    assert not res.fallback and res.num_mixed == 40
    for k in (*MODALITIES, "label"):
        assert ((res.lam[k] >= 0) & (res.lam[k] <= 1)).all()
    low = torch.minimum(res.labels_a, res.labels_b) - 1e-6
    high = torch.maximum(res.labels_a, res.labels_b) + 1e-6
    assert ((res.mixed_labels >= low) & (res.mixed_labels <= high)).all()
    i, j = res.pairs[:, 0], res.pairs[:, 1]
    assert (i != j).all()
    assert len(set(map(tuple, res.pairs.tolist()))) == 40  # drawn without replacement
    assert (res.similarity[i, j] > threshold).all()
    mask = candidate_mask(res.similarity, threshold)
    assert torch.equal(res.candidates, mask.nonzero())
    assert res.diagnostics["num_candidates"] == mask.sum().item()


def test_lam_one_returns_the_first_source():
    features, labels, intensities = _batch()
    pairs = torch.tensor([[0, 1], [2, 3]])
    res = ms_mix(features, labels, intensities, pairs=pairs, lam_base=torch.ones(2), use_sig=False)
    for m in MODALITIES:
        torch.testing.assert_close(res.mixed[m], features[m][[0, 2]])
    torch.testing.assert_close(res.mixed_labels, labels[[0, 2]])


def test_similarity_is_min_max_normalised_with_zero_diagonal():
    features, _, _ = _batch(b=10)
    sim = sass_similarity(features)
    off = ~torch.eye(10, dtype=torch.bool)
    assert sim.diagonal().abs().max() == 0
    assert sim[off].min().item() == pytest.approx(0.0, abs=1e-6)
    assert sim[off].max().item() == pytest.approx(1.0, abs=1e-6)
    constant = {m: torch.ones(5, 3) for m in MODALITIES}
    assert torch.equal(sass_similarity(constant)[off[:5, :5]], torch.full((20,), 0.5))


@pytest.mark.parametrize("b", [0, 1])
def test_batches_below_two_mix_nothing(b):
    res = ms_mix(*_batch(b=b))
    assert res.num_mixed == 0 and res.pairs.shape == (0, 2) and res.mixed["audio"].shape == (0, 6)
    assert res.diagnostics["contradictory_rate"] == 0.0


def test_num_mix_larger_than_the_available_pairs():
    res = ms_mix(*_batch(b=4), threshold=1.0, num_mix=50, generator=torch.Generator().manual_seed(0))
    assert res.fallback and res.num_mixed == 6  # all 4·3/2 upper-triangle pairs, no self pairs
    assert (res.pairs[:, 0] < res.pairs[:, 1]).all()


def test_three_dimensional_features_mix_over_time_with_ratios_in_range():
    features, labels, intensities = _batch(b=16, d=4, t=5)
    res = ms_mix(features, labels, intensities, generator=torch.Generator().manual_seed(0))
    flat = {m: features[m].reshape(16, -1) for m in MODALITIES}
    torch.testing.assert_close(res.similarity, sass_similarity(flat))
    assert res.mixed["text"].shape == (res.num_mixed, 5, 4)
    for k in MODALITIES:
        assert ((res.lam[k] >= 0) & (res.lam[k] <= 1)).all()
    (i, j), lam = res.pairs[0].tolist(), res.lam["audio"][0]
    torch.testing.assert_close(res.mixed["audio"][0], lam * features["audio"][i] + (1 - lam) * features["audio"][j])


def test_without_sass_pairs_come_from_all_distinct_samples():
    res = ms_mix(*_batch(b=8), threshold=1.0, use_sass=False, generator=torch.Generator().manual_seed(0))
    assert not res.fallback and res.similarity is None and res.num_mixed == 8
    assert res.diagnostics["num_candidates"] == 56 and res.candidates.shape == (56, 2)
    assert (res.pairs[:, 0] != res.pairs[:, 1]).all()


def test_label_guard_never_pairs_opposite_signs():
    features, labels, intensities = _batch(b=30)
    for threshold in (0.0, 1.0):  # plenty of candidates, and the fallback
        res = ms_mix(
            features,
            labels,
            intensities,
            threshold=threshold,
            label_guard=True,
            generator=torch.Generator().manual_seed(0),
        )
        assert res.num_mixed > 0 and (res.labels_a * res.labels_b >= 0).all()
        assert res.diagnostics["contradictory_rate"] == 0.0


def test_bfloat16_features_keep_their_dtype():
    features, labels, intensities = _batch()
    features = {m: x.to(torch.bfloat16) for m, x in features.items()}
    res = ms_mix(features, labels, intensities, generator=torch.Generator().manual_seed(0))
    assert res.mixed["text"].dtype == torch.bfloat16 and res.num_mixed == 12
    assert res.similarity.dtype == torch.float32


def test_gradients_reach_the_intensity_predictors_through_alignment_loss():
    features, labels, _ = _batch(b=16, d=8)
    method = MSMix(latent_dims={m: 8 for m in MODALITIES})
    res = method(features, labels, torch.Generator().manual_seed(0))
    res.alignment_loss.backward()
    for m in MODALITIES:
        grads = [p.grad for p in method.predictors[m].parameters()]
        assert any(g is not None and g.abs().sum() > 0 for g in grads), m


@pytest.mark.parametrize("detach", [False, True])
def test_detached_predictor_input_keeps_sal_out_of_the_encoders(detach):
    features, labels, _ = _batch(b=16, d=8)
    features = {m: x.requires_grad_() for m, x in features.items()}
    method = MSMix(latent_dims={m: 8 for m in MODALITIES}, detach_predictor_input=detach)
    method(features, labels, torch.Generator().manual_seed(0)).alignment_loss.backward()
    reached_latents = any(x.grad is not None and x.grad.abs().sum() > 0 for x in features.values())
    assert reached_latents != detach
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in method.predictors["text"].out.parameters())


def test_msmix_defaults_to_detached_predictor_input_and_attached_ratios():
    method = MSMix(latent_dims={m: 8 for m in MODALITIES})
    assert method.detach_predictor_input and not method.detach_ratios


@pytest.mark.parametrize("detach_ratios", [False, True])
def test_detached_ratios_keep_the_mixed_loss_out_of_the_predictors(detach_ratios):
    features, labels, _ = _batch(b=16, d=8)
    features = {m: x.requires_grad_() for m, x in features.items()}  # latents of an encoder
    method = MSMix(latent_dims={m: 8 for m in MODALITIES}, detach_ratios=detach_ratios)
    res = method(features, labels, torch.Generator().manual_seed(0))
    mixed_target = torch.randn(res.num_mixed, generator=torch.Generator().manual_seed(1))
    (sum(res.mixed[m].sum() for m in MODALITIES) + (res.lam["label"] * mixed_target).sum()).backward()
    grads = [p.grad for m in MODALITIES for p in method.predictors[m].parameters()]
    reached = any(g is not None and g.abs().sum() > 0 for g in grads)
    assert reached != detach_ratios
    fresh = MSMix(latent_dims={m: 8 for m in MODALITIES}, detach_ratios=detach_ratios)
    fresh(features, labels, torch.Generator().manual_seed(0)).alignment_loss.backward()  # SAL still trains them
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in fresh.predictors["text"].out.parameters())


def test_bad_arguments_are_explained():
    features, labels, intensities = _batch()
    with pytest.raises(MsmixError, match="threshold"):
        ms_mix(features, labels, intensities, threshold=1.5)
    with pytest.raises(MsmixError, match="alpha"):
        ms_mix(features, labels, intensities, alpha=0.0)
    with pytest.raises(MsmixError, match="lack the modalities"):
        ms_mix({"text": features["text"]}, labels, intensities)
    with pytest.raises(MsmixError, match="batch size"):
        ms_mix(features, labels[:5], intensities)
    with pytest.raises(MsmixError, match="one per pair"):
        ms_mix(features, labels, intensities, pairs=torch.tensor([[0, 1]]), lam_base=torch.ones(3))
    with pytest.raises(MsmixError, match=r"in \[0, 12\)"):
        ms_mix(features, labels, intensities, pairs=torch.tensor([[0, 12]]))
    with pytest.raises(MsmixError, match="num_mix"):
        ms_mix(features, labels, intensities, num_mix=0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f, y, i: (f["text"], y, i, {}), "features must be a dict of tensors"),
        (lambda f, y, i: ({**f, "audio": f["audio"][0]}, y, i, {}), r"features\['audio'\] must be a tensor of 2 or 3"),
        (lambda f, y, i: (f, y, i, {"pairs": torch.tensor([[0, 1, 2], [3, 4, 5]])}), r"shape \[M, 2\]"),
        (lambda f, y, i: (f, y, i, {"pairs": torch.tensor([0, 1])}), r"shape \[M, 2\]"),
        (lambda f, y, i: (f, y, i, {"pairs": torch.tensor([[0.0, 1.0]])}), "integer tensor"),
        (lambda f, y, i: (f, y, i, {"pairs": [[0, 1]]}), "integer tensor"),
        (lambda f, y, i: (f, y, i, {"pairs": torch.tensor([[0, 1]]), "lam_base": torch.tensor([5.0])}), r"in \[0, 1\]"),
        (lambda f, y, i: (f, y, i, {"pairs": torch.tensor([[0, 1]]), "lam_base": torch.tensor([-0.1])}), r"\[0, 1\]"),
        (lambda f, y, i: (f, y, i, {"pairs": torch.tensor([[0, 1]]), "lam_base": torch.tensor([math.nan])}), "NaN"),
        (lambda f, y, i: (f, y.tolist(), i, {}), "labels must be a tensor"),
    ],
)
def test_malformed_inputs_are_msmix_errors_naming_the_argument(change, message):
    features, labels, intensities, kwargs = change(*_batch())
    with pytest.raises(MsmixError, match=message):
        ms_mix(features, labels, intensities, **kwargs)


def _reference_predictor(predictor, x):
    """The released IntensityPredictor's forward, head by head, for a [B, T, D] input."""
    b, _, d = x.shape
    h = predictor.num_heads
    q, k, v = predictor.qkv(x).chunk(3, dim=-1)
    heads = []
    for i in range(h):
        part = slice(i * d // h, (i + 1) * d // h)
        scores = q[..., part] @ k[..., part].transpose(1, 2) / math.sqrt(d // h)
        heads.append(scores.softmax(dim=-1) @ v[..., part])
    out = predictor.norm(torch.cat(heads, dim=-1) + x).mean(dim=1)
    return 3 * torch.tanh(predictor.out(out)).reshape(b)


@pytest.mark.parametrize("t", [None, 7])
def test_intensity_predictor_matches_the_released_computation(t):
    torch.manual_seed(0)
    predictor = IntensityPredictor(12, num_heads=4)
    x = torch.randn(5, 12) if t is None else torch.randn(5, t, 12)
    out = predictor(x)
    assert out.shape == (5,) and (out.abs() < 3).all()
    torch.testing.assert_close(out, _reference_predictor(predictor, x if t else x[:, None]))


def test_single_token_shortcut_has_the_released_gradients():
    """For [B, D] input only the value third of qkv is computed; gradients match the full attention."""
    torch.manual_seed(0)
    predictor = IntensityPredictor(12, num_heads=4)
    x = torch.randn(5, 12, requires_grad=True)
    grads = torch.autograd.grad(predictor(x).sum(), [x, *predictor.parameters()], allow_unused=True)
    full = torch.autograd.grad(_reference_predictor(predictor, x[:, None]).sum(), [x, *predictor.parameters()])
    for ours, reference in zip(grads, full, strict=True):
        torch.testing.assert_close(ours if ours is not None else torch.zeros_like(reference), reference)
    assert full[1][:24].abs().max() < 1e-6  # the release's query and key rows get (numerically) no gradient


def test_intensity_predictor_heads_fall_back_to_a_divisor():
    assert IntensityPredictor(6, num_heads=4).num_heads == 3
    assert IntensityPredictor(7, num_heads=4).num_heads == 1
    assert IntensityPredictor(128, num_heads=4).num_heads == 4
