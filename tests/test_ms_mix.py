"""ms_mix against a plain loop reference, its properties, edge cases and ablation switches."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from msmix_core import MODALITIES
from msmix_core.errors import MsmixError
from msmix_core.mixing import MSMix, candidate_mask, ms_mix, sass_similarity


def _batch(b=12, d=6, t=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    shape = (b, d) if t is None else (b, t, d)
    features = {m: torch.randn(*shape, generator=g) for m in MODALITIES}
    labels = (torch.rand(b, generator=g) * 6 - 3).round(decimals=1)
    intensities = {m: torch.rand(b, generator=g) * 6 - 3 for m in MODALITIES}
    return features, labels, intensities


def _reference(features, labels, intensities, pairs, lam_base, use_sig=True):
    """Each step of the issue written as plain Python loops over samples and pairs."""
    b = len(labels)
    flat = {m: [features[m][i].reshape(-1).tolist() for i in range(b)] for m in MODALITIES}
    raw = [[0.0] * b for _ in range(b)]
    for i in range(b):
        for j in range(b):
            for m in MODALITIES:
                u, v = flat[m][i], flat[m][j]
                nu, nv = math.sqrt(sum(x * x for x in u)), math.sqrt(sum(x * x for x in v))
                raw[i][j] += sum(x * y for x, y in zip(u, v, strict=True)) / (nu * nv) / 3
    off = [raw[i][j] for i in range(b) for j in range(b) if i != j]
    low, high = min(off), max(off)
    sim = [[0.0 if i == j else (raw[i][j] - low) / (high - low) for j in range(b)] for i in range(b)]
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
    kl = 0.0
    p_y = [math.exp(abs(float(y)) / 3) for y in labels]
    p_y = [p / sum(p_y) + 1e-8 for p in p_y]
    for m in MODALITIES:
        p_m = [math.exp(abs(float(x)) / 3) for x in intensities[m]]
        p_m = [p / sum(p_m) + 1e-8 for p in p_m]
        kl += sum(py * (math.log(py) - math.log(pm)) for py, pm in zip(p_y, p_m, strict=True)) / b
    return sim, lam, mixed_labels, 1000 * kl


@pytest.mark.parametrize("use_sig", [True, False])
def test_ms_mix_equals_a_loop_reference(use_sig):
    features, labels, intensities = _batch()
    pairs = torch.tensor([[0, 3], [5, 1], [2, 7], [11, 4]])
    lam_base = torch.tensor([0.1, 0.5, 0.9, 0.33])
    res = ms_mix(features, labels, intensities, pairs=pairs, lam_base=lam_base, use_sig=use_sig)
    sim, lam, mixed_labels, sal = _reference(features, labels, intensities, pairs, lam_base, use_sig)
    np.testing.assert_allclose(res.similarity.numpy(), np.array(sim), atol=1e-5)
    for k in (*MODALITIES, "label"):
        np.testing.assert_allclose(res.lam[k].numpy(), np.array(lam[k]), atol=1e-6)
    np.testing.assert_allclose(res.mixed_labels.numpy(), np.array(mixed_labels), atol=1e-5)
    assert res.alignment_loss.item() == pytest.approx(sal, rel=1e-4)
    for m in MODALITIES:
        for k, (i, j) in enumerate(pairs.tolist()):
            expected = lam[m][k] * features[m][i] + (1 - lam[m][k]) * features[m][j]
            torch.testing.assert_close(res.mixed[m][k], expected)


def test_alignment_loss_matches_torch_kl_div():
    _, labels, intensities = _batch()
    res = ms_mix(*_batch(), generator=torch.Generator().manual_seed(0))
    p_y = F.softmax(labels.abs() / 3, dim=0) + 1e-8
    expected = sum(
        F.kl_div(torch.log(F.softmax(intensities[m].abs() / 3, dim=0) + 1e-8), p_y, reduction="batchmean")
        for m in MODALITIES
    )
    assert res.alignment_loss.item() == pytest.approx(1000 * expected.item(), rel=1e-5)


def test_same_generator_seed_same_result_and_other_seed_differs():
    batch = _batch(b=32)
    a = ms_mix(*batch, generator=torch.Generator().manual_seed(7))
    b = ms_mix(*batch, generator=torch.Generator().manual_seed(7))
    c = ms_mix(*batch, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a.pairs, b.pairs) and torch.equal(a.lam["label"], b.lam["label"])
    assert not torch.equal(a.pairs, c.pairs)


def test_properties_ratios_labels_pairs_and_candidates():
    features, labels, intensities = _batch(b=40)
    res = ms_mix(features, labels, intensities, threshold=0.5, generator=torch.Generator().manual_seed(1))
    assert not res.fallback and res.num_mixed == 40
    for k in (*MODALITIES, "label"):
        assert ((res.lam[k] >= 0) & (res.lam[k] <= 1)).all()
    low = torch.minimum(res.labels_a, res.labels_b) - 1e-6
    high = torch.maximum(res.labels_a, res.labels_b) + 1e-6
    assert ((res.mixed_labels >= low) & (res.mixed_labels <= high)).all()
    i, j = res.pairs[:, 0], res.pairs[:, 1]
    assert (i != j).all()
    assert len(set(map(tuple, res.pairs.tolist()))) == 40  # drawn without replacement
    assert (res.similarity[i, j] > 0.5).all()
    mask = candidate_mask(res.similarity, 0.5)
    assert torch.equal(res.candidates, mask.nonzero())  # every ordered pair, row-major
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


def test_batch_of_one_mixes_nothing():
    res = ms_mix(*_batch(b=1))
    assert res.num_mixed == 0 and res.pairs.shape == (0, 2)
    assert res.diagnostics["contradictory_rate"] == 0.0


def test_threshold_one_uses_the_fallback_top_pairs():
    features, labels, intensities = _batch(b=10)
    res = ms_mix(features, labels, intensities, threshold=1.0, num_mix=4, generator=torch.Generator().manual_seed(0))
    assert res.fallback and res.num_mixed == 4
    upper = res.similarity.triu(1)
    top8 = upper[upper > 0].sort(descending=True).values[:8]
    chosen = res.similarity[res.pairs[:, 0], res.pairs[:, 1]]
    assert (res.pairs[:, 0] < res.pairs[:, 1]).all()
    assert (chosen >= top8[-1] - 1e-6).all()
    assert res.candidates.shape == (8, 2)


def test_num_mix_larger_than_the_available_pairs():
    res = ms_mix(*_batch(b=4), threshold=1.0, num_mix=50, generator=torch.Generator().manual_seed(0))
    assert res.fallback and res.num_mixed == 6  # all 4·3/2 upper-triangle pairs


def test_three_dimensional_features_mix_over_time_with_ratios_in_range():
    features, labels, intensities = _batch(b=16, d=4, t=5)
    res = ms_mix(features, labels, intensities, generator=torch.Generator().manual_seed(0))
    flat = {m: features[m].reshape(16, -1) for m in MODALITIES}
    torch.testing.assert_close(res.similarity, sass_similarity(flat))
    assert res.mixed["text"].shape == (res.num_mixed, 5, 4)
    for k in MODALITIES:
        assert ((res.lam[k] >= 0) & (res.lam[k] <= 1)).all()
    k, (i, j) = 0, res.pairs[0].tolist()
    lam = res.lam["audio"][0]
    torch.testing.assert_close(res.mixed["audio"][k], lam * features["audio"][i] + (1 - lam) * features["audio"][j])


def test_without_sass_pairs_come_from_all_distinct_samples():
    res = ms_mix(*_batch(b=8), threshold=1.0, use_sass=False, generator=torch.Generator().manual_seed(0))
    assert not res.fallback and res.diagnostics["num_candidates"] == 56
    assert (res.pairs[:, 0] != res.pairs[:, 1]).all()


def test_label_guard_never_pairs_opposite_signs():
    features, labels, intensities = _batch(b=30)
    res = ms_mix(
        features, labels, intensities, threshold=0.0, label_guard=True, generator=torch.Generator().manual_seed(0)
    )
    assert (res.labels_a * res.labels_b >= 0).all()
    assert res.diagnostics["contradictory_rate"] == 0.0


def test_pair_draw_is_uniform_over_candidates():
    features, labels, intensities = _batch(b=6)
    mask = candidate_mask(sass_similarity(features), 0.3)
    counts = torch.zeros(6, 6)
    g = torch.Generator().manual_seed(0)
    for _ in range(2000):
        res = ms_mix(features, labels, intensities, threshold=0.3, num_mix=1, generator=g)
        counts[res.pairs[0, 0], res.pairs[0, 1]] += 1
    assert counts[~mask].sum() == 0
    observed = counts[mask]
    expected = 2000 / mask.sum()
    chi2 = float(((observed - expected) ** 2 / expected).sum())
    assert chi2 < 3 * (mask.sum().item() - 1)  # far below what a skewed draw gives


def test_bfloat16_features_keep_their_dtype():
    features, labels, intensities = _batch()
    features = {m: x.to(torch.bfloat16) for m, x in features.items()}
    res = ms_mix(features, labels, intensities, generator=torch.Generator().manual_seed(0))
    assert res.mixed["text"].dtype == torch.bfloat16 and res.num_mixed == 12


def test_gradients_reach_the_intensity_predictors_through_alignment_loss():
    features, labels, _ = _batch(b=16, d=8)
    method = MSMix(latent_dims={m: 8 for m in MODALITIES})
    res = method(features, labels, torch.Generator().manual_seed(0))
    res.alignment_loss.backward()
    for m in MODALITIES:
        grads = [p.grad for p in method.predictors[m].parameters()]
        assert any(g is not None and g.abs().sum() > 0 for g in grads), m


def test_bad_arguments_are_explained():
    features, labels, intensities = _batch()
    with pytest.raises(MsmixError, match="threshold"):
        ms_mix(features, labels, intensities, threshold=1.5)
    with pytest.raises(MsmixError, match="lack the modalities"):
        ms_mix({"text": features["text"]}, labels, intensities)
    with pytest.raises(MsmixError, match="one per pair"):
        ms_mix(features, labels, intensities, pairs=torch.tensor([[0, 1]]), lam_base=torch.ones(3))
