"""Mixing ratios (SIG): per-modality ratios from emotional intensity, before and after SAL."""

import pandas as pd
import streamlit as st

from msmix_core.analysis import LatentBatch, intensity_table, pair_table
from msmix_core.analysis.alignment import intensity_tracking, sal_distributions, sal_sentence, tracking_sentence
from msmix_core.figures import intensity_scatter, sal_distribution_chart
from msmix_core.mixing import method_knobs
from ui import data, latents, page_state, sidebar
from ui.live.ratio_histograms import alpha_grid, ratio_frames, ratio_histograms, sass_draw
from ui.pair_explorer import column_config

BATCH_SIZES = [16, 32, 64, 128, 256]
ALPHA = method_knobs("msmix")["alpha"]  # the slider spans the declared suggestion, starts at the default
ALPHA_LOW, ALPHA_HIGH, _ = ALPHA.search_range()

settings = sidebar.render()
st.title("Mixing ratios (SIG)")
st.markdown(
    "Mixup and Manifold Mixup blend every modality with one ratio λ ~ Beta(α, α). MS-Mix predicts how intensely each "
    "modality expresses emotion and gives the more intense source the larger share, **per modality**; the label ratio "
    "is the mean of the three. SAL pulls each modality's batch distribution of |intensity| towards the batch "
    "distribution of |label|. It does not make the intensities follow |label|: in msmix's measurements the trained "
    "intensities' Spearman ρ with |label| stays at or below 0.13 except TFN's text, and many saturate near ±3 "
    "(docs/findings.md, S). The charts below show this batch."
)

with data.user_errors():
    ds = data.dataset(settings)
    left, right = st.columns(2)
    batch_key = page_state.bind("ratios_batch", 128, page_state.choice(BATCH_SIZES))
    batch_size = left.select_slider("Batch size", BATCH_SIZES, key=batch_key)
    compare = right.toggle(
        f"Compare with the trained predictor ({latents.TRAINED_EPOCHS} epochs, once)",
        key=page_state.bind("ratios_trained", False, page_state.flag),
    )
    batches = {"untrained": latents.batch(settings, ds, batch_size, 0)}
    if compare:
        batches["trained"] = latents.batch(settings, ds, batch_size, latents.TRAINED_EPOCHS)

tracking = pd.concat([intensity_tracking(b).assign(predictor=name) for name, b in batches.items()], ignore_index=True)

st.subheader("Predicted intensity against |label|")
intensities = pd.concat([intensity_table(b).assign(predictor=name) for name, b in batches.items()], ignore_index=True)
st.plotly_chart(intensity_scatter(intensities), key="intensity_scatter")
for name, rows in tracking.groupby("predictor", sort=False):
    st.caption(tracking_sentence(name, rows))
st.download_button("Download intensities (CSV)", data.csv(intensities), "intensities.csv", "text/csv")

st.subheader("What SAL compares: how flat the two distributions are")
distributions = pd.concat([sal_distributions(b).assign(predictor=name) for name, b in batches.items()])
st.plotly_chart(sal_distribution_chart(distributions, tracking), key="sal_distributions")
st.caption(sal_sentence(tracking))

shown = "trained" if compare else "untrained"


@st.cache_data(max_entries=16, show_spinner=False)
def frames(key: str, batch_size: int, shown: str, seed: int, extra: float | None, _batch: LatentBatch) -> dict:
    """SASS's ratios at every α the slider reaches (and ``extra``): once per (data, batch, predictor, seed)."""
    return ratio_frames(_batch, seed, alpha_grid(ALPHA_LOW, ALPHA_HIGH, extra))


@st.fragment
def ratios(batch: LatentBatch) -> None:
    """What α changes: the SASS batch's ratios and the per-pair table (an α move reruns only this)."""
    alpha_key = page_state.bind("ratios_alpha", ALPHA.default, page_state.number(ALPHA_LOW, ALPHA_HIGH))
    alpha = st.session_state[alpha_key]  # set by the histograms' own slider (ui.live.ratio_histograms), or the URL
    st.subheader(f"Ratios of one SASS batch ({shown} predictor) against Manifold Mixup's Beta(α, α)")
    extra = None if alpha in alpha_grid(ALPHA_LOW, ALPHA_HIGH) else alpha  # a link's α between two slider steps
    every_alpha = frames(latents.data_key(settings), len(batch.labels), shown, settings.seed, extra, batch)
    ratio_histograms(alpha_key, alpha, ALPHA_LOW, ALPHA_HIGH, every_alpha, f"{ALPHA.default:g} in the released code")
    result = sass_draw(batch, settings.seed, alpha)
    st.caption(
        "SIG averages a Beta draw with the intensity share, so its ratios crowd towards the middle "
        "more than Beta(α, α). The histograms follow the slider (and play) in your browser; the table follows when you "
        "let go or pause."
    )

    st.subheader("Per-pair breakdown")
    table = pair_table(batch, result)
    for m in ("text", "audio", "vision"):
        table[f"intensity_{m}_a"] = batch.intensities[m][table["pos_a"]]
        table[f"intensity_{m}_b"] = batch.intensities[m][table["pos_b"]]
    st.dataframe(table, hide_index=True, height=300, column_config=column_config(table))
    st.download_button("Download ratios (CSV)", data.csv(table), "sig_ratios.csv", "text/csv")


ratios(batches[shown])
