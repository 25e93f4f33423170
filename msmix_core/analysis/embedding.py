"""A 2-D or 3-D map of real latents (PCA, UMAP or t-SNE), into which mixed latents are placed.

Maps can be kept on disk (:func:`embed` with ``cache_dir``), keyed by a digest of what went in,
so a map computed once (by ``make setup`` for the app's first views, or by an earlier server)
opens at once after a restart.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA

from msmix_core import MODALITIES
from msmix_core.errors import MsmixError

VIEWS: tuple[str, ...] = ("fused", *MODALITIES)
#: The projections, by the names :class:`Projector` takes.
METHODS: tuple[str, ...] = ("pca", "umap", "tsne")

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
    """Fit a 2-D (or 3-D) map on real samples, then place other samples in that same map.

    ``method``: ``"umap"`` (umap-learn; ``n_neighbors`` 15 and ``min_dist`` 0.1 are its own
    defaults), ``"pca"`` (scikit-learn; instant, linear) or ``"tsne"`` (scikit-learn's t-SNE,
    perplexity 30 or a third of the samples; it has no ``transform``, see :func:`embed`).
    ``random_state`` fixes the layout: the same data and seed give the same map.
    """

    def __init__(
        self,
        method: str = "umap",
        n_neighbors: int = 15,
        min_dist: float = 0.1,
        random_state: int = 0,
        n_components: int = 2,
    ):
        if method not in METHODS:
            raise MsmixError(f"unknown projection {method!r}: choose one of {', '.join(METHODS)}")
        if n_components not in (2, 3):
            raise MsmixError(f"a map has 2 or 3 dimensions, not {n_components}")
        self.method = method
        self.n_neighbors = n_neighbors
        self.min_dist = min_dist
        self.random_state = random_state
        self.n_components = n_components

    def fit(self, x: np.ndarray) -> Projector:
        """Learn the map from the real samples ``x`` ``[N, D]``."""
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[0] < 3:
            raise MsmixError(f"a map needs at least 3 samples as an [N, D] array, got shape {x.shape}")
        dims = min(self.n_components, x.shape[1])
        if self.method == "pca":
            self.model_ = PCA(n_components=dims, random_state=self.random_state).fit(x)
        elif self.method == "tsne":
            from sklearn.manifold import TSNE

            perplexity = min(30.0, (x.shape[0] - 1) / 3)
            self.model_ = TSNE(n_components=self.n_components, perplexity=perplexity, random_state=self.random_state)
            self.embedding_ = self.model_.fit_transform(x)
        else:
            umap = import_umap()  # imported lazily: it compiles with numba on first use

            neighbors = min(self.n_neighbors, x.shape[0] - 1)
            self.model_ = umap.UMAP(
                n_components=self.n_components,
                n_neighbors=neighbors,
                min_dist=self.min_dist,
                random_state=self.random_state,
                n_jobs=1,
            ).fit(x)
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Place samples ``[M, D]`` in the fitted map; returns ``[M, n_components]``."""
        if not hasattr(self, "model_"):
            raise MsmixError("call fit(real_features) before transform")
        if self.method == "tsne":
            raise MsmixError("t-SNE cannot place new points in a fitted map: fit it on all points (embed does)")
        x = np.asarray(x, dtype=np.float32)
        if len(x) == 0:
            return np.zeros((0, self.n_components), dtype=np.float32)
        return _pad(np.asarray(self.model_.transform(x), dtype=np.float32), self.n_components)

    def fit_transform(self, x: np.ndarray) -> np.ndarray:
        """The real samples' own coordinates ``[N, n_components]`` (UMAP's and t-SNE's embedding of their data)."""
        self.fit(x)
        if self.method == "tsne":
            return np.asarray(self.embedding_, dtype=np.float32)
        if self.method == "umap":
            return np.asarray(self.model_.embedding_, dtype=np.float32)
        return self.transform(x)


