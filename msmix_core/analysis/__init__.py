"""Figure-free computations behind the app's exploration pages; plain arrays in and out.

- :mod:`~msmix_core.analysis.latents`: the latent features of one batch, from an untrained
  (seeded) or briefly trained backbone, with the MS-Mix intensity predictors that go with it.
- :mod:`~msmix_core.analysis.pairs`: how each pairing strategy picks pairs (contradictory-pair
  rate, mean label gap) and per-pair tables of sources (sentences, speakers), similarity and ratios.
- :mod:`~msmix_core.analysis.partners`: each sample's SASS partners over a whole split, in tiles
  (``msmix partners``).
- :mod:`~msmix_core.analysis.embedding`: a 2-D or 3-D map of real latents (PCA, UMAP,
  t-SNE) into which mixed latents are placed, kept on disk by content.
"""

from msmix_core.analysis.embedding import (
    VIEWS,
    Projector,
    embed,
    find_samples,
    nearest_neighbours,
    off_map,
    view_features,
)
from msmix_core.analysis.latents import LatentBatch, encode_batch, encode_split, fit_encoder
from msmix_core.analysis.pairs import (
    ORDERS,
    STRATEGIES,
    display_order,
    intensity_table,
    kept_share,
    modality_similarity,
    ordered_pair_count,
    pair_statistics,
    pair_table,
    read_selection,
    sample_captions,
    speakers,
    with_sources,
)
from msmix_core.analysis.partners import PoolCandidates, candidate_partners, partner_table

__all__ = [
    "ORDERS",
    "STRATEGIES",
    "VIEWS",
    "LatentBatch",
    "PoolCandidates",
    "Projector",
    "candidate_partners",
    "display_order",
    "embed",
    "encode_batch",
    "encode_split",
    "find_samples",
    "fit_encoder",
    "intensity_table",
    "kept_share",
    "modality_similarity",
    "nearest_neighbours",
    "off_map",
    "ordered_pair_count",
    "pair_statistics",
    "pair_table",
    "partner_table",
    "read_selection",
    "sample_captions",
    "speakers",
    "view_features",
    "with_sources",
]
