"""UMAP compiles its numerical code with numba on first use: do that once, in the background, at start-up.

The same call starts an idle training worker (:func:`~msmix_core.jobs.worker.prestart`), so
that the first Run on the Training page trains at once.

``app.py`` calls :func:`start` when the server runs the app (its first browser session), so by
the time someone opens the Embeddings page and picks UMAP the compilation is done or under way;
until :func:`ready`, that page draws the PCA map with a message and polls, then switches to UMAP.
numba's on-disk cache goes to ``.cache/numba`` (git ignored) unless ``NUMBA_CACHE_DIR`` is set;
umap is imported with caching on for all its numba functions
(:func:`~msmix_core.analysis.embedding.import_umap`), so after a restart they load from there.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from msmix_core.jobs.worker import prestart

os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(__file__).resolve().parent.parent / ".cache" / "numba"))

#: Streamlit's caching logs that it has no runtime when a cached function is declared or called outside a server
#: (the set-up step, the launcher before it serves); harmless there, so kept out of their output.
_CACHING_LOGGER = "streamlit.runtime.caching.cache_data_api"

_done = threading.Event()
_lock = threading.Lock()
_thread: threading.Thread | None = None


@contextmanager
def no_runtime_warnings() -> Iterator[None]:
    """Drop Streamlit's "No runtime found" warnings while the app's code runs before (or without) a server.

    A filter, not a level: Streamlit sets its loggers' levels again when it reads its configuration."""
    caching = logging.getLogger(_CACHING_LOGGER)

    def no_runtime(record: logging.LogRecord) -> bool:
        return "No runtime found" not in record.getMessage()

    caching.addFilter(no_runtime)
    try:
        yield
    finally:
        caching.removeFilter(no_runtime)


def compile_umap() -> None:
    """Fit and apply a small map: the same code paths (small-data nearest neighbours, layout, transform).

    In a fresh checkout this compiles everything and fills numba's cache (``make setup`` runs it
    through ``python -m ui.maps``); later processes load it from there.
    """
    from msmix_core.analysis import Projector

    x = np.random.default_rng(0).normal(size=(96, 48)).astype(np.float32)
    projector = Projector("umap", random_state=0)
    projector.fit_transform(x)
    projector.transform(x[:8])


def _warm() -> None:
    try:
        compile_umap()
    finally:
        _done.set()  # a failure here shows again, with its message, where the page uses UMAP


def start() -> None:
    """Start the warm-up thread once per server process (later calls do nothing), and an idle training worker."""
    global _thread
    prestart()
    with _lock:
        if _thread is None:
            _thread = threading.Thread(target=_warm, name="msmix-umap-warmup", daemon=True)
            _thread.start()


def cached() -> bool:
    """Whether numba's cache holds UMAP's compiled code (``make setup`` put it there): loading it takes a second."""
    return any(Path(os.environ["NUMBA_CACHE_DIR"]).glob("umap_*/*.nbi"))


def ready() -> bool:
    """Whether UMAP is compiled (or the warm-up gave up)."""
    return _done.is_set()


def wait(timeout: float | None = None) -> bool:
    """Start the warm-up if needed and wait for it to end (at most ``timeout`` seconds); whether it has."""
    start()
    return _done.wait(timeout)
