"""Cached access to datasets and models, and the one way pages show a user error."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from msmix_core.data import MSADataset, load_dataset, load_mmsa, load_npz, make_synthetic
from msmix_core.errors import MsmixError
from ui.settings import Settings

UPLOAD_KEY = "msmix_upload"


@contextmanager
def user_errors() -> Iterator[None]:
    """Show a :class:`MsmixError` as ``st.error`` (what is wrong, what to do) and stop the page."""
    try:
        yield
    except MsmixError as exc:
        st.error(f"**{exc}**")
        st.stop()


@st.cache_resource(max_entries=6, show_spinner="Building the synthetic dataset…")
def _synthetic(data_seed: int, conflict_rate: float, label_noise: float, n_train: int) -> MSADataset:
    return make_synthetic(seed=data_seed, conflict_rate=conflict_rate, label_noise=label_noise, n_train=n_train)


@st.cache_resource(max_entries=3, show_spinner="Loading the feature file…")
def _from_path(path: str) -> MSADataset:
    return load_dataset(path)


@st.cache_resource(max_entries=3, show_spinner="Reading the uploaded file…")
def _from_upload(name: str, digest: str, _payload: bytes) -> MSADataset:
    buffer = io.BytesIO(_payload)
    buffer.name = name
    if name.endswith(".npz"):
        return load_npz(buffer)
    if name.endswith((".pkl", ".pickle")):
        return load_mmsa(buffer)
    raise MsmixError(f"'{name}' is neither an MMSA .pkl nor a converted .npz: upload one of those")


def store_upload(name: str, payload: bytes) -> None:
    """Keep an uploaded file's bytes in this session (never shared with other sessions)."""
    st.session_state[UPLOAD_KEY] = (name, hashlib.sha256(payload).hexdigest(), payload)


def dataset(settings: Settings) -> MSADataset:
    """The dataset the sidebar selects, with what loading warned about shown; :class:`MsmixError` for a bad file."""
    ds = _selected(settings)
    for note in ds.info.get("warnings", ()):
        st.warning(note)
    return ds


def _selected(settings: Settings) -> MSADataset:
    if settings.source == "synthetic":
        return _synthetic(settings.data_seed, settings.conflict_rate, settings.label_noise, settings.n_train)
    if settings.source == "upload":
        if UPLOAD_KEY not in st.session_state:
            raise MsmixError("no file uploaded in this session: upload an MMSA .pkl or .npz in the sidebar")
        return _from_upload(*st.session_state[UPLOAD_KEY])
    return _from_path(settings.source)
