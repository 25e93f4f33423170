"""Pair selection (SASS): which pairs MS-Mix mixes, and how often pairs contradict each other."""

import numpy as np
import pandas as pd
import streamlit as st
import torch

from msmix_core import MODALITIES
from msmix_core.analysis import (
    ORDERS,
    STRATEGIES,
    LatentBatch,
    display_order,
    kept_share,
    modality_similarity,
    pair_statistics,
    pair_table,
    read_selection,
    speakers,
    with_sources,
)
from msmix_core.analysis.explorer import with_conflicts
from msmix_core.analysis.replay import MAX_REPLAY_EPOCHS, replay_frames
from msmix_core.data import MSADataset
from msmix_core.figures import embedding_scatter, similarity_heatmap, strategy_bars
from msmix_core.mixing.knobs import THRESHOLD
from ui import data, latents, page_state, sidebar
from ui.live.threshold_map import map_data, threshold_map
from ui.pair_explorer import explorer, open_cell, pair_dataframe

BATCH_SIZES = [16, 32, 64, 128, 256]
ORDER_NAMES = {"label": "by label", "speaker": "by speaker, then label", "batch": "batch order"}
VIEWS = ["averaged", *MODALITIES]
THRESHOLD_AWARE = [sid for sid, strategy in STRATEGIES.items() if strategy.uses_threshold]
THRESHOLD_FREE = [sid for sid in STRATEGIES if sid not in THRESHOLD_AWARE]

settings = sidebar.render()
st.title("Pair selection (SASS)")
st.markdown(
    "MS-Mix only mixes pairs whose latent features are similar: the cosine similarity per modality, averaged and "
    "min-max scaled to 0–1, must exceed the threshold **δ**. Move δ and watch the veiled cells (pairs that fail δ) "
    "spread; the orange crosses are the pairs SASS draws from the candidates. Press play to sweep δ from where it is "
    "to 1; click a cell to open that pair."
)

with data.user_errors():
    ds = data.dataset(settings)
    left, right = st.columns(2)
    batch_key = page_state.bind("pairs_batch", 64, page_state.choice(BATCH_SIZES))
    batch_size = left.select_slider("Batch size", BATCH_SIZES, key=batch_key)
    with right:
        epochs = latents.source_picker("pairs_source")
    batch = latents.batch(settings, ds, batch_size, epochs)
key = latents.data_key(settings)


@st.cache_resource(max_entries=16, show_spinner=False)
def similarities(key: str, batch_size: int, epochs: int, _batch: LatentBatch) -> dict[str, np.ndarray]:
    """The averaged and per-modality similarity of one batch (read-only arrays, shared by the reruns)."""
    return modality_similarity(_batch)


@st.cache_data(max_entries=16, show_spinner=False)
def fixed_strategies(key: str, batch_size: int, epochs: int, seed: int, _batch: LatentBatch) -> pd.DataFrame:
    """The statistics of the strategies δ does not change (random, C-Mixup): once per (data, batch, encoder, seed)."""
    return pair_statistics(_batch, seed=seed, strategies=THRESHOLD_FREE)


@st.cache_data(max_entries=64, show_spinner=False)
def strategy_comparison(
    key: str, batch_size: int, epochs: int, delta: float, seed: int, _batch: LatentBatch
) -> pd.DataFrame:
    """Every strategy's pair statistics, in the library's order; only the δ-dependent ones are drawn per δ."""
    by_delta = pair_statistics(_batch, threshold=delta, seed=seed, strategies=THRESHOLD_AWARE)
    rows = pd.concat([fixed_strategies(key, batch_size, epochs, seed, _batch), by_delta]).set_index("id")
    return rows.loc[list(STRATEGIES)].reset_index()


sims = similarities(key, batch_size, epochs, batch)


