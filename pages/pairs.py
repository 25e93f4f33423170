"""Pair selection (SASS): which pairs MS-Mix mixes, and how often pairs contradict each other."""

import numpy as np
import streamlit as st
import torch

from msmix_core import MODALITIES
from msmix_core.analysis import STRATEGIES, modality_similarity, pair_statistics, pair_table, speakers, with_sources
from msmix_core.mixing import candidate_mask
from msmix_core.viz import similarity_heatmap, strategy_bars
from ui import data, latents, sidebar

settings = sidebar.render()
st.title("Pair selection (SASS)")
st.markdown(
    "MS-Mix only mixes pairs whose latent features are similar: the cosine similarity per modality, averaged and "
    "min-max scaled to 0–1, must exceed the threshold **δ**. Move δ and watch the candidates (white dots) thin out; "
    "red crosses are the pairs drawn from them."
)

with data.user_errors():
    ds = data.dataset(settings)
    left, right = st.columns(2)
    batch_size = left.select_slider("Batch size", [16, 32, 64, 128, 256], 64, key="pairs_batch")
    with right:
        epochs = latents.source_picker("pairs_source")
    batch = latents.batch(settings, ds, batch_size, epochs)


@st.cache_data(max_entries=16, show_spinner=False)
def similarities(key: str, batch_size: int, epochs: int, _batch) -> dict[str, np.ndarray]:
    return modality_similarity(_batch)


sims = similarities(latents.data_key(settings), batch_size, epochs, batch)
delta = st.slider("Similarity threshold δ", 0.0, 1.0, 0.4, 0.01, key="pairs_delta", help="0.4 in the released code")
mask = candidate_mask(torch.from_numpy(sims["averaged"]), delta).numpy()
result = STRATEGIES["SASS (MS-Mix)"](batch, torch.Generator().manual_seed(settings.seed), delta, 2.0, 1.0)
pairs = result.pairs.numpy()

cols = st.columns(4)
cols[0].metric("Candidate pairs", int(mask.sum()), help="Ordered pairs (a, b), a ≠ b, with similarity > δ")
cols[1].metric("Batch size", len(batch.labels))
cols[2].metric("Pairs mixed", len(pairs))
cols[3].metric("Fallback used", "yes" if result.fallback else "no", help="Too few candidates: the most similar pairs")

tabs = st.tabs(["Averaged", *[m.capitalize() for m in MODALITIES]])
for tab, key in zip(tabs, ["averaged", *MODALITIES], strict=True):
    with tab:
        fig = similarity_heatmap(
            sims[key],
            mask if key == "averaged" else candidate_mask(torch.from_numpy(sims[key]), delta).numpy(),
            pairs if key == "averaged" else None,
            title=f"{key} similarity, δ = {delta:.2f}",
        )
        st.plotly_chart(fig, key=f"heatmap_{key}")

st.subheader("Chosen pairs")
table = with_sources(pair_table(batch, result, sims["averaged"]), ds.train)
if "text_a" in table:
    st.caption(
        "Each row: the two training sentences a method blends, their scores and speakers, and the mixing ratios. "
        "Compare what SASS pairs with what vanilla Mixup's random pairing blends."
    )
randomly = STRATEGIES["random (Mixup)"](batch, torch.Generator().manual_seed(settings.seed), delta, 2.0, 1.0)
for tab, (name, shown) in zip(
    st.tabs(["SASS (MS-Mix)", "random (vanilla Mixup)"]),
    [("sass", table), ("random", with_sources(pair_table(batch, randomly, sims["averaged"]), ds.train))],
    strict=True,
):
    with tab:
        st.dataframe(shown, hide_index=True, height=240)
        st.download_button(
            "Download pairs (CSV)", shown.to_csv(index=False), f"{name}_pairs.csv", "text/csv", key=f"dl_{name}"
        )

st.subheader("How often does each strategy mix opposite sentiments?")
st.caption(
    "Same batch, same δ, α = 2, C-Mixup σ = 1; each value is the mean over 5 seeded draws. The label-aware guard "
    "is MS-Mix that never pairs opposite signs: the floor SASS could reach."
)
stats = pair_statistics(batch, threshold=delta, seed=settings.seed)
st.plotly_chart(strategy_bars(stats), key="strategy_bars")
st.dataframe(stats, hide_index=True)
st.download_button("Download strategy comparison (CSV)", stats.to_csv(index=False), "strategies.csv", "text/csv")

st.subheader("Look at one pair")
if len(table):
    k = st.selectbox(
        "Pair",
        range(len(table)),
        format_func=lambda i: f"#{i}: row {table.row_a[i]} × row {table.row_b[i]}",
        key="pairs_pick",
    )
    split = ds.train
    who = speakers(split)
    for col, side in zip(st.columns(2), ("a", "b"), strict=True):
        row, pos = int(table[f"row_{side}"][k]), int(table[f"pos_{side}"][k])
        with col:
            st.markdown(f"**Sample {side}: train row {row}**")
            st.metric("Label", f"{split.labels[row]:+.2f}")
            if who is not None:
                st.write(f"Speaker: **{who[row]}**")
            st.write({m: round(float(batch.intensities[m][pos]), 3) for m in MODALITIES})
            st.caption("Predicted intensity per modality (−3…3)")
            if "conflict" in split.extras:
                flag = bool(split.extras["conflict"][row])
                which = int(split.extras["conflict_modality"][row])
                st.write(f"Modality conflict: **{MODALITIES[which] if flag else 'none'}**")
            if split.raw_text is not None:
                st.write(f"Text: “{split.raw_text[row]}”")
else:
    st.info("No pairs at this setting: lower δ or use a larger batch.")
