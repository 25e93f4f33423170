"""A 2-D map of real latents, into which mixed latents are projected (UMAP, or PCA for speed)."""

from __future__ import annotations

import threading

import numpy as np
from sklearn.decomposition import PCA

from msmix_core import MODALITIES
from msmix_core.errors import MsmixError

VIEWS: tuple[str, ...] = ("fused", *MODALITIES)

_import_lock = threading.Lock()


def import_umap():
    """``umap``, imported so that numba keeps every function it compiles for umap on disk.

    umap and pynndescent mark only some of their numba functions ``cache=True``; the rest compile
    again in every new process (most of UMAP's first-use time). While umap is imported, numba's
    ``njit`` and ``jit`` default to ``cache=True``, so a restarted process loads them from numba's
    cache (``NUMBA_CACHE_DIR``) instead; a function numba cannot cache still compiles as before.
    """
    with _import_lock:
        import numba

        originals = numba.njit, numba.jit

        def cached(decorator):
            def decorate(*args, **kwargs):
                kwargs.setdefault("cache", True)
                return decorator(*args, **kwargs)

            return decorate

        numba.njit, numba.jit = cached(numba.njit), cached(numba.jit)
        try:
            import umap
        finally:
            numba.njit, numba.jit = originals
    return umap


def view_features(latents: dict[str, np.ndarray], view: str = "fused") -> np.ndarray:
    """The ``[N, D]`` features to map: one modality, or all three L2-normalised and concatenated.

    Normalising each modality first gives them equal say in the fused view, matching the
    cosine similarity SASS averages over modalities.
    """
    if view not in VIEWS:
        raise MsmixError(f"unknown view {view!r}: choose one of {', '.join(VIEWS)}")
    if view != "fused":
        return np.asarray(latents[view], dtype=np.float32)
    parts = []
    for m in MODALITIES:
        x = np.asarray(latents[m], dtype=np.float32)
        parts.append(x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-8))
    return np.concatenate(parts, axis=1)


class Projector:
    """Fit a 2-D map on real samples, then place other samples in that same map.

    ``method``: ``"umap"`` (umap-learn; ``n_neighbors`` 15 and ``min_dist`` 0.1 are its own
    defaults) or ``"pca"`` (scikit-learn; instant, linear). ``random_state`` fixes the layout:
    the same data and seed give the same map.
    """

    def __init__(self, method: str = "umap", n_neighbors: int = 15, min_dist: float = 0.1, random_state: int = 0):
        if method not in ("umap", "pca"):
            raise MsmixError(f"unknown projection {method!r}: choose 'umap' or 'pca'")
        self.method = method
        self.n_neighbors = n_neighbors
        self.min_dist = min_dist
        self.random_state = random_state

    def fit(self, x: np.ndarray) -> Projector:
        """Learn the map from the real samples ``x`` ``[N, D]``."""
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[0] < 3:
            raise MsmixError(f"a 2-D map needs at least 3 samples as an [N, D] array, got shape {x.shape}")
        if self.method == "pca":
            self.model_ = PCA(n_components=2, random_state=self.random_state).fit(x)
        else:
            umap = import_umap()  # imported lazily: it compiles with numba on first use

            neighbors = min(self.n_neighbors, x.shape[0] - 1)
            self.model_ = umap.UMAP(
                n_neighbors=neighbors, min_dist=self.min_dist, random_state=self.random_state, n_jobs=1
            ).fit(x)
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Place samples ``[M, D]`` in the fitted map; returns ``[M, 2]``."""
        if not hasattr(self, "model_"):
            raise MsmixError("call fit(real_features) before transform")
        x = np.asarray(x, dtype=np.float32)
        if len(x) == 0:
            return np.zeros((0, 2), dtype=np.float32)
        return np.asarray(self.model_.transform(x), dtype=np.float32)

    def fit_transform(self, x: np.ndarray) -> np.ndarray:
        """The real samples' own coordinates ``[N, 2]`` (UMAP's embedding of its training data)."""
        self.fit(x)
        if self.method == "umap":
            return np.asarray(self.model_.embedding_, dtype=np.float32)
        return self.transform(x)


def off_map(real_xy: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """``bool [M]``: points that ``transform`` placed off the real samples' map.

    A point is off the map when it lies outside the real points' bounding box, or farther from
    every real point than any real point lies from its own nearest neighbour: UMAP's ``transform``
    piles samples unlike any real one on the map's border, where they would read as real clusters.
    """
    real_xy, xy = np.asarray(real_xy, dtype=np.float64), np.asarray(xy, dtype=np.float64)
    if len(xy) == 0 or len(real_xy) < 2:
        return np.zeros(len(xy), dtype=bool)
    low, high = real_xy.min(axis=0), real_xy.max(axis=0)
    outside = ((xy < low) | (xy > high)).any(axis=1)
    real_gaps = np.linalg.norm(real_xy[:, None] - real_xy[None], axis=2)
    np.fill_diagonal(real_gaps, np.inf)
    farthest_neighbour = real_gaps.min(axis=1).max()
    nearest = np.linalg.norm(xy[:, None] - real_xy[None], axis=2).min(axis=1)
    return outside | (nearest > farthest_neighbour)


def nearest_neighbours(features: np.ndarray, query: np.ndarray, k: int = 5, exclude: int | None = None):
    """The ``k`` rows of ``features`` ``[N, D]`` most cosine-similar to ``query`` ``[D]``: positions and similarities.

    ``exclude`` leaves one position out (the query's own row). Cosine, as SASS measures similarity.
    """
    features = np.asarray(features, dtype=np.float64)
    norms = np.maximum(np.linalg.norm(features, axis=1), 1e-12)
    query = np.asarray(query, dtype=np.float64)
    cosine = features @ query / (norms * max(float(np.linalg.norm(query)), 1e-12))
    if exclude is not None:
        cosine[exclude] = -np.inf
    order = np.argsort(-cosine, kind="stable")[: min(k, len(features) - (exclude is not None))]
    return order, cosine[order]


def find_samples(query: str, ids: np.ndarray | None, texts: np.ndarray | None) -> np.ndarray:
    """Positions whose id or transcript contains ``query`` (case-insensitive); every word must match."""
    words = query.lower().split()
    n = len(ids) if ids is not None else len(texts) if texts is not None else 0
    if not words or n == 0:
        return np.zeros(0, dtype=np.int64)
    haystack = [" ".join(str(part[i]) for part in (ids, texts) if part is not None).lower() for i in range(n)]
    return np.asarray([i for i, text in enumerate(haystack) if all(w in text for w in words)], dtype=np.int64)
