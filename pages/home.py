"""Home: what MS-Mix does, in one picture and three sentences, and where to go next."""

from pathlib import Path

import streamlit as st

from msmix_core.data import MOSI_REPOSITORIES, MSADataset
from msmix_core.data.mosi_utterance import source_string
from ui import data, sidebar

settings = sidebar.render()
st.title("msmix: an interactive lab for emotion-aware mixup")
st.markdown(
    "Multimodal sentiment analysis predicts a sentiment score from **text, audio and vision**. "
    "Plain Mixup blends random pairs with one random ratio, so it often blends a happy clip with an angry one "
    "and blurs the label. **MS-Mix** mixes only pairs whose latent features are similar (**SASS**), gives each "
    "modality its own ratio from how intensely it expresses emotion (**SIG**), and trains that intensity "
    "predictor to agree with the labels (**SAL**)."
)
st.image(str(Path(__file__).parent.parent / "assets" / "pipeline.svg"), width="stretch")

st.subheader("Start here")
st.markdown(
    "1. **Pair selection (SASS)**: which pairs does MS-Mix pick, and how often do they contradict each other "
    "compared with vanilla Mixup?\n"
    "2. **Mixing ratios (SIG)**: how the per-modality ratios follow emotional intensity, before and after SAL.\n"
    "3. **Embeddings (UMAP)**: where the mixed samples of MS-Mix and of vanilla Mixup land among the real ones.\n"
)

with data.user_errors():
    ds: MSADataset = data.dataset(settings)
summary = ds.summary()
st.subheader("The data you are looking at")
cols = st.columns(6)
cols[0].metric("Dataset", summary["name"])
for col, (split, size) in zip(cols[1:4], summary["sizes"].items(), strict=True):
    col.metric(f"{split} samples", size)
cols[4].metric("Feature sizes T·A·V", " · ".join(str(v) for v in summary["dims"].values()))
cols[5].metric("Label range", f"{ds.label_range[0]:g} … {ds.label_range[1]:g}")
links = " and ".join(f"[{name}]({url})" for name, url in MOSI_REPOSITORIES.items())
if ds.info.get("source") == "synthetic":
    st.caption(
        "The embedded synthetic dataset: text carries sentiment strongly, audio and vision weakly; speaker clusters "
        "dominate raw similarity; a share of samples has one modality of opposite polarity (see docs/data.md). "
        f"For real data choose **CMU-MOSI (real)** in the sidebar: the utterance files come from {links}."
    )
elif ds.info.get("source") == "mosi-utterance":
    videos = ds.info["videos"]
    st.markdown(
        f"**Real data: CMU-MOSI utterances**, {ds.info['split']} split, "
        f"{ds.info['train_fraction']:.0%} of the train videos: "
        + ", ".join(
            f"{split} {size} utterances from {videos[split]} videos" for split, size in summary["sizes"].items()
        )
        + f". {ds.info['split_note']} Real transcripts and official scores (Zadeh et al., 2016), utterance features "
        f"by Poria et al. (ACL 2017), from {links}."
    )
    spelled = source_string(ds.info["folder"], ds.info["split"], ds.info["train_fraction"], ds.info["seed"])
    st.caption(f'The same data on the command line: `msmix train --dataset "{spelled}"`')
else:
    st.caption(f"Real data from `{ds.info.get('source', ds.name)}`.")
