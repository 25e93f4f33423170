"""Embeddings: where the mixed samples of MS-Mix and of vanilla Mixup land among the real ones."""

import numpy as np
import pandas as pd
import streamlit as st
import torch

from msmix_core.analysis import (
    STRATEGIES,
    VIEWS,
    LatentBatch,
    Projector,
    find_samples,
    nearest_neighbours,
    off_map,
    pair_table,
    sample_captions,
    view_features,
)
from msmix_core.data import MSADataset
from msmix_core.figures import embedding_scatter
from ui import data, latents, page_state, sidebar, warmup

#: Method shown in the legend -> pairing strategy that makes its mixed latents, and its URL key.
MIXERS = {"MS-Mix": ("sass", "emb_show_msmix"), "vanilla Mixup": ("random", "emb_show_mixup")}
BATCH_SIZES = [64, 128, 256]
PROJECTIONS = ["PCA", "UMAP"]
NEIGHBOURS = 8

settings = sidebar.render()
st.title("Embeddings")
st.markdown(
    "A 2-D map of the real samples' latent features, coloured by label. The mixed samples of MS-Mix and of vanilla "
    "Mixup (random pairs, one ratio) are placed **into the same map** (`transform`) and coloured by their mixed "
    "label on the same scale, so you can see whether they land among real samples of a matching sentiment or in "
    "between clusters. Hover a point for its sentence (a mixed point for its two sources); click a real point "
    "(or find one) to see its nearest neighbours."
)

with data.user_errors():
    ds = data.dataset(settings)
    c1, c2, c3, c4 = st.columns(4)
    batch_size = c1.select_slider(
        "Real samples", BATCH_SIZES, key=page_state.bind("emb_batch", 256, page_state.choice(BATCH_SIZES))
    )
    projection = c2.radio(
        "Map",
        PROJECTIONS,
        horizontal=True,
        key=page_state.bind("emb_projection", "PCA", page_state.choice(PROJECTIONS)),
        help="PCA is instant; UMAP compiles once per server (PCA is shown meanwhile), then takes a few seconds",
    )
    view = c3.radio(
        "Latents", VIEWS, horizontal=True, key=page_state.bind("emb_view", "fused", page_state.choice(VIEWS))
    )
    with c4:
        epochs = latents.source_picker("emb_source")
    batch = latents.batch(settings, ds, batch_size, epochs)


@st.cache_data(max_entries=16, show_spinner=False)
def project(key: str, batch_size: int, epochs: int, projection: str, view: str, seed: int, _batch: LatentBatch, _train):
    """Real coordinates and, per method, mixed coordinates with their pair table (cached per data and settings)."""
    projector = Projector(projection.lower(), random_state=seed)
    real_xy = projector.fit_transform(view_features(_batch.latents, view))
    mixed = {}
    for name, (strategy, _) in MIXERS.items():
        result = STRATEGIES[strategy](_batch, torch.Generator().manual_seed(seed))
        xy = projector.transform(view_features({m: v.numpy() for m, v in result.mixed.items()}, view))
        table = pair_table(_batch, result)
        for side in "ab":
            table[f"source_{side}"] = sample_captions(_train, table[f"row_{side}"].to_numpy(), width=60)
        mixed[name] = (xy, table)
    return real_xy, mixed


def mixed_hover(name: str, rows: pd.DataFrame) -> list[str]:
    """One hover text per mixed point: its two sources with their labels, the ratios and the mixed label."""
    return [
        f"{name}: rows {r.row_a} ({r.label_a:+.2f}) × {r.row_b} ({r.label_b:+.2f})<br>"
        + "".join(f"{side}: {text}<br>" for side, text in (("a", r.source_a), ("b", r.source_b)) if text)
        + f"λ text/audio/vision {r.lam_text:.2f}/{r.lam_audio:.2f}/{r.lam_vision:.2f} → label {r.mixed_label:+.2f}"
        for r in rows.itertuples()
    ]


def column(values: np.ndarray | None, rows: np.ndarray) -> np.ndarray | None:
    return None if values is None else np.asarray(values)[rows]


@st.fragment(run_every=2)
def umap_notice() -> None:
    """While UMAP compiles, say so; once it is ready, redraw the page with the UMAP map."""
    if warmup.ready():
        st.rerun()
    st.info(
        "UMAP is compiling (first use after the server starts, in the background); showing PCA until it is "
        "ready. The map switches to UMAP by itself."
    )


drawn_projection = projection
if projection == "UMAP" and not warmup.ready():
    warmup.start()
    drawn_projection = "PCA"
    umap_notice()
with st.spinner(f"Computing the {drawn_projection} map…"), data.user_errors():
    real_xy, mixed = project(
        latents.data_key(settings), batch_size, epochs, drawn_projection, view, settings.seed, batch, ds.train
    )


