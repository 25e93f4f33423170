"""The pair explorer of the Pair selection page: filter the drawn pairs, pick one, see it as a card.

The filter lives in the URL under ``pair_filter`` (:class:`~msmix_core.analysis.explorer.PairFilter`'s
text, e.g. ``?pair_filter=conflict,gap1.5``), so a link (the guided tour's) opens a filtered view.
A cell clicked on the δ map opens the pair of that cell (:data:`OPENED`), drawn or not.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import streamlit as st

from msmix_core import MODALITIES
from msmix_core.analysis import LatentBatch, speakers
from msmix_core.analysis.explorer import (
    MAX_GAP,
    PAIR_KINDS,
    PairFilter,
    available_kinds,
    pair_labels,
    readable_id,
    signed,
)
from msmix_core.data import MSADataset
from msmix_core.errors import MsmixError
from ui import page_state

URL_KEY = "pair_filter"
KINDS_KEY, GAP_KEY = "pair_filter_kinds", "pair_filter_gap"
#: Session key of the cell clicked on the δ map: (settings digest, position a, position b) in the batch.
OPENED = "pairs_opened_cell"
KIND_NAMES = {"contradictory": "opposite signs", "conflict": "modality conflict", "same_speaker": "same speaker"}
#: Table columns shown (in this order, when present); the rest stay in the CSV. Sentences and labels are pinned.
SHOWN = [
    "label_a", "text_a", "label_b", "text_b", "similarity", "lam_text", "lam_audio", "lam_vision", "lam_label",
    "mixed_label", "contradictory", "conflict", "same_speaker", "speaker_a", "speaker_b", "row_a", "row_b",
]  # fmt: skip


def _parse(text: str) -> dict | None:
    try:
        parsed = PairFilter.parse(text)
    except MsmixError:
        return None
    return {KINDS_KEY: list(parsed.kinds), GAP_KEY: parsed.min_gap}


def _join(**values) -> str:
    return PairFilter(tuple(values[KINDS_KEY]), float(values[GAP_KEY])).text()


def column_config(table: pd.DataFrame) -> dict:
    """Labels, ratios and intensities to two decimals, sentences pinned and wide (they wrap in the taller rows)."""
    config: dict = {}
    for name in table.columns:
        if name.startswith("text_"):
            config[name] = st.column_config.TextColumn(f"sentence {name[-1]}", width="large", pinned=True)
        elif name.startswith("label_") and name != "label_gap":
            config[name] = st.column_config.NumberColumn(f"label {name[-1]}", format="%+.2f", pinned=True)
        elif name == "mixed_label":
            config[name] = st.column_config.NumberColumn("mixed label", format="%+.2f")
        elif name.startswith("lam_"):
            config[name] = st.column_config.NumberColumn(f"λ {name[4:]}", format="%.2f")
        elif name == "similarity":
            config[name] = st.column_config.NumberColumn("similarity", format="%.2f")
        elif name.startswith("intensity_"):
            config[name] = st.column_config.NumberColumn(name.replace("_", " "), format="%+.2f")
    return config


def pair_dataframe(table: pd.DataFrame, key: str | None = None) -> None:
    """A table of pairs showing the columns that carry the story first, sentences wrapped, no sideways scroll."""
    sentences = "text_a" in table
    st.dataframe(
        table,
        hide_index=False,
        height=300 if sentences else 240,
        row_height=56 if sentences else None,
        column_order=[c for c in SHOWN if c in table],
        column_config=column_config(table),
        key=key,
    )


def filter_controls(table: pd.DataFrame) -> PairFilter:
    """The filter's widgets (kinds this data has, and the label gap), kept in the URL; returns the filter."""
    page_state.bind_group(URL_KEY, {KINDS_KEY: [], GAP_KEY: 0.0}, _parse, _join)
    kinds = available_kinds(table)
    st.session_state[KINDS_KEY] = [k for k in st.session_state[KINDS_KEY] if k in kinds]  # e.g. conflict on real data
    chosen = st.pills(
        "Show only pairs with",
        kinds,
        selection_mode="multi",
        format_func=KIND_NAMES.get,
        key=KINDS_KEY,
        help="; ".join(f"{KIND_NAMES[k]}: {PAIR_KINDS[k]}" for k in kinds),
        width="stretch",
    )
    gap = st.slider("Label gap above", 0.0, MAX_GAP, step=0.1, format="%.1f", key=GAP_KEY)
    return PairFilter(tuple(chosen), float(gap))


