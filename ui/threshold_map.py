"""The Pair selection page's δ slider and similarity map, drawn in the browser so a δ move answers at once.

A δ move through a Streamlit slider waits for a server round trip and a Plotly redraw. Here the
browser holds the batch's similarities and redraws the veil and the counts itself
(``threshold_map.js``, which counts exactly as :func:`msmix_core.mixing.candidate_mask` does);
the server hears the new δ when the slider is released or a key pressed, and answers with what
needs the mixing code (the pairs SASS draws, the strategy statistics). The δ itself lives in
``st.session_state[key]`` like a widget's value, so :mod:`ui.page_state` keeps it in the URL.
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache
from pathlib import Path

import numpy as np
import streamlit as st

from msmix_core.figures.pairs import label_colours, similarity_levels, similarity_palette
from msmix_core.figures.palette import OKABE_ITO, VEIL_COLOR

HERE = Path(__file__).parent
NAME = "msmix.threshold_map"
LABEL = "Similarity threshold δ"


@cache
def _assets() -> tuple[str, str]:
    return (HERE / "threshold_map.js").read_text(), (HERE / "threshold_map.css").read_text()


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


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
) -> dict:
    """What the browser draws, in display order (``order``: batch positions, e.g. sorted by label).

    ``similarity`` is the shown view's ``[B, B]``; ``averaged`` SASS's own, which the counts use
    (None when the view is the averaged one). ``pairs`` (batch positions) are those drawn at
    ``delta``; ``kept`` is the library's count of pairs passing ``delta``
    (:func:`msmix_core.analysis.kept_share`), which the browser test checks the browser's count against.
    """
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    shown = np.asarray(similarity, dtype=np.float32)[order][:, order]
    arrays = {
        "similarity": _b64(shown),
        "averaged": None if averaged is None else _b64(np.asarray(averaged, dtype=np.float32)[order][:, order]),
        "levels": _b64(similarity_levels(shown)),
        "palette": _b64(similarity_palette()),
        "strip": _b64(label_colours(np.asarray(labels)[order], label_range)),
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
        "delta": float(delta),
        "server_kept": int(kept),
        "view": view,
        "order_name": order_name,
        "colours": {"veil": VEIL_COLOR, "pairs": OKABE_ITO[3]},
        "label": LABEL,
        "help": help_text,
        "min": 0.0,
        "max": 1.0,
        "step": 0.01,
    }


def threshold_map(key: str, data: dict) -> None:
    """Mount the map; a δ the user sets in it lands in ``st.session_state[key]`` before the next run."""
    js, css = _assets()
    mount = st.components.v2.component(NAME, js=js, css=css)  # same definition every run: no re-register warning
    component_key = f"{key}_map"

    def follow() -> None:
        st.session_state[key] = float(st.session_state[component_key]["delta"])

    mount(key=component_key, data=data, default={"delta": data["delta"]}, on_delta_change=follow)