@st.fragment
def explore(ds: MSADataset, batch: LatentBatch, real_xy: np.ndarray, mixed: dict) -> None:
    """What to show on the map and which sample to look at: redrawn without recomputing the map."""
    ids, texts = column(ds.train.ids, batch.index), column(ds.train.raw_text, batch.index)
    most = max(len(table) for _, table in mixed.values())
    controls = st.columns([1, 1, 2, 2])
    shown = {
        name: controls[k].toggle(f"{name} points", key=page_state.bind(url_key, True, page_state.flag))
        for k, (name, (_, url_key)) in enumerate(MIXERS.items())
    }
    count = controls[2].slider(
        "Mixed points shown per method",
        0,
        most,
        key=page_state.bind("emb_mixed", min(64, most), page_state.number(0, most, int)),
        help="The first pairs each method drew; all of them can swamp the real samples",
    )
    query = controls[3].text_input(
        "Find samples (id or words of the transcript)", key=page_state.bind("emb_find", "", str)
    )

    drawn, flagged = {}, []
    for name, (xy, table) in mixed.items():
        if shown[name] and count:
            rows = table.iloc[:count]
            drawn[name] = (xy[:count], rows["mixed_label"].to_numpy(), mixed_hover(name, rows))
            flagged.append(xy[:count][off_map(real_xy, xy[:count])])
    found = find_samples(query, ids, texts)
    captions = [
        f"row {row}{'' if ids is None else f' · {ids[i]}'}<br>{caption}"
        for i, (row, caption) in enumerate(zip(batch.index, sample_captions(ds.train, batch.index), strict=True))
    ]
    off = np.concatenate(flagged) if flagged else np.zeros((0, 2))
    fig = embedding_scatter(
        real_xy,
        batch.labels,
        ds.label_range,
        drawn,
        axis_name=drawn_projection,
        captions=captions,
        highlight=found,
        flagged=off,
    )
    event = st.plotly_chart(fig, key="embedding", on_select="rerun", selection_mode="points")

    cols = st.columns(2 + len(mixed))
    cols[0].metric("Real points", len(real_xy))
    for col, name in zip(cols[1:], mixed, strict=False):
        col.metric(f"Mixed points: {name}", len(drawn[name][0]) if name in drawn else 0, help="shown on the map")
    cols[-1].metric(
        "Placed off the map",
        len(off),
        help="Mixed points outside the real samples' area, or farther from every real sample than any real sample "
        "is from its nearest neighbour: `transform` piles up samples unlike any real one on the border.",
    )
    if query.strip():
        st.caption(f"{len(found)} sample(s) match “{query.strip()}” (ringed on the map).")

    neighbours(ds, batch, picked_sample(event, found, batch), ids, texts)
    points = np.concatenate([real_xy, *[xy for xy, _, _ in drawn.values()]])
    kinds = ["real"] * len(real_xy) + [f"mixed: {name}" for name, (xy, _, _) in drawn.items() for _ in range(len(xy))]
    coords = pd.DataFrame({"kind": kinds, "x": points[:, 0], "y": points[:, 1]})
    st.download_button("Download map coordinates (CSV)", data.csv(coords), "embedding.csv", "text/csv")


def picked_sample(event, found: np.ndarray, batch: LatentBatch) -> int:
    """The real sample to look at: the one clicked on the map, else a pick among the search hits (or all)."""
    clicked = [p["point_index"] for p in (event.selection.points if event else []) if p.get("curve_number") == 0]
    if clicked:
        return int(clicked[0])
    options = list(found) if len(found) else list(range(len(batch.labels)))
    return st.selectbox(
        "Look at a real sample (or click one on the map)",
        options,
        format_func=lambda i: f"row {batch.index[i]} · label {batch.labels[i]:+.2f}",
        key=f"emb_pick_{len(options)}_{options[0]}",
    )


def neighbours(ds: MSADataset, batch: LatentBatch, picked: int, ids, texts) -> None:
    """The picked sample's nearest real samples in latent space (cosine, as SASS), with their labels."""
    features = view_features(batch.latents, view)
    near, cosine = nearest_neighbours(features, features[picked], NEIGHBOURS, exclude=picked)
    st.markdown(
        f"**Row {batch.index[picked]}** (label {batch.labels[picked]:+.2f})"
        + ("" if texts is None else f": “{texts[picked]}”")
        + f": its {len(near)} nearest real samples in the {view} latents"
    )
    table = pd.DataFrame({"row": batch.index[near], "label": batch.labels[near], "cosine": cosine})
    if ids is not None:
        table.insert(1, "id", ids[near])
    if texts is not None:
        table["transcript"] = texts[near]
    st.dataframe(table, hide_index=True)


explore(ds, batch, real_xy, mixed)