def cell_positions(order: np.ndarray, cell: object) -> tuple[int, int] | None:
    """A clicked cell (display ranks ``[a, b]``, from the browser) as batch positions; None for anything else."""
    try:
        a, b = (int(x) for x in cell)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return None
    return (int(order[a]), int(order[b])) if 0 <= a < len(order) and 0 <= b < len(order) and a != b else None


def open_cell(state: str, order: np.ndarray, cell: object) -> None:
    """Open the δ map's clicked ``cell`` (see :func:`cell_positions`) under the settings ``state``."""
    positions = cell_positions(order, cell)
    if positions is not None:
        st.session_state[OPENED] = (state, *positions)


def opened_cell(state: str) -> tuple[int, int] | None:
    """The cell clicked on the map under the current settings ``state``, as batch positions, or None."""
    opened = st.session_state.get(OPENED)
    return None if opened is None or opened[0] != state else (opened[1], opened[2])


def explorer(
    ds: MSADataset, batch: LatentBatch, table: pd.DataFrame, similarity: np.ndarray, state: str
) -> tuple[int, int] | None:
    """Filter, picker and the card of one pair: a clicked map cell, else the picked drawn pair.

    Returns the shown pair's batch positions (None when none is shown), for the map to outline.
    """
    st.subheader("Look at one pair")
    if not len(table):
        st.info("No pairs at this setting: lower δ or use a larger batch.")
        return None
    shown = filter_controls(table).apply(table)
    digest = hashlib.sha1(state.encode()).hexdigest()[:10]
    cell = opened_cell(state)
    if not len(shown):
        st.warning(f"None of the {len(table)} drawn pairs passes this filter: loosen it.")
    else:
        st.caption(f"{len(shown)} of the {len(table)} drawn pairs pass the filter.")
        entries = dict(zip(pair_labels(shown, ds.train, words=3, chars=13), shown.index, strict=True))
        entry = st.selectbox(
            "Pair",
            list(entries),
            key=f"pairs_pick_{digest}",
            on_change=lambda: st.session_state.pop(OPENED, None),  # the picker takes over from a clicked cell
        )
        picked = entries[entry]
        if cell is None:
            cell = int(shown.pos_a[picked]), int(shown.pos_b[picked])
    if cell is not None:
        drawn = table[(table.pos_a == cell[0]) & (table.pos_b == cell[1])]
        pair_card(ds, batch, cell, None if drawn.empty else drawn.iloc[0], float(similarity[cell]))
        if opened_cell(state) is not None:
            st.caption("Opened from the map; pick a pair above to go back to the list.")
    return cell


def pair_card(ds: MSADataset, batch: LatentBatch, cell: tuple[int, int], drawn: pd.Series | None, sim: float) -> None:
    """Both sentences side by side, then each modality's λ and the mixed label (when SASS drew this pair)."""
    split, who = ds.train, speakers(ds.train)
    for col, side, pos in zip(st.columns(2), ("a", "b"), cell, strict=True):
        row = int(batch.index[pos])
        with col.container(border=True):
            st.markdown(f"**Sample {side}** · label **{signed(split.labels[row])}**")
            if split.raw_text is not None:
                st.markdown(f"> {split.raw_text[row]}")
            facts = [readable_id(split.ids[row]), f"train row {row}"] + (
                [f"speaker {who[row]}"] if who is not None else []
            )
            if "conflict" in split.extras and split.extras["conflict"][row]:
                facts.append(f"conflict: **{MODALITIES[int(split.extras['conflict_modality'][row])]}**")
            intensity = " · ".join(f"{m} {signed(batch.intensities[m][pos])}" for m in MODALITIES)
            st.caption(f"{' · '.join(facts)}  \nPredicted intensity (−3…3): {intensity}")
    if drawn is None:
        st.info(f"SASS did not draw this pair at this δ (similarity {sim:.2f}): it has no mixing ratios.")
        return
    ratios = st.columns(len(MODALITIES))  # two rows: a projector's digits need the width
    for col, m in zip(ratios, MODALITIES, strict=True):
        col.metric(f"λ {m}", f"{drawn[f'lam_{m}']:.2f}", help=f"share of sample a in the mixed {m} features")
    label, mixed, _ = st.columns(3)
    label.metric("λ label", f"{drawn['lam_label']:.2f}", help="the mean of the three: share of a in the label")
    mixed.metric("Mixed label", signed(drawn["mixed_label"]), help="λ_label · label a + (1 − λ_label) · label b")
    st.caption(f"Similarity {sim:.2f}; {'opposite' if drawn['contradictory'] else 'same-sign (or zero)'} labels.")
