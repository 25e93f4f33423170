"""Each sample's SASS partners over a whole split: the pool search behind ``msmix partners``.

MS-Mix only pairs samples within a batch. Over a split (MOSEI's train split has 16,326 samples)
the same similarity, normalisation and threshold say which samples SASS could ever pair with
each one, and how many of those partners carry the opposite sentiment. The dense ``N × N``
similarity would take 1 GiB there, so :func:`candidate_partners` works in tiles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from msmix_core.data.schema import Split
from msmix_core.errors import MsmixError
from msmix_core.mixing.knobs import THRESHOLD
from msmix_core.mixing.ms_mix import min_max_, unit_rows


@dataclass
class PoolCandidates:
    """Each pool sample's SASS candidates, as found by :func:`candidate_partners`.

    - ``counts`` ``[N]``: partners ``j ≠ i`` with normalised similarity above δ.
    - ``low``/``high``: min and max of the raw mean cosine similarity over all pairs ``i ≠ j``
      (the min-max normalisation's constants).
    - ``partners`` ``[N, k]``: the ``top_k`` most similar candidates, most similar first, ``-1``
      where a sample has fewer than ``k``; ``partner_similarity`` ``[N, k]`` their normalised
      similarities (NaN where ``-1``). None without ``top_k``.
    - ``contradictory`` ``[N]``: candidates whose label has the opposite sign; None without labels.
    """

    counts: torch.Tensor
    low: float
    high: float
    partners: torch.Tensor | None = None
    partner_similarity: torch.Tensor | None = None
    contradictory: torch.Tensor | None = None


def _upper_tiles(n: int, block: int):
    """``(rows, cols)`` slices of the tiles on and above the diagonal of an ``n × n`` matrix."""
    for r in range(0, n, block):
        for c in range(r, n, block):
            yield slice(r, min(r + block, n)), slice(c, min(c + block, n))


def _merge_top(values: torch.Tensor, index: torch.Tensor, rows: slice, scores: torch.Tensor, offset: int) -> None:
    """Fold a tile's row-wise top-k (columns shifted by ``offset``) into the running top-k of ``rows``."""
    k = values.shape[1]
    tile_values, tile_index = scores.topk(min(k, scores.shape[1]), dim=1)
    all_values = torch.cat([values[rows], tile_values], dim=1)
    all_index = torch.cat([index[rows], tile_index + offset], dim=1)
    best = all_values.topk(k, dim=1)
    values[rows] = best.values
    index[rows] = all_index.gather(1, best.indices)


def _pool_min_max(z: torch.Tensor, block_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """First pass: min and max of ``Z Zᵀ`` over its off-diagonal entries, tile by tile."""
    low = torch.full((), math.inf, device=z.device)
    high = torch.full((), -math.inf, device=z.device)
    for rows, cols in _upper_tiles(z.shape[0], block_size):
        tile = z[rows] @ z[cols].T
        if rows == cols:  # keep the diagonal out of each reduction
            low = torch.minimum(low, tile.fill_diagonal_(math.inf).min())
            high = torch.maximum(high, tile.fill_diagonal_(-math.inf).max())
        else:
            tile_low, tile_high = torch.aminmax(tile)
            low, high = torch.minimum(low, tile_low), torch.maximum(high, tile_high)
    return low, high


@torch.no_grad()
def candidate_partners(
    features: dict[str, torch.Tensor],
    threshold: float = THRESHOLD.default,
    *,
    labels: torch.Tensor | None = None,
    block_size: int = 2048,
    top_k: int | None = None,
) -> PoolCandidates:
    """SASS candidates of every sample of a pool of ``N`` samples, in ``block_size²`` tiles.

    The same similarity, normalisation and threshold as :func:`sass_similarity` and
    :func:`candidate_mask`, without the ``N × N`` matrix: a first pass over the tiles finds the
    global off-diagonal min and max, a second counts candidates (and keeps the ``top_k`` most
    similar, and counts opposite-sign labels when ``labels`` are given). By symmetry only the
    tiles on and above the diagonal are computed, each twice. Peak memory is a few tiles.
    """
    if not 0.0 <= threshold <= 1.0:
        raise MsmixError(f"threshold (δ) must lie in [0, 1], got {threshold}")
    if block_size < 1 or (top_k is not None and top_k < 1):
        raise MsmixError(f"block_size and top_k must be integers >= 1, got {block_size} and {top_k}")
    z = unit_rows(features)
    n, device = z.shape[0], z.device
    if labels is not None:
        labels = labels.reshape(-1).to(device)
        if labels.shape[0] != n:
            raise MsmixError(f"labels has {labels.shape[0]} entries for {n} samples: give one label per sample")
    counts = torch.zeros(n, dtype=torch.long, device=device)
    contradictory = torch.zeros_like(counts) if labels is not None else None
    k = top_k or 0
    values = torch.full((n, k), -math.inf, device=device)
    index = torch.full((n, k), -1, dtype=torch.long, device=device)

    def add(these: slice, offset: int, candidate: torch.Tensor, clash: torch.Tensor | None, scores) -> None:
        """Fold a tile's per-row statistics into the rows ``these`` (columns start at ``offset``)."""
        counts[these] += candidate.sum(dim=1)
        if clash is not None:
            contradictory[these] += clash.sum(dim=1)
        if k:
            _merge_top(values, index, these, scores, offset)

    if n < 2:
        low = high = torch.full((), math.nan, device=device)
    else:
        low, high = _pool_min_max(z, block_size)
    for rows, cols in _upper_tiles(n if n >= 2 else 0, block_size):
        tile = min_max_(z[rows] @ z[cols].T, low, high)
        candidate = tile > threshold
        if rows == cols:
            candidate.fill_diagonal_(False)
        clash = candidate & (labels[rows, None] * labels[None, cols] < 0) if labels is not None else None
        scores = tile.masked_fill_(~candidate, -math.inf)
        add(rows, cols.start, candidate, clash, scores)
        if rows != cols:  # the tile also holds the pairs (j, i) of its mirror below the diagonal
            add(cols, rows.start, candidate.T, clash.T if clash is not None else None, scores.T)

    missing = values == -math.inf
    return PoolCandidates(
        counts=counts,
        low=float(low),
        high=float(high),
        partners=index.masked_fill(missing, -1) if top_k else None,
        partner_similarity=values.masked_fill(missing, math.nan) if top_k else None,
        contradictory=contradictory,
    )


def partner_table(split: Split, pool: PoolCandidates) -> pd.DataFrame:
    """One row per sample of ``split``: its label, candidate count, opposite-sign count and top partners.

    ``partner_<k>`` are rows of the split (``-1`` where there are fewer candidates) and
    ``similarity_<k>`` their normalised SASS similarity; ``pool`` comes from :func:`candidate_partners`
    over the split in row order.
    """
    table = pd.DataFrame({"row": np.arange(len(split)), "label": split.labels, "candidates": pool.counts.cpu().numpy()})
    if pool.contradictory is not None:
        table["contradictory"] = pool.contradictory.cpu().numpy()
    if pool.partners is not None:
        for k, (rows, similarity) in enumerate(zip(pool.partners.T, pool.partner_similarity.T, strict=True), start=1):
            table[f"partner_{k}"] = rows.cpu().numpy()
            table[f"similarity_{k}"] = similarity.cpu().numpy()
    return table
