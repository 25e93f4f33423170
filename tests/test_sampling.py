"""The seeded draws: uniform without replacement on every path, Beta and Dirichlet by their moments and seed."""

import numpy as np
import pytest
import torch
from scipy import stats

from msmix_core.mixing import sampling
from msmix_core.mixing.sampling import distinct_ranks, draw_pairs, sample_beta, sample_dirichlet


def _chi2_pvalue(observed):
    observed = np.asarray(observed, dtype=float)
    return stats.chisquare(observed).pvalue


@pytest.mark.parametrize("count", [5, 17])  # top-k of keys (count <= 8·num), and draws with replacement
def test_distinct_ranks_are_uniform_ordered_draws_without_replacement(count, monkeypatch):
    monkeypatch.setattr(sampling, "KEYED_DRAW_MAX", 0)  # so that 17 > 8·2 items take the second path
    g = torch.Generator().manual_seed(0)
    outcomes = [(a, b) for a in range(count) for b in range(count) if a != b]
    tally = dict.fromkeys(outcomes, 0)
    for _ in range(30 * len(outcomes)):
        a, b = distinct_ranks(count, 2, g, torch.device("cpu")).tolist()
        tally[(a, b)] += 1
    assert _chi2_pvalue(list(tally.values())) > 1e-3


def test_draw_pairs_maps_ranks_to_every_candidate_uniformly():
    mask = torch.rand(9, 9, generator=torch.Generator().manual_seed(1)) > 0.6
    mask.fill_diagonal_(False)
    pairs, count = draw_pairs(mask, 100, torch.Generator().manual_seed(0))
    assert count == mask.sum() and sorted(pairs.tolist()) == mask.nonzero().tolist()  # each exactly once
    g = torch.Generator().manual_seed(0)
    tally = torch.zeros(9, 9)
    for _ in range(60 * count):
        pairs, _ = draw_pairs(mask, 1, g)
        tally[pairs[0, 0], pairs[0, 1]] += 1
    assert tally[~mask].sum() == 0 and _chi2_pvalue(tally[mask].tolist()) > 1e-3


@pytest.mark.parametrize("b", [9, 300])
def test_draw_pairs_picks_the_same_pairs_with_or_without_listing_the_candidates(b, monkeypatch):
    mask = torch.rand(b, b, generator=torch.Generator().manual_seed(2)) > 0.5
    mask.fill_diagonal_(False)
    listed = draw_pairs(mask, b, torch.Generator().manual_seed(3))
    monkeypatch.setattr(sampling, "LISTED_DRAW_MAX", 0)  # the running-count search
    searched = draw_pairs(mask, b, torch.Generator().manual_seed(3))
    assert listed[1] == searched[1] == int(mask.sum())
    torch.testing.assert_close(listed[0], searched[0], rtol=0, atol=0)


def test_sample_beta_follows_beta_and_its_seed():
    draws = sample_beta(2.0, 4000, torch.device("cpu"), torch.Generator().manual_seed(0))
    assert stats.kstest(draws.numpy(), stats.beta(2.0, 2.0).cdf).pvalue > 1e-3
    again = sample_beta(2.0, 4000, torch.device("cpu"), torch.Generator().manual_seed(0))
    assert torch.equal(draws, again)


def test_sample_dirichlet_has_the_dirichlet_moments_and_follows_its_seed():
    alpha = torch.tensor([0.5, 1.0, 2.5])
    draws = sample_dirichlet(alpha.expand(20000, 3), torch.Generator().manual_seed(0)).double()
    total = alpha.sum()
    mean, var = alpha / total, alpha * (total - alpha) / (total**2 * (total + 1))
    np.testing.assert_allclose(draws.mean(0).numpy(), mean.numpy(), atol=0.01)
    np.testing.assert_allclose(draws.var(0).numpy(), var.numpy(), rtol=0.05)
    torch.testing.assert_close(draws.sum(1), torch.ones(20000, dtype=torch.float64))
    again = sample_dirichlet(alpha.expand(20000, 3), torch.Generator().manual_seed(0)).double()
    assert torch.equal(draws, again)


def test_unnormalised_draws_are_gamma_and_the_old_calls_numbers():
    concentration = torch.full((4000, 3), 2.0)
    gamma = sample_dirichlet(concentration, torch.Generator().manual_seed(0), normalise=False)
    assert stats.kstest(gamma.reshape(-1).numpy(), stats.gamma(2.0).cdf).pvalue > 1e-3
    old = torch._standard_gamma(concentration, generator=torch.Generator().manual_seed(0))  # PowMix's former call
    assert torch.equal(gamma, old)
    old = torch._sample_dirichlet(concentration, generator=torch.Generator().manual_seed(0))  # ms_mix's former call
    assert torch.equal(sample_dirichlet(concentration, torch.Generator().manual_seed(0)), old)
