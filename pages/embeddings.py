"""Embeddings: where the mixed samples of MS-Mix and of vanilla Mixup land among the real ones."""

import numpy as np
import pandas as pd
import streamlit as st
import torch

from msmix_core.analysis import STRATEGIES, VIEWS, Projector, pair_table, sample_captions, view_features
from msmix_core.viz import embedding_scatter
from ui import data, latents, sidebar

#: Method shown in the legend -> pairing strategy that makes its mixed latents.
MIXERS = {"MS-Mix": "SASS (MS-Mix)", "vanilla Mixup": "random (Mixup)"}

settings = sidebar.render()
st.title("Embeddings")
st.markdown(
    "A 2-D map of the real samples' latent features, coloured by label. The mixed samples of MS-Mix and of vanilla "
    "Mixup (random pairs, one ratio) are placed **into the same map** (`transform`), so you can see whether they land "
    "among real samples of a matching sentiment or in between clusters. Hover a point for its sentence; a mixed "
    "point for its two sources."
)

with data.user_errors():
    ds = data.dataset(settings)
    c1, c2, c3, c4 = st.columns(4)
    batch_size = c1.select_slider("Real samples", [64, 128, 256], 256, key="emb_batch")
    projection = c2.radio("Map", ["PCA", "UMAP"], horizontal=True, key="emb_projection", help="PCA is instant")
    view = c3.radio("Latents", VIEWS, horizontal=True, key="emb_view")
    with c4:
        epochs = latents.source_picker("emb_source")
    batch = latents.batch(settings, ds, batch_size, epochs)


@st.cache_data(max_entries=16, show_spinner=False)
def project(key: str, batch_size: int, epochs: int, projection: str, view: str, seed: int, _batch, _train):
    """Real coordinates and, per method, mixed coordinates with hover texts (cached per data and settings)."""
    projector = Projector(projection.lower(), random_state=seed)
    real_xy = projector.fit_transform(view_features(_batch.latents, view))
    mixed = {}
    for name, strategy in MIXERS.items():
        result = STRATEGIES[strategy](_batch, torch.Generator().manual_seed(seed), 0.4, 2.0, 1.0)
        xy = projector.transform(view_features({m: v.numpy() for m, v in result.mixed.items()}, view))
        table = pair_table(_batch, result)
        sources = [sample_captions(_train, table[f"row_{side}"].to_numpy(), width=60) for side in "ab"]
        hover = [
            f"{name}: rows {r.row_a} ({r.label_a:+.2f}) × {r.row_b} ({r.label_b:+.2f})<br>"
            + "".join(f"{side}: {text}<br>" for side, text in zip("ab", texts, strict=True) if text)
            + f"λ text/audio/vision {r.lam_text:.2f}/{r.lam_audio:.2f}/{r.lam_vision:.2f} → label {r.mixed_label:+.2f}"
            for r, *texts in zip(table.itertuples(), *sources, strict=True)
        ]
        mixed[name] = (xy, hover)
    return real_xy, mixed


with st.spinner(f"Computing the {projection} map…"):
    real_xy, mixed = project(
        latents.data_key(settings), batch_size, epochs, projection, view, settings.seed, batch, ds.train
    )
captions = sample_captions(ds.train, batch.index)
fig = embedding_scatter(real_xy, batch.labels, ds.label_range, mixed, axis_name=projection, captions=captions)
st.plotly_chart(fig, key="embedding")

cols = st.columns(1 + len(mixed))
cols[0].metric("Real points", len(real_xy))
for col, (name, (xy, _)) in zip(cols[1:], mixed.items(), strict=True):
    col.metric(f"Mixed points: {name}", len(xy))

points = np.concatenate([real_xy, *[xy for xy, _ in mixed.values()]])
kinds = ["real"] * len(real_xy) + [f"mixed: {name}" for name, (xy, _) in mixed.items() for _ in range(len(xy))]

coords = pd.DataFrame({"kind": kinds, "x": points[:, 0], "y": points[:, 1]})
st.download_button("Download map coordinates (CSV)", coords.to_csv(index=False), "embedding.csv", "text/csv")
