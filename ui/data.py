"""Cached access to datasets and models, and the one way pages show a user error."""

from __future__ import annotations

import hashlib
import io
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import streamlit as st

from msmix_core.data import (
    MOSI_SOURCES,
    MSADataset,
    find_mosi_folder,
    load_dataset,
    load_mmsa,
    load_mosi_utterance,
    load_npz,
    make_synthetic,
)
from msmix_core.data.mosi_utterance import PREFIX as MOSI_PREFIX
from msmix_core.data.mosi_utterance import parse_source
from msmix_core.errors import MsmixError
from msmix_core.models import data_note
from ui.paths import upload_name, visitor_path
from ui.settings import Settings

UPLOAD_KEY = "msmix_upload"


def csv(table: pd.DataFrame) -> Callable[[], str]:
    """``table`` as CSV for ``st.download_button``, written when the user clicks, not on every slider move."""
    return lambda: table.to_csv(index=False)


@contextmanager
def user_errors() -> Iterator[None]:
    """Show a :class:`MsmixError` as ``st.error`` (what is wrong, what to do) and stop the page; a file that
    passed :func:`~ui.paths.visitor_path` but cannot be read (no permission, a device error) likewise."""
    try:
        yield
    except MsmixError as exc:
        st.error(f"**{exc}**")
        st.stop()
    except OSError as exc:
        st.error(f"**the file could not be read ({exc.strerror or type(exc).__name__}): check it or choose another**")
        st.stop()


@st.cache_resource(max_entries=6, show_spinner="Building the synthetic dataset…")
def _synthetic(data_seed: int, conflict_rate: float, label_noise: float, n_train: int) -> MSADataset:
    return make_synthetic(seed=data_seed, conflict_rate=conflict_rate, label_noise=label_noise, n_train=n_train)


@st.cache_resource(max_entries=4, show_spinner="Reading the CMU-MOSI utterance files…")
def _mosi(folder: str, split: str, train_fraction: float, seed: int) -> MSADataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the leak of the standard split is shown with st.warning instead
        return load_mosi_utterance(folder, split=split, train_fraction=train_fraction, seed=seed)


def mosi_folder(settings: Settings) -> Path | None:
    """The CMU-MOSI folder the settings point at (typed, ``$MSMIX_MOSI_DIR`` or beside the checkout), or None.

    A typed folder passes :func:`~ui.paths.visitor_path` first (:class:`MsmixError` when refused): whether a
    folder holds the CMU-MOSI files is not for a visitor to learn outside the data folders."""
    typed = settings.mosi_dir.strip()
    return find_mosi_folder(visitor_path(typed) if typed else None)


FEATURE_SUFFIXES = (".pkl", ".pickle", ".npz")


def _check_feature_file(path: Path) -> None:
    """The problems a browser user can fix, said in their words (a folder is a folder; no command lines)."""
    if path.is_dir():
        raise MsmixError(
            f"'{path}' is a folder: give the path of an MMSA .pkl or .npz feature file inside it "
            "(for the CMU-MOSI utterance folder, choose CMU-MOSI (real) as the source)"
        )
    if not path.exists():
        raise MsmixError(f"there is no file at '{path}' on the server: check the path, or upload the file instead")
    if path.suffix.lower() not in FEATURE_SUFFIXES:
        raise MsmixError(f"'{path.name}' is not an MMSA .pkl or .npz feature file: choose one of those, or upload it")


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
    """Keep an uploaded file's bytes in this session (never shared with other sessions), under a checked name."""
    st.session_state[UPLOAD_KEY] = (upload_name(name), hashlib.sha256(payload).hexdigest(), payload)


def dataset(settings: Settings) -> MSADataset:
    """The dataset the sidebar selects, with what loading warned about shown; :class:`MsmixError` for a bad file.

    A leaky split (CMU-MOSI's standard folds) is loaded with an ``st.warning`` saying why.
    """
    ds = _selected(settings)
    for note in ds.info.get("warnings", ()):
        st.warning(note)
    if ds.info.get("leaky_split"):
        st.warning(ds.info["split_note"])
    note = data_note(settings.backbone, ds.seq_lens)
    if note:
        st.warning(note)
    return ds


def _selected(settings: Settings) -> MSADataset:
    if settings.source == "synthetic":
        return _synthetic(settings.data_seed, settings.conflict_rate, settings.label_noise, settings.n_train)
    if settings.source == "mosi":
        folder = mosi_folder(settings)
        if folder is None:
            where = (
                f"'{settings.mosi_dir}'"
                if settings.mosi_dir.strip()
                else "$MSMIX_MOSI_DIR or ../shared/data/mosi-utterance"
            )
            raise MsmixError(f"no CMU-MOSI utterance folder found at {where}: {MOSI_SOURCES}")
        return _mosi(str(folder), settings.mosi_split, settings.mosi_fraction, settings.data_seed)
    if settings.source == "upload":
        if UPLOAD_KEY not in st.session_state:
            raise MsmixError("upload a file: drop an MMSA .pkl or .npz feature file on the sidebar's uploader")
        return _from_upload(*st.session_state[UPLOAD_KEY])
    if settings.source.startswith(MOSI_PREFIX):  # the CMU-MOSI folder spelled as on the command line
        visitor_path(str(parse_source(settings.source)[0]))
        return _from_path(settings.source)
    path = visitor_path(settings.source)
    _check_feature_file(path)
    return _from_path(str(path))
