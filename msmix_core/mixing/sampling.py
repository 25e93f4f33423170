"""Seeded draws shared by the mixing methods, on the generator's device.

``torch.distributions`` takes no generator, so Beta and Dirichlet ratios come from torch's own
samplers, which do; :func:`sample_dirichlet` is the one place that calls them. The pair draw has
a fast path for large batches; the timings that justify each path are in ``bench/RESULTS.md``.
"""

from __future__ import annotations

import torch

#: Up to this many items :func:`distinct_ranks` ranks one random key per item; above it, draws
#: with replacement are cheaper than a top-k over all keys.
KEYED_DRAW_MAX = 1 << 13
#: Up to this many mask entries (a batch of 256) :func:`draw_pairs` lists the candidates, as the release does.
LISTED_DRAW_MAX = 1 << 16


def generator_device(generator: torch.Generator | None, device: torch.device) -> torch.device:
    """Where a draw happens: on the generator's device, so that the seed alone fixes the numbers."""
    return generator.device if generator is not None else device


def sample_dirichlet(
    concentration: torch.Tensor, generator: torch.Generator | None = None, *, normalise: bool = True
) -> torch.Tensor:
    """Dirichlet draws, one per row of ``concentration`` ``[..., K]``, on its device.

    ``normalise=False`` returns the Gamma(α, 1) draws a Dirichlet normalises (PowMix renormalises
    them itself, in log space). Both wrap torch's private samplers, the only ones that take a
    generator; torch's Dirichlet normalises in double precision, so it is not ``gamma / gamma.sum``
    to the last bit, and it is kept for same-seed numbers.
    """
    if normalise:
        return torch._sample_dirichlet(concentration, generator=generator)
    return torch._standard_gamma(concentration, generator=generator)


def sample_beta(
    alpha: float, size: int, device: torch.device, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``size`` draws of Beta(α, α) as float32 on ``device`` (the first coordinate of a Dirichlet(α, α))."""
    concentration = torch.full((size, 2), float(alpha), device=generator_device(generator, device))
    return sample_dirichlet(concentration, generator)[:, 0].to(device)


def distinct_ranks(count: int, num: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """``num`` distinct integers from ``[0, count)``, uniformly without replacement, in random order.

    Few items, or few per draw (``count <= max(8·num, KEYED_DRAW_MAX)``): the ``num`` largest of
    ``count`` i.i.d. uniform keys (float64, so ties are negligible). Many items: draws with
    replacement of which the first occurrences are kept; sequential draws that skip repeats are
    exactly sampling without replacement, in ``O(num log num)`` instead of ``O(count)``.
    """
    gdev = generator_device(generator, device)
    if num <= 0:
        return torch.zeros(0, dtype=torch.long, device=device)
    if count <= max(8 * num, KEYED_DRAW_MAX):
        keys = torch.rand(count, generator=generator, device=gdev, dtype=torch.float64)
        return keys.topk(num).indices.to(device)
    draws = torch.zeros(0, dtype=torch.long, device=gdev)
    while True:  # one round unless a batch of draws repeats itself a lot (rare, small num)
        draws = torch.cat([draws, torch.randint(count, (2 * num,), generator=generator, device=gdev)])
        values, order = torch.sort(draws, stable=True)
        first = torch.ones_like(values, dtype=torch.bool)
        first[1:] = values[1:] != values[:-1]
        positions = order[first].sort().values  # first occurrences, in draw order
        if positions.numel() >= num:
            return draws[positions[:num]].to(device)


def as_pairs(flat: torch.Tensor, b: int) -> torch.Tensor:
    """Row-major positions in a ``[B, B]`` matrix -> ``(row, column)`` pairs ``[M, 2]``."""
    return torch.stack([flat // b, flat % b], dim=1)


def draw_pairs(allowed: torch.Tensor, num: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, int]:
    """Draw ``min(num, K)`` of the ``K`` True entries of ``allowed`` ``[B, B]`` uniformly without replacement.

    The release's ``nonzero(mask)[randperm(K)[:num]]`` with :func:`distinct_ranks` for the
    permutation. Up to :data:`LISTED_DRAW_MAX` entries the candidates are listed (few
    operations); above it they are not: the ranks are mapped to mask positions by a binary
    search in the row-major running count, which picks the same pairs for the same ranks.
    Returns the pairs ``[M, 2]`` and ``K`` (the one host sync).
    """
    b = allowed.shape[0]
    if allowed.numel() <= LISTED_DRAW_MAX:
        candidates = allowed.nonzero()
        count = candidates.shape[0]
        return candidates[distinct_ranks(count, min(num, count), generator, allowed.device)], count
    running = torch.cumsum(allowed.reshape(-1), 0, dtype=torch.int32 if b * b < 2**31 else torch.int64)
    count = int(running[-1])
    ranks = distinct_ranks(count, min(num, count), generator, allowed.device)
    return as_pairs(torch.searchsorted(running, (ranks + 1).to(running.dtype)), b), count
