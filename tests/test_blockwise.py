"""The tiled pool search gives what the dense SASS path gives, without the N × N matrix."""

import math

import pytest
import torch

from msmix_core import MODALITIES
from msmix_core.analysis.partners import candidate_partners
from msmix_core.errors import MsmixError
from msmix_core.mixing import candidate_mask, sass_similarity


def _pool(n, t=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    dims = {"text": 6, "audio": 3, "vision": 4}
    features = {m: torch.randn(*((n, d) if t is None else (n, t, d)), generator=g) for m, d in dims.items()}
    return features, torch.randint(-3, 4, (n,), generator=g).float()


def _safe_threshold(similarity, quantile):
    """A threshold near ``quantile`` in a wide gap between similarity values, so rounding cannot flip a pair."""
    values = similarity[~torch.eye(len(similarity), dtype=torch.bool)].sort().values
    at = int(quantile * len(values))
    window = values[max(at - 20, 0) : at + 20]
    gap = (window[1:] - window[:-1]).argmax()
    return float(window[gap] + window[gap + 1]) / 2


def _dense(features, labels, threshold, top_k):
    similarity = sass_similarity(features)
    mask = candidate_mask(similarity, threshold)
    top = similarity.masked_fill(~mask, -math.inf).topk(top_k, dim=1)
    partners = top.indices.masked_fill(top.values == -math.inf, -1)
    clash = mask & (labels[:, None] * labels[None, :] < 0)
    return mask.sum(dim=1), partners, top.values, clash.sum(dim=1)


@pytest.mark.parametrize("block_size", [2, 7, 500])  # 2: the last tile of 45 is 1 × 1
@pytest.mark.parametrize("quantile", [0.3, 0.9])
def test_tiles_equal_the_dense_path(block_size, quantile):
    features, labels = _pool(45)
    threshold = _safe_threshold(sass_similarity(features), quantile)
    counts, partners, values, clash = _dense(features, labels, threshold, top_k=5)
    pool = candidate_partners(features, threshold, labels=labels, block_size=block_size, top_k=5)
    assert torch.equal(pool.counts, counts)
    assert torch.equal(pool.contradictory, clash)
    assert torch.equal(pool.partners, partners)
    found = partners >= 0
    torch.testing.assert_close(pool.partner_similarity[found], values[found])
    assert pool.partner_similarity[~found].isnan().all()


def test_min_and_max_are_the_raw_off_diagonal_extremes():
    features, _ = _pool(30)
    z = torch.cat([torch.nn.functional.normalize(features[m], dim=1) for m in MODALITIES], dim=1) / math.sqrt(3)
    raw = (z @ z.T)[~torch.eye(30, dtype=torch.bool)]
    pool = candidate_partners(features, 0.5, block_size=8)
    assert pool.low == pytest.approx(raw.min().item(), abs=1e-6)
    assert pool.high == pytest.approx(raw.max().item(), abs=1e-6)
    assert pool.partners is None and pool.contradictory is None


def test_sequences_are_flattened_like_the_dense_path():
    features, _ = _pool(20, t=3)
    threshold = _safe_threshold(sass_similarity(features), 0.5)
    pool = candidate_partners(features, threshold, block_size=6)
    assert torch.equal(pool.counts, candidate_mask(sass_similarity(features), threshold).sum(dim=1))


def test_more_partners_asked_than_candidates_are_padded():
    features, _ = _pool(10)
    pool = candidate_partners(features, 0.0, block_size=4, top_k=12)
    assert (pool.partners[:, 9:] == -1).all() and pool.partner_similarity[:, 9:].isnan().all()
    assert (pool.partners[:, :9] != torch.arange(10)[:, None]).all()  # never its own partner


def test_tiny_and_constant_pools():
    one = candidate_partners({m: torch.ones(1, 3) for m in MODALITIES}, 0.4, top_k=2)
    assert one.counts.tolist() == [0] and math.isnan(one.low) and one.partners.tolist() == [[-1, -1]]
    constant = candidate_partners({m: torch.ones(6, 3) for m in MODALITIES}, 0.4, block_size=4)
    assert constant.counts.tolist() == [5] * 6  # every similarity is 0.5 > 0.4


def test_bad_arguments_are_explained():
    features, labels = _pool(5)
    with pytest.raises(MsmixError, match="threshold"):
        candidate_partners(features, -0.1)
    with pytest.raises(MsmixError, match="block_size"):
        candidate_partners(features, 0.4, block_size=0)
    with pytest.raises(MsmixError, match="one label per sample"):
        candidate_partners(features, 0.4, labels=labels[:3])


@pytest.mark.slow
def test_a_20k_pool_runs_in_blocks_and_matches_direct_rows():
    n, k = 20_000, 8
    g = torch.Generator().manual_seed(3)
    features = {m: torch.randn(n, 32, generator=g) for m in MODALITIES}
    pool = candidate_partners(features, 0.4, block_size=1024, top_k=k)
    assert pool.counts.shape == (n,) and pool.partners.shape == (n, k)
    z = torch.cat([torch.nn.functional.normalize(features[m], dim=1) for m in MODALITIES], dim=1) / math.sqrt(3)
    for i in (0, 1023, 1024, 12_345, n - 1):  # rows at tile edges and in the last, partial tile
        raw = z[i] @ z.T
        others = torch.arange(n) != i
        assert raw[others].min() >= pool.low - 1e-6 and raw[others].max() <= pool.high + 1e-6
        norm = ((raw - pool.low) / (pool.high - pool.low)).masked_fill(~others, -math.inf)
        clear = (norm - 0.4).abs() > 1e-5  # entries float rounding cannot move across δ
        assert abs(pool.counts[i] - (norm[clear] > 0.4).sum()) <= (~clear).sum()
        torch.testing.assert_close(pool.partner_similarity[i], norm.topk(k).values, atol=1e-5, rtol=0)
        torch.testing.assert_close(norm[pool.partners[i]], pool.partner_similarity[i], atol=1e-5, rtol=0)
