"""Home: what MS-Mix does, in one picture and three sentences, and where to go next."""

from pathlib import Path

import streamlit as st

from msmix_core.data import MOSI_REPOSITORIES, MSADataset
from msmix_core.data.mosi_utterance import source_string
from ui import data, navigation, sidebar

PAPER = "https://arxiv.org/abs/2510.11579"

#: The teaching tour: every page of the app, in order, with the question it answers.
TOUR = [
    ("pages/home.py", "the MS-Mix pipeline in one picture, and the data you are looking at (this page)."),
    (
        "pages/pairs.py",
        "which pairs does MS-Mix pick, and how often do they contradict each other compared with "
        "random pairs (Manifold Mixup)? Move δ and see how many pairs it keeps.",
    ),
    ("pages/ratios.py", "how the per-modality ratios follow emotional intensity, before and after SAL."),
    ("pages/embeddings.py", "where the mixed samples of MS-Mix and of Manifold Mixup land among the real ones."),
    (
        "pages/training.py",
        "no mixing, Mixup (of the input features) and MS-Mix trained live with the same seed: is the gap larger "
        "than the epoch-to-epoch wiggle?",
    ),
    ("pages/ablation.py", "SASS, SIG and SAL switched off in turn over seeds, with a paired test."),
    (
        "pages/sweeps.py",
        "how much does δ (or α, a loss weight, the learning rate) matter? The metric against the knob over "
        "seeds, with the paper's δ marked, and past tuning studies.",
    ),
    ("pages/robustness.py", "remove or noise a modality and see which one the model leans on."),
    (
        "pages/runs.py",
        "every stored run: filter, group the seeds of one experiment, and set two runs' settings and curves "
        "side by side.",
    ),
]

settings = sidebar.render()
st.title("msmix: an interactive lab for emotion-aware mixup")
st.markdown(
    "Multimodal sentiment analysis predicts a sentiment score from **text, audio and vision**. "
    "Plain Mixup blends random pairs with one random ratio, so it often blends a happy clip with an angry one "
    "and blurs the label. **MS-Mix** mixes only pairs whose latent features are similar (**SASS**), gives each "
    "modality its own ratio from how intensely it expresses emotion (**SIG**), and pulls the batch distribution "
    "of those intensities towards that of |label| (**SAL**; whether the intensities then follow |label| is what "
    "the Mixing ratios page measures). "
    f"The method: Zhu et al., [MS-Mix (arXiv 2510.11579)]({PAPER})."
)
st.image(str(Path(__file__).parent.parent / "assets" / "pipeline.svg"), width="stretch")

st.subheader(f"The tour: {len(TOUR)} pages, in order")
navigation.page_link(
    "pages/tour.py", "Guided tour: the same lesson step by step, with its questions", ":material/tour:"
)
for number, (path, question) in enumerate(TOUR, start=1):
    title, icon = navigation.entry(path)
    link, text = st.columns([1, 3], vertical_alignment="center")
    navigation.page_link(path, f"{number}. {title}", icon, container=link)
    text.markdown(question)

with data.user_errors():
    ds: MSADataset = data.dataset(settings)
summary = ds.summary()
st.subheader("The data you are looking at")
cols = st.columns(4)
cols[0].metric("Dataset", summary["name"])
for col, (split, size) in zip(cols[1:4], summary["sizes"].items(), strict=True):
    col.metric(f"{split} samples", size)
dims = ", ".join(f"{m} {d}" for m, d in summary["dims"].items())
st.markdown(f"**Feature sizes**: {dims}. **Label range**: {ds.label_range[0]:g} to {ds.label_range[1]:g}.")
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
