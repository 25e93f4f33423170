"""Embeddings: where the mixed samples of MS-Mix and of Manifold Mixup land among the real ones."""

import json

import numpy as np
import pandas as pd
import streamlit as st

from msmix_core.analysis import (
    VIEWS,
    LatentBatch,
    find_samples,
    nearest_neighbours,
    off_map,
    pair_table,
    sample_captions,
    view_features,
)
from msmix_core.analysis.explorer import readable_id
from msmix_core.data import MSADataset
from msmix_core.figures import embedding_scatter
from msmix_core.figures.embedding import OUTSIDE
from ui import data, latents, maps, page_state, sidebar, warmup

BATCH_SIZES = [64, 128, 256]
DELTAS = [0.2, 0.4, 0.6, 0.8]
NEIGHBOURS = 8
settings = sidebar.render()
for url_key, text in maps.upgrade_link(st.query_params.to_dict()).items():  # links from before a rename still open
    if text is None:
        del st.query_params[url_key]
    else:
        st.query_params[url_key] = text
st.title("Embeddings")
st.markdown(
    "A map of the real samples' latent features, coloured by label. The mixed samples of MS-Mix and of Manifold Mixup "
    "(random pairs, one ratio, mixed at the latents) are placed **into the same map** and coloured by their mixed "
    "label on the same scale, so you can see whether they land among real samples of a matching sentiment or in "
    "between. Hover a point for its sentence (a mixed point for its two sources); click a real point to ring its "
    "nearest neighbours, a mixed point to draw lines to its two sources."
)
st.caption(
    "The map opens on the **trained** encoder: with the untrained (random) one a sample's nearest neighbours agree "
    "in sign with it no more often than chance, so its map is one shapeless blob. Switch to *untrained* to see that."
)


def apply_preset(values: dict) -> None:
    """Set the page's controls (a button callback: it runs before the widgets are drawn)."""
    st.session_state.update(values)


with st.expander("Presets"):
    for k, (name, (what, values)) in enumerate(maps.PRESETS.items()):
        st.button(name, on_click=apply_preset, args=(values,), key=f"emb_preset_{k}")
        st.caption(what)

with data.user_errors():
    ds = data.dataset(settings)
    c1, c2, c3, c4, c5 = st.columns([2, 3, 4, 3, 2])
    batch_size = c1.select_slider(
        "Real samples",
        BATCH_SIZES,
        key=page_state.bind("emb_batch", maps.OPENING["batch"], page_state.choice(BATCH_SIZES)),
    )
    projection = c2.radio(
        "Map",
        list(maps.PROJECTIONS),
        horizontal=True,
        key=page_state.bind("emb_projection", maps.OPENING["projection"], page_state.choice(list(maps.PROJECTIONS))),
        help="PCA is instant and linear; UMAP compiles once per server (PCA is shown meanwhile) unless its map was "
        "computed before; t-SNE is fitted on the real and mixed points together (it cannot place new points).",
    )
    view = c3.radio(
        "Latents",
        VIEWS,
        horizontal=True,
        key=page_state.bind("emb_view", maps.OPENING["view"], page_state.choice(VIEWS)),
    )
    with c4:
        epochs = latents.source_picker("emb_source", maps.OPENING["source"])
    delta = c5.select_slider(
        "MS-Mix's δ",
        DELTAS,
        key=page_state.bind("emb_delta", maps.DELTA, page_state.choice(DELTAS)),
        help="SASS's similarity threshold for MS-Mix's pairs (0.4 in the released code, 0.2 in the paper)",
    )
    dims = 3 if c2.toggle("3-D", key=page_state.bind("emb_3d", False, page_state.flag)) else 2
    batch = latents.batch(settings, ds, batch_size, epochs)