def _pad(xy: np.ndarray, dims: int) -> np.ndarray:
    """PCA of features with fewer dimensions than the map: zeros for the missing axes."""
    return xy if xy.shape[1] == dims else np.pad(xy, ((0, 0), (0, dims - xy.shape[1])))


def embed(
    method: str,
    real: np.ndarray,
    others: Sequence[np.ndarray] = (),
    *,
    dims: int = 2,
    seed: int = 0,
    cache_dir: str | Path | None = None,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The map of ``real`` ``[N, D]`` and the places of each array in ``others`` ``[M_i, D]`` in it.

    PCA and UMAP learn the map from the real samples only and place the others with ``transform``.
    t-SNE has no ``transform``: it is fitted on the real and the other samples together (as the
    Embedding Projector does), so there the mixed points take part in the layout. With
    ``cache_dir``, the result is read from, or written to, an ``.npz`` file there named by a digest
    of the inputs, the method and the library versions (read without pickle; shapes checked).
    """
    real, others = _prepared(real, others)
    path = None if cache_dir is None else _cache_path(cache_dir, method, dims, seed, real, others)
    cached = None if path is None else _read(path, [len(real), *(len(o) for o in others)], dims)
    if cached is not None:
        return cached[0], cached[1:]
    projector = Projector(method, random_state=seed, n_components=dims)
    if method == "tsne":
        joint = projector.fit_transform(np.concatenate([real, *others]))
        cuts = np.cumsum([len(real), *(len(o) for o in others)])[:-1]
        real_xy, *others_xy = np.split(np.asarray(joint, dtype=np.float32), cuts)
    else:
        real_xy = _pad(projector.fit_transform(real), dims)
        others_xy = [projector.transform(o) for o in others]
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp.npz")
        np.savez(partial, *[real_xy, *others_xy])
        os.replace(partial, path)  # whole or absent: a reader never sees half a file
    return real_xy, list(others_xy)


def cached_map(
    method: str,
    real: np.ndarray,
    others: Sequence[np.ndarray] = (),
    *,
    dims: int = 2,
    seed: int = 0,
    cache_dir: str | Path,
) -> tuple[np.ndarray, list[np.ndarray]] | None:
    """What :func:`embed` would return from its disk cache, or None when the map is not there (nothing computed)."""
    real, others = _prepared(real, others)
    sizes = [len(real), *(len(o) for o in others)]
    cached = _read(_cache_path(cache_dir, method, dims, seed, real, others), sizes, dims)
    return None if cached is None else (cached[0], cached[1:])


def _prepared(real: np.ndarray, others: Sequence[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    real = np.ascontiguousarray(real, dtype=np.float32)
    return real, [np.ascontiguousarray(o, dtype=np.float32).reshape(-1, real.shape[1]) for o in others]


def _cache_path(
    folder: str | Path, method: str, dims: int, seed: int, real: np.ndarray, others: list[np.ndarray]
) -> Path:
    """The file of one map: a digest of the inputs, the method and the library versions that compute it."""
    import sklearn

    h = hashlib.sha256(f"{method}|{dims}|{seed}|sklearn {sklearn.__version__}".encode())
    if method == "umap":
        from importlib.metadata import version

        h.update(f"|umap {version('umap-learn')}".encode())
    for array in (real, *others):
        h.update(f"|{array.shape}".encode())
        h.update(array.tobytes())
    return Path(folder) / f"{h.hexdigest()[:32]}.npz"


def _read(path: Path, sizes: list[int], dims: int) -> list[np.ndarray] | None:
    """The arrays of a cached map, or None when there is none or it is not the map expected (damaged, other shapes)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as saved:
            arrays = [saved[f"arr_{k}"] for k in range(len(sizes))]
    except Exception:  # any damage (a torn zip is BadZipFile, a cut entry EOFError or zlib.error): compute it again
        return None
    if any(a.shape != (n, dims) or a.dtype != np.float32 for a, n in zip(arrays, sizes, strict=True)):
        return None
    return arrays


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
