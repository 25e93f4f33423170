"""The Pair selection page's δ slider and similarity map (``threshold_map.js``): a δ move redraws in the browser.

The browser counts the pairs that pass δ exactly as :func:`msmix_core.mixing.candidate_mask`
does; the pairs SASS draws, and everything below the map, follow from the server.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np

from msmix_core.figures.pairs import label_colours, similarity_levels, similarity_palette
from msmix_core.figures.palette import OKABE_ITO, VEIL_COLOR
from ui.live import SliderSpec, b64, mount

LABEL = "Similarity threshold δ"


def map_data(
    delta: float,
    kept: int,
    similarity: np.ndarray,
    averaged: np.ndarray | None,
    labels: np.ndarray,
    order: np.ndarray,
    rows: np.ndarray,
    pairs: np.ndarray,
    *,
    view: str,
    order_name: str,
    label_range: tuple[float, float],
    help_text: str,
    opened: tuple[int, int] | None = None,
) -> dict:
    """What the browser draws, in display order (``order``: batch positions, e.g. sorted by label).

    ``similarity`` is the shown view's ``[B, B]``; ``averaged`` SASS's own, which the counts use
    (None when the view is the averaged one). ``pairs`` (batch positions) are those drawn at
    ``delta``; ``kept`` is the library's count of pairs passing ``delta``
    (:func:`msmix_core.analysis.kept_share`), which the browser test checks the browser's count against.
    ``opened``: the batch positions (a, b) of the pair the page shows, outlined on the map.
    """
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    shown = np.asarray(similarity, dtype=np.float32)[order][:, order]
    arrays = {
        "similarity": b64(shown),
        "averaged": None if averaged is None else b64(np.asarray(averaged, dtype=np.float32)[order][:, order]),
        "levels": b64(similarity_levels(shown)),
        "palette": b64(similarity_palette()),
        "strip": b64(label_colours(np.asarray(labels)[order], label_range)),
    }
    labels_shown = np.asarray(labels, dtype=np.float64)[order].tolist()
    digest = hashlib.sha1(repr((arrays, labels_shown)).encode()).hexdigest()  # the browser decodes once per digest
    return {
        **arrays,
        "digest": digest,
        "size": len(order),
        "labels": labels_shown,
        "rows": np.asarray(rows)[order].tolist(),
        "pairs": np.stack([rank[pairs[:, 0]], rank[pairs[:, 1]]], axis=1).tolist() if len(pairs) else [],
        "server_kept": int(kept),
        "opened": None if opened is None else [int(rank[opened[0]]), int(rank[opened[1]])],
        "view": view,
        "order_name": order_name,
        "colours": {"veil": VEIL_COLOR, "pairs": OKABE_ITO[3]},
        "slider": SliderSpec(LABEL, 0.0, 1.0, 0.01, float(delta), 2, help_text).to_data(),
    }


def threshold_map(key: str, data: dict, on_cell: Callable[[object], None] | None = None) -> None:
    """Mount the map; a δ the user sets in it lands in ``st.session_state[key]`` before the next run.

    ``on_cell`` gets a clicked cell as ``[a, b]`` in display order (rows and columns of the map).
    """
    mount("threshold_map", key, data, None if on_cell is None else {"cell": on_cell})
