"""Cached latents of one batch, shared by the exploration pages (SASS, SIG, embeddings).

Training and encoding are cached per (data, backbone, seed, batch size), so moving δ or α on
a page only redraws. Cache keys name the data by content (an upload by its digest), so two
browser sessions with different uploads never share results.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import streamlit as st

from msmix_core.analysis import LatentBatch, encode_batch, fit_encoder
from msmix_core.analysis.latents import stored_batch
from msmix_core.analysis.replay import replay_batches
from msmix_core.data import MSADataset
from msmix_core.jobs.queue import TrainingQueue, default_queue
from ui import data, page_state
from ui.settings import Settings

#: Epochs of MS-Mix training behind the "trained" latents: enough for SAL to move the predictors.
TRAINED_EPOCHS = 3

#: Batches of the synthetic data, kept on disk by settings and code version (``make setup`` computes the first
#: views' ones, so a fresh server shows them without training); ``$MSMIX_LATENT_CACHE`` overrides it.
LATENT_CACHE = Path(os.environ.get("MSMIX_LATENT_CACHE", Path(__file__).resolve().parent.parent / ".cache" / "latents"))

#: What the training spinners add: such training waits its turn when many sessions train at once.
WHEN_BUSY = "; on a busy server it waits its turn"

SOURCES = {"untrained (seeded)": 0, f"trained ({TRAINED_EPOCHS} epochs of MS-Mix)": TRAINED_EPOCHS}


def data_key(settings: Settings) -> str:
    """What identifies the data: the settings, plus the upload's digest for an uploaded file."""
    if settings.source == "upload" and data.UPLOAD_KEY in st.session_state:
        return f"{settings}|{st.session_state[data.UPLOAD_KEY][1]}"
    return str(settings)


@st.cache_resource(show_spinner=False)
def page_trainings() -> TrainingQueue:
    """The server-wide bound on the pages' own brief trainings (the trained latents, the replay): as many at once
    as the server has training slots, in a line of their own, so that a page never waits behind a class's Runs."""
    return TrainingQueue(default_queue().slots)


@st.cache_resource(max_entries=8, show_spinner=False)
def _encoder(key: str, _dataset: MSADataset, backbone: str, seed: int, epochs: int):
    # trained latents wait for a slot: thirty sessions' toggles do not train thirty models at once
    with page_trainings().holding() if epochs else contextlib.nullcontext():
        return fit_encoder(_dataset, backbone, seed=seed, epochs=epochs)


@st.cache_data(max_entries=32, show_spinner=False)
def encoded(key: str, _dataset: MSADataset, backbone: str, seed: int, epochs: int, batch_size: int) -> LatentBatch:
    def compute() -> LatentBatch:
        model, method = _encoder(key, _dataset, backbone, seed, epochs)
        return encode_batch(model, method, _dataset, batch_size, seed=seed)

    if _dataset.info.get("source") != "synthetic":  # a file's contents may change under the same settings
        return compute()
    return stored_batch(LATENT_CACHE, f"{key}|{backbone}|{seed}|{epochs}|{batch_size}", compute)


def source_picker(key: str, default: str = "untrained") -> int:
    """A radio choosing ``"untrained"`` or ``"trained"`` latents (``default`` first); returns the training epochs."""
    names = {"untrained" if epochs == 0 else "trained": source for source, epochs in SOURCES.items()}
    short = st.radio(
        "Latent features from",
        list(names),
        format_func=names.get,
        horizontal=True,
        key=page_state.bind(key, default, page_state.choice(list(names))),
    )
    return SOURCES[names[short]]


def batch(settings: Settings, dataset: MSADataset, batch_size: int, epochs: int) -> LatentBatch:
    """The cached latent batch; training (when ``epochs``) runs once per data and settings."""
    message = (
        f"Training {settings.backbone} with MS-Mix for {epochs} epochs (once{WHEN_BUSY})…" if epochs else "Encoding…"
    )
    with st.spinner(message):
        return encoded(data_key(settings), dataset, settings.backbone, settings.seed, epochs, batch_size)


#: Epochs of MS-Mix training the Pair selection page's replay steps through (frames 0 to this).
REPLAY_EPOCHS = 5


@st.cache_resource(max_entries=4, show_spinner=False)
def _replay(key: str, _dataset: MSADataset, backbone: str, seed: int, batch_size: int) -> list[LatentBatch]:
    with page_trainings().holding():
        return replay_batches(_dataset, backbone, seed=seed, epochs=REPLAY_EPOCHS, batch_size=batch_size)


def replay(settings: Settings, dataset: MSADataset, batch_size: int) -> list[LatentBatch]:
    """The batch after 0 to :data:`REPLAY_EPOCHS` epochs of MS-Mix training; trains once per data and settings."""
    with st.spinner(
        f"Training {settings.backbone} with MS-Mix for {REPLAY_EPOCHS} epochs, keeping every epoch (once{WHEN_BUSY})…"
    ):
        return _replay(data_key(settings), dataset, settings.backbone, settings.seed, batch_size)