@st.cache_data(max_entries=16, show_spinner=False)
def project(
    key: str,
    batch_size: int,
    epochs: int,
    projection: str,
    view: str,
    dims: int,
    delta: float,
    seed: int,
    _batch: LatentBatch,
    _train,
):
    """Real coordinates and, per method, mixed coordinates with their pair table (cached per data and settings)."""
    mixes = maps.draws(_batch, seed, delta)
    real_xy, mixed_xy = maps.coordinates(_batch, view, projection, dims, seed, mixes)
    mixed = {}
    for name, result in mixes.items():
        table = pair_table(_batch, result)
        for side in "ab":
            table[f"source_{side}"] = sample_captions(_train, table[f"row_{side}"].to_numpy(), width=60)
        mixed[name] = (mixed_xy[name], table)
    return real_xy, mixed


def mixed_hover(name: str, rows: pd.DataFrame) -> list[str]:
    """One hover text per mixed point: its two sources with their labels, the ratios and the mixed label."""
    return [
        f"{name} #{r.Index}: rows {r.row_a} ({r.label_a:+.2f}) × {r.row_b} ({r.label_b:+.2f})<br>"
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
if (
    projection == "UMAP"
    and not warmup.ready()
    and not maps.on_disk(batch, view, "UMAP", dims, settings.seed, maps.draws(batch, settings.seed, delta))
):
    warmup.start()
    drawn_projection = "PCA"
    umap_notice()
with st.spinner(f"Computing the {drawn_projection} map…"), data.user_errors():
    real_xy, mixed = project(
        latents.data_key(settings),
        batch_size,
        epochs,
        drawn_projection,
        view,
        dims,
        delta,
        settings.seed,
        batch,
        ds.train,
    )

#: The trace picker's "no mixed point".
NONE = "none"


def apply_click(batch: LatentBatch, mixed: dict) -> None:
    """A click on the map (the chart's selection, read before the controls are drawn) picks a sample.

    A real point becomes the picked sample, a mixed point the traced one; a selection is applied
    once, so choosing in the pickers afterwards is not undone by the old click.
    """
    selection = st.session_state.get("embedding")
    points = selection.get("selection", {}).get("points", []) if selection else []
    signature = json.dumps(points, sort_keys=True, default=str)
    if not points or signature == st.session_state.get("emb_clicked"):
        return
    st.session_state["emb_clicked"] = signature
    names = st.session_state.get("emb_trace_names", [])
    point = points[0]
    curve = point.get("curve_number", 0)
    name = names[curve] if curve < len(names) else ""
    index = point.get("customdata", point.get("point_index"))
    index = int(index[0] if isinstance(index, list) else index)
    if name in ("real samples", OUTSIDE) and 0 <= index < len(batch.index):
        st.session_state["emb_pick"] = int(batch.index[index])
    short = {f"mixed: {n}": s for n, (_, s) in maps.MIXERS.items()}
    if name in short and name.removeprefix("mixed: ") in mixed:
        st.session_state["emb_trace"] = f"{short[name]}:{index}"


@st.fragment
def explore(ds: MSADataset, batch: LatentBatch, real_xy: np.ndarray, mixed: dict) -> None:
    """What to show on the map and which sample to look at: redrawn without recomputing the map."""
    apply_click(batch, mixed)
    ids, texts = column(ds.train.ids, batch.index), column(ds.train.raw_text, batch.index)
    most = max(len(table) for _, table in mixed.values())
    low, high = (float(v) for v in ds.label_range)
    controls = st.columns([1, 1, 2, 2])
    shown = {
        name: controls[k].toggle(
            name, help=f"Show {name}'s mixed points", key=page_state.bind(f"emb_show_{short}", True, page_state.flag)
        )
        for k, (name, (_, short)) in enumerate(maps.MIXERS.items())
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
    filters = st.columns([3, 2, 2])
    label_low, label_high = filters[0].slider(
        "Label range shown",
        low,
        high,
        step=0.1,
        key=page_state.bind("emb_labels", (low, high), page_state.interval(low, high)),
        help="Real samples outside it are drawn small and grey; mixed points outside it are hidden",
    )
    opposite = filters[1].toggle(
        "Opposite sentiments only",
        key=page_state.bind("emb_opposite", False, page_state.flag),
        help="Only the mixed points whose two sources have labels of opposite sign: their mixed label lands near 0",
    )
    lines = filters[2].toggle(
        "Lines to sources",
        key=page_state.bind("emb_lines", False, page_state.flag),
        help="Join every mixed point shown to its two sources",
    )

    drawn, flagged, rows_shown = {}, [], {}
    for name, (xy, table) in mixed.items():
        keep = np.arange(len(table)) < count
        keep &= table["mixed_label"].between(label_low, label_high).to_numpy()
        if opposite:
            keep &= table["contradictory"].to_numpy()
        if shown[name] and keep.any():
            rows = table[keep]
            rows_shown[name] = rows
            drawn[name] = (xy[keep], rows["mixed_label"].to_numpy(), mixed_hover(name, rows))
            if drawn_projection != "t-SNE":  # t-SNE lays mixed points out with the real ones: none is "placed"
                flagged.append(xy[keep][off_map(real_xy, xy[keep])])
    map_slot = st.empty()  # the map above the pickers that set what it rings: on a projector it comes first
    found = find_samples(query, ids, texts)
    picked = pick(batch, found, query)
    traced = trace(mixed, rows_shown)
    features = view_features(batch.latents, view)
    near, cosine = nearest_neighbours(features, features[picked], NEIGHBOURS, exclude=picked)
    links = source_links(real_xy, mixed, rows_shown if lines else {}, traced)
    captions = [
        f"row {row}{'' if ids is None else f' · {readable_id(ids[i])}'}<br>{caption}"
        for i, (row, caption) in enumerate(zip(batch.index, sample_captions(ds.train, batch.index), strict=True))
    ]
    off = np.concatenate(flagged) if flagged else np.zeros((0, dims))
    fig = embedding_scatter(
        real_xy,
        batch.labels,
        ds.label_range,
        {name: (xy, labels, hover) for name, (xy, labels, hover) in drawn.items()},
        axis_name=drawn_projection,
        captions=captions,
        highlight=found,
        flagged=off,
        inside=(batch.labels >= label_low) & (batch.labels <= label_high),
        neighbours=(f"neighbours of row {batch.index[picked]}: {len(near)}", near),
        picked=(f"picked: row {batch.index[picked]}", picked),
        links=("lines to the sources", links),
    )
    st.session_state["emb_trace_names"] = [trace.name for trace in fig.data]
    map_slot.plotly_chart(fig, key="embedding", on_select="rerun", selection_mode="points")

    cols = st.columns(2 + 2 * len(mixed))
    cols[0].metric("Real points", len(real_xy))
    for k, name in enumerate(mixed):
        cols[1 + k].metric(
            f"Mixed points: {name}", len(drawn[name][0]) if name in drawn else 0, help="shown on the map"
        )
        first = mixed[name][1].iloc[:count]
        cols[1 + len(mixed) + k].metric(
            f"From opposite sentiments: {name}",
            f"{int(first['contradictory'].sum())} of {len(first)}",
            help="Of the first pairs the method drew (the slider's count): how many join a negative and a positive "
            "sample",
        )
    cols[-1].metric(
        "Placed off the map",
        len(off),
        help="Mixed points outside the real samples' area, or farther from every real sample than any real sample "
        "is from its nearest neighbour: `transform` piles up samples unlike any real one on the border. "
        "(t-SNE fits all points together and places none.)",
    )
    if query.strip():
        st.caption(f"{len(found)} sample(s) match “{query.strip()}” (ringed on the map).")

    neighbour_table(ds, batch, picked, near, cosine, ids, texts)
    points = np.concatenate([real_xy, *[xy for xy, _, _ in drawn.values()]])
    kinds = ["real"] * len(real_xy) + [f"mixed: {name}" for name, (xy, _, _) in drawn.items() for _ in range(len(xy))]
    coords = pd.DataFrame({"kind": kinds, **{axis: points[:, k] for k, axis in enumerate("xyz"[:dims])}})
    st.download_button("Download map coordinates (CSV)", data.csv(coords), "embedding.csv", "text/csv")


def pick(batch: LatentBatch, found: np.ndarray, query: str) -> int:
    """The real sample to look at (its train row in the URL): clicked, chosen, or the first search hit."""
    rows = [int(r) for r in batch.index]
    unset = "emb_pick" not in st.session_state and "emb_pick" not in st.query_params
    if query.strip() and len(found) and (unset or query != st.session_state.get("emb_last_query")):
        st.session_state["emb_pick"] = rows[found[0]]  # a new search looks at its first hit
    st.session_state["emb_last_query"] = query
    key = page_state.bind("emb_pick", rows[0], page_state.choice(rows))
    if st.session_state[key] not in rows:  # a row of another batch (the settings changed)
        st.session_state[key] = rows[0]
    position = {row: i for i, row in enumerate(rows)}
    row = st.selectbox(
        "Look at a real sample (or click one on the map)",
        rows,
        format_func=lambda r: f"row {r} · label {batch.labels[position[r]]:+.2f}",
        key=key,
    )
    return position[row]


def trace(mixed: dict, rows_shown: dict[str, pd.DataFrame]) -> tuple[str, int] | None:
    """The mixed point whose sources get lines (clicked or chosen; in the URL), as (method, row of its table)."""
    methods = {short: name for name, (_, short) in maps.MIXERS.items() if name in mixed}
    options = [NONE] + [
        f"{short}:{i}" for short, name in methods.items() for i in rows_shown.get(name, pd.DataFrame()).index
    ]
    valid = [NONE] + [f"{short}:{i}" for short, name in methods.items() for i in range(len(mixed[name][1]))]
    key = page_state.bind("emb_trace", NONE, page_state.choice(valid))
    if st.session_state[key] not in options:
        options.append(st.session_state[key])  # a traced point the filters hide keeps its lines
    choice = st.selectbox(
        "Join a mixed point to its two sources (or click one on the map)",
        options,
        format_func=lambda o: "none" if o == NONE else f"{methods[o.split(':')[0]]} #{o.split(':')[1]}",
        key=key,
    )
    if choice == NONE:
        return None
    short, index = choice.split(":")
    return methods[short], int(index)


def source_links(
    real_xy: np.ndarray, mixed: dict, rows_shown: dict[str, pd.DataFrame], traced: tuple[str, int] | None
) -> np.ndarray:
    """``[K, 3, d]``: each mixed point to join with its sources (mixed, source a, source b coordinates)."""
    wanted = {(name, int(i)) for name, rows in rows_shown.items() for i in rows.index}
    if traced is not None:
        wanted.add(traced)
    segments = []
    for name, i in sorted(wanted):
        xy, table = mixed[name]
        segments.append([xy[i], real_xy[table["pos_a"].iloc[i]], real_xy[table["pos_b"].iloc[i]]])
    return np.asarray(segments, dtype=np.float64).reshape(-1, 3, real_xy.shape[1])


def neighbour_table(ds: MSADataset, batch: LatentBatch, picked: int, near, cosine, ids, texts) -> None:
    """The picked sample's nearest real samples in latent space (cosine, as SASS), ringed on the map."""
    labels = batch.labels[near]
    same = int(np.sum(np.sign(labels) == np.sign(batch.labels[picked])))
    st.markdown(
        f"**Row {batch.index[picked]}** (label {batch.labels[picked]:+.2f})"
        + ("" if texts is None else f": “{texts[picked]}”")
        + f": its {len(near)} nearest real samples in the {view} latents (ringed in green on the map); "
        f"**{same} of {len(near)}** have a label of the same sign."
    )
    table = pd.DataFrame({"row": batch.index[near], "label": labels, "cosine": cosine})
    if ids is not None:
        table.insert(1, "id", [readable_id(i) for i in ids[near]])
    if texts is not None:
        table["transcript"] = texts[near]
    number = st.column_config.NumberColumn
    st.dataframe(
        table, hide_index=True, column_config={"label": number(format="%+.2f"), "cosine": number(format="%.2f")}
    )


explore(ds, batch, real_xy, mixed)