@st.fragment
def selection(ds: MSADataset, batch: LatentBatch, sims: dict[str, np.ndarray], epochs: int) -> None:
    """Everything δ and the drawing options change; a δ move reruns only this part of the page."""
    c1, c2 = st.columns(2)
    delta_key = page_state.bind("pairs_delta", THRESHOLD.default, page_state.number(0.0, 1.0))
    delta = st.session_state[delta_key]  # set by the map's own slider (ui.live.threshold_map), or the URL
    speaker = speakers(ds.train)
    orders = [o for o in ORDERS if o != "speaker" or speaker is not None]
    order_key = page_state.bind("pairs_order", "label", page_state.choice(orders))
    order_by = c1.radio("Order rows and columns", orders, format_func=ORDER_NAMES.get, key=order_key, horizontal=True)
    view_key = page_state.bind("pairs_view", "averaged", page_state.choice(VIEWS))
    view = c2.radio("Similarity of", VIEWS, key=view_key, horizontal=True)

    size = len(batch.labels)
    kept, share = kept_share(sims["averaged"], delta)
    result = STRATEGIES["sass"](batch, torch.Generator().manual_seed(settings.seed), threshold=delta)
    pairs = result.pairs.numpy()
    stats = strategy_comparison(key, size, epochs, delta, settings.seed, batch)

    speaker_in_batch = None if speaker is None else speaker[batch.index]
    order = display_order(batch.labels, order_by, speaker_in_batch)
    state = f"{key}|{size}|{epochs}|{delta}|{order_by}"
    table = with_conflicts(with_sources(pair_table(batch, result, sims["averaged"]), ds.train), ds.train)
    map_column, card_column = st.columns(2, gap="large")
    with card_column:  # first: the map outlines the pair the card shows
        shown = explorer(ds, batch, table, sims["averaged"], state)
    with map_column:
        threshold_map(
            delta_key,
            map_data(
                delta,
                kept,
                sims[view],
                None if view == "averaged" else sims["averaged"],
                batch.labels,
                order,
                batch.index,
                pairs,
                view=view,
                order_name=ORDER_NAMES[order_by],
                label_range=ds.label_range,
                help_text=f"{THRESHOLD.default:g} in the released code",
                opened=shown,
            ),
            on_cell=lambda cell: open_cell(state, order, cell),
        )
        st.caption(
            "The strip on top shows each sample's label (red negative, blue positive) in the order of the rows and "
            "columns; veiled cells fail δ and can never be mixed; the outlined cell is the pair on the right. The map "
            "and its counts follow the slider (and play) in your browser; the pairs and everything below follow when "
            "you let go or pause."
        )
    cols = st.columns(3)
    cols[0].metric("Batch size", size)
    cols[1].metric("Pairs mixed", len(pairs), help=f"drawn at δ = {delta:.2f}")
    cols[2].metric(
        "Fallback used", "yes" if result.fallback else "no", help="Too few candidates: the most similar pairs"
    )
    st.info(read_selection(delta, share, stats))

    st.subheader("How often does each strategy mix opposite sentiments?")
    st.caption(
        "Same batch, same δ, α = 2, C-Mixup σ = 1; each value is the share of a strategy's drawn pairs whose labels "
        "have opposite signs, the mean over 5 seeded draws (the map's readout counts the candidates that pass δ, "
        "before any draw). The label-aware guard is MS-Mix that never pairs opposite signs: the floor SASS could reach."
    )
    st.plotly_chart(strategy_bars(stats), key="strategy_bars")
    st.dataframe(stats, hide_index=True)
    st.download_button("Download strategy comparison (CSV)", data.csv(stats), "strategies.csv", "text/csv")

    st.subheader("Chosen pairs")
    if "text_a" in table:
        st.caption(
            "Each row: the two training sentences SASS blends, their scores and speakers, and the mixing ratios. "
            "Compare them with Manifold Mixup's random pairs further down."
        )
    pair_dataframe(table)
    st.download_button("Download pairs (CSV)", data.csv(table), "sass_pairs.csv", "text/csv", key="dl_sass")
    replay(ds, size, delta)


def replay(ds: MSADataset, size: int, delta: float) -> None:
    """The encoder-training replay: this batch after 0, 1, 2, ... epochs of MS-Mix, one frame at a time."""
    st.subheader("Encoder-training replay")
    st.caption(
        f"How training changes what SASS sees: the same batch after 0 to {latents.REPLAY_EPOCHS} epochs of MS-Mix "
        "training, at this δ. Step through the epochs and watch the similarity map, the pairs kept and the map of "
        "the latents (PCA of the three modalities' normalised latents). Training runs once for these settings."
    )
    on = st.toggle("Replay the training", key=page_state.bind("pairs_replay", False, page_state.flag))
    if not on:
        return
    frames = replay_frames(latents.replay(settings, ds, size), delta, settings.seed)
    epoch_key = page_state.bind("pairs_replay_epoch", 0, page_state.number(0, MAX_REPLAY_EPOCHS, int))
    st.session_state[epoch_key] = min(st.session_state[epoch_key], len(frames) - 1)  # training may stop early
    epoch = st.select_slider("Epoch", list(range(len(frames))), key=epoch_key)
    frame, first = frames[epoch], frames[0]
    cols = st.columns(3)
    cols[0].metric("Pairs kept", f"{100 * frame.share:.0f} %", f"{100 * (frame.share - first.share):+.0f} pts")
    cols[1].metric(
        "Drawn pairs with opposite signs",
        f"{100 * frame.opposite:.0f} %",
        f"{100 * (frame.opposite - first.opposite):+.0f} pts",
        delta_color="inverse",
    )
    cols[2].metric("Epochs of training", epoch)
    heatmap, scatter = st.columns(2)
    heatmap.plotly_chart(
        similarity_heatmap(
            frame.similarity,
            frame.mask,
            frame.pairs,
            f"Epoch {epoch}: similarity, δ = {delta:.2f}",
            order=frame.order,
            labels=frame.labels,
            label_range=ds.label_range,
            order_name="by label",
        ),
        key="replay_similarity",
    )
    every = np.concatenate([f.xy for f in frames])
    low, high = every.min(axis=0), every.max(axis=0)
    pad = 0.05 * (high - low)
    figure = embedding_scatter(frame.xy, frame.labels, ds.label_range, axis_name="PCA")
    figure.update_layout(  # the same axes in every frame: stepping moves the points, not the frame
        title={"text": f"Epoch {epoch}: the batch's latents"},
        xaxis_range=[low[0] - pad[0], high[0] + pad[0]],
        yaxis_range=[low[1] - pad[1], high[1] + pad[1]],
    )
    scatter.plotly_chart(figure, key="replay_map")


def random_pairs(ds: MSADataset, batch: LatentBatch, sims: dict[str, np.ndarray]) -> None:
    """Manifold Mixup's random pairs of the same batch: δ does not change them, so they sit outside the fragment."""
    st.subheader("For comparison: Manifold Mixup's random pairs")
    st.caption(
        "Manifold Mixup (the library's `manifold`) pairs at random and mixes the latents with one ratio, as MS-Mix "
        "mixes them; it ignores δ: the same batch and seed always give these pairs."
    )
    randomly = STRATEGIES["random"](batch, torch.Generator().manual_seed(settings.seed))
    shown = with_conflicts(with_sources(pair_table(batch, randomly, sims["averaged"]), ds.train), ds.train)
    pair_dataframe(shown)
    st.download_button("Download pairs (CSV)", data.csv(shown), "random_pairs.csv", "text/csv", key="dl_random")


selection(ds, batch, sims, epochs)
random_pairs(ds, batch, sims)
