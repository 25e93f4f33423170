"""The Embeddings page's maps, shared with the set-up step that computes its first views ahead of time.

A map is computed by :func:`~msmix_core.analysis.embedding.embed` and kept in :data:`MAP_CACHE`
(``.cache/maps``, git ignored) under a digest of its inputs: ``make setup`` (``python -m ui.maps``)
computes the views the app and its tours open on, so a server started from a fresh clone shows
them without compiling UMAP, and a restarted server finds every map it made before.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import torch

from msmix_core.analysis import STRATEGIES, LatentBatch, embed, view_features
from msmix_core.analysis.embedding import cached_map
from msmix_core.mixing import MixResult

#: Where maps are kept (``$MSMIX_MAP_CACHE`` overrides it).
MAP_CACHE = Path(os.environ.get("MSMIX_MAP_CACHE", Path(__file__).resolve().parent.parent / ".cache" / "maps"))
#: Method shown in the legend -> (pairing strategy that makes its mixed latents, its short name in URLs).
MIXERS = {"MS-Mix": ("sass", "msmix"), "Manifold Mixup": ("random", "manifold")}
#: Short names that links made before the random pairs were called Manifold Mixup carry -> the short name now.
RENAMED = {"mixup": "manifold"}
#: Map name on the page -> :class:`~msmix_core.analysis.Projector` method.
PROJECTIONS = {"PCA": "pca", "UMAP": "umap", "t-SNE": "tsne"}
#: SASS's δ on the page unless chosen: the released code's.
DELTA = 0.4
#: The page's first view: UMAP of the briefly trained encoder's fused latents. With the untrained
#: (random) encoder a sample's nearest neighbours agree in sign no more often than chance, so its
#: map is one shapeless blob; after three epochs of MS-Mix they agree about two times in three.
OPENING = {"projection": "UMAP", "source": "trained", "batch": 256, "view": "fused", "dims": 2, "delta": DELTA}

#: Views of the Embeddings page set in one click: name -> (what it shows, widget key -> value). The guided
#: tour opens the same views by their URL values.
PRESETS = {
    "The paper's picture: mixed samples at the negative/positive boundary": (
        "As in the MS-Mix paper's figure: a t-SNE map of the trained encoder with only the mixed points whose two "
        "sources have opposite sentiments, each joined to its sources, MS-Mix at δ = 0.8. Manifold Mixup's land "
        "between the negative and the positive samples with labels near 0; MS-Mix draws fewer such pairs.",
        {
            "emb_projection": "t-SNE",
            "emb_source": "trained",
            "emb_view": "fused",
            "emb_3d": False,
            "emb_opposite": True,
            "emb_lines": True,
            "emb_show_msmix": True,
            "emb_show_manifold": True,
            "emb_mixed": 64,
            "emb_delta": 0.8,
        },
    ),
}


def upgrade_link(params: Mapping[str, str]) -> dict[str, str | None]:
    """URL changes that make a link with an old short name (:data:`RENAMED`) open its view: key -> text, None: drop."""
    changes: dict[str, str | None] = {}
    trace = params.get("emb_trace", "")
    for old, new in RENAMED.items():
        if f"emb_show_{old}" in params:
            changes[f"emb_show_{old}"] = None
            if f"emb_show_{new}" not in params:
                changes[f"emb_show_{new}"] = params[f"emb_show_{old}"]
        if trace.startswith(f"{old}:"):
            changes["emb_trace"] = new + trace.removeprefix(old)
    return changes


def draws(batch: LatentBatch, seed: int, delta: float = DELTA) -> dict[str, MixResult]:
    """Each method's seeded mixing of the batch (its pairs, ratios and mixed latents); MS-Mix's SASS at ``delta``."""
    knobs = {"sass": {"threshold": delta}}
    return {
        name: STRATEGIES[strategy](batch, torch.Generator().manual_seed(seed), **knobs.get(strategy, {}))
        for name, (strategy, _) in MIXERS.items()
    }


def _inputs(batch: LatentBatch, view: str, mixes: dict[str, MixResult]) -> tuple[np.ndarray, list[np.ndarray]]:
    real = view_features(batch.latents, view)
    return real, [view_features({m: v.numpy() for m, v in r.mixed.items()}, view) for r in mixes.values()]


def coordinates(
    batch: LatentBatch, view: str, projection: str, dims: int, seed: int, mixes: dict[str, MixResult]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The real samples' map and each method's mixed points in it (from :data:`MAP_CACHE` when computed before)."""
    real, mixed = _inputs(batch, view, mixes)
    real_xy, mixed_xy = embed(PROJECTIONS[projection], real, mixed, dims=dims, seed=seed, cache_dir=MAP_CACHE)
    return real_xy, dict(zip(mixes, mixed_xy, strict=True))


def on_disk(batch: LatentBatch, view: str, projection: str, dims: int, seed: int, mixes: dict[str, MixResult]) -> bool:
    """Whether this map was computed before (so UMAP needs no compiling to show it)."""
    real, mixed = _inputs(batch, view, mixes)
    return cached_map(PROJECTIONS[projection], real, mixed, dims=dims, seed=seed, cache_dir=MAP_CACHE) is not None


def precompute(views: Iterable[tuple[str, int, int, str, int, float]], batches: Iterable[tuple[int, int]] = ()) -> None:
    """Compute the latents and maps of ``views`` on the default synthetic data and settings, as the page would.

    Each view is ``(projection, training epochs, batch size, latent view, dims, δ)``; ``batches`` are more
    ``(training epochs, batch size)`` to encode (the other pages' first views). The latents go
    through the page's own cached call (:mod:`ui.latents`, which keeps synthetic batches on disk),
    with the server's torch thread count (``ui`` sets it), so the digests are the server's.
    """
    from msmix_core.data import make_synthetic
    from ui import latents
    from ui.settings import Settings

    s = Settings()
    ds = make_synthetic(seed=s.data_seed, conflict_rate=s.conflict_rate, label_noise=s.label_noise, n_train=s.n_train)
    for projection, epochs, batch_size, view, dims, delta in views:
        batch = latents.encoded(str(s), ds, s.backbone, s.seed, epochs, batch_size)
        coordinates(batch, view, projection, dims, s.seed, draws(batch, s.seed, delta))
        print(f"map ready: {projection}, {epochs} epochs, batch {batch_size}, {view}, {dims}-D, δ {delta}", flush=True)
    for epochs, batch_size in batches:
        latents.encoded(str(s), ds, s.backbone, s.seed, epochs, batch_size)


def opening_views() -> list[tuple[str, int, int, str, int, float]]:
    """The views ``make setup`` computes: the page's first view and the tour's embedding steps on synthetic data."""
    from ui import latents, tours

    o = OPENING
    first = (o["projection"], latents.TRAINED_EPOCHS, o["batch"], o["view"], o["dims"], o["delta"])
    return list(dict.fromkeys([first, *tours.synthetic_maps()]))


if __name__ == "__main__":
    from ui import warmup  # warmup sets numba's cache folder before umap is imported

    with warmup.no_runtime_warnings():
        from ui import tours

        warmup.compile_umap()
        precompute(opening_views(), tours.synthetic_batches())
