"""The sidebar every page shares: data source and knobs, backbone, seed, device."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st
import torch

from msmix_core.data import MOSI_SOURCES
from msmix_core.device import resolve_device
from msmix_core.errors import MsmixError
from ui import data, navigation, settings, tours

REAL = "CMU-MOSI (real)"


def _mosi_knobs(current: settings.Settings) -> settings.Settings:
    """The real data's folder, split and training fraction; where to get the files when none is found."""
    sb = st.sidebar
    typed = sb.text_input(
        "CMU-MOSI folder",
        current.mosi_dir,
        key="sb_mosi_dir",
        placeholder="found automatically when empty",
        help="Empty: $MSMIX_MOSI_DIR, else ../shared/data/mosi-utterance beside the checkout or the working folder.",
    ).strip()
    new = replace(current, mosi_dir=typed)
    try:
        folder = data.mosi_folder(new)
    except MsmixError as exc:  # a folder this server does not open (the page says the same)
        sb.error(str(exc))
        return new
    if folder is None:
        sb.info(f"No CMU-MOSI utterance folder found. Where to get the files: {MOSI_SOURCES}.")
        return new
    sb.caption(f"Reading `{folder}`")
    splits = list(settings.DOMAINS["mosi_split"].options)
    split = sb.radio(
        "Split",
        splits,
        index=splits.index(current.mosi_split) if current.mosi_split in splits else 0,
        horizontal=True,
        key="sb_mosi_split",
        help="speaker: the feature authors' speaker-independent split. standard: the CMU folds, which leak here.",
    )
    fractions = list(settings.DOMAINS["mosi_fraction"].options)
    fraction = current.mosi_fraction if current.mosi_fraction in fractions else 1.0
    fraction = sb.select_slider(
        "Share of train videos", fractions, fraction, key="sb_mosi_fraction", help="A seeded subset of whole videos"
    )
    seed = sb.number_input("Subset seed", 0, 10_000, current.data_seed, key="sb_mosi_seed", disabled=fraction == 1.0)
    return replace(new, mosi_split=split, mosi_fraction=float(fraction), data_seed=int(seed))


def _bounds(name: str) -> tuple[float, float]:
    return settings.DOMAINS[name].low, settings.DOMAINS[name].high


def _options(name: str) -> list:
    return list(settings.DOMAINS[name].options)


def _slider(sb: object, label: str, name: str, current: settings.Settings, key: str) -> float:
    """A slider over the setting's declared domain (range and step)."""
    domain = settings.DOMAINS[name]
    return sb.slider(label, domain.low, domain.high, getattr(current, name), domain.step, key=key)


def render() -> settings.Settings:
    """Draw the sidebar and return this session's (possibly updated) settings; a tour step's banner on top."""
    navigation.configure()  # a page opened by its link runs without app.py (ui.navigation)
    tours.banner()
    current = settings.current()
    sb = st.sidebar
    navigation.links()
    sb.header("Data")
    choices = ["synthetic", REAL, "file path", "upload"]
    kind = {"synthetic": "synthetic", "mosi": REAL, "upload": "upload"}.get(current.source, "file path")
    kind = sb.radio("Source", choices, index=choices.index(kind), horizontal=True, key="sb_source_kind")
    new = current
    if kind == "synthetic":
        new = replace(
            new,
            source="synthetic",
            data_seed=int(sb.number_input("Data seed", *_bounds("data_seed"), current.data_seed, key="sb_data_seed")),
            conflict_rate=_slider(sb, "Modality-conflict rate", "conflict_rate", current, key="sb_conflict"),
            label_noise=_slider(sb, "Label noise (annotator std)", "label_noise", current, key="sb_noise"),
            n_train=int(sb.select_slider("Train samples", _options("n_train"), current.n_train, key="sb_n_train")),
        )
    elif kind == REAL:
        new = _mosi_knobs(replace(new, source="mosi"))
    elif kind == "file path":
        path = sb.text_input(
            "MMSA .pkl or .npz path",
            "" if current.source in ("synthetic", "upload", "mosi") else current.source,
            key="sb_path",
            help="An MMSA processed feature file (aligned_50.pkl, ...) or a .npz converted from one.",
        )
        if path.strip():
            new = replace(new, source=path.strip())
    else:
        upload = sb.file_uploader("MMSA .pkl or .npz", type=["pkl", "pickle", "npz"], key="sb_upload")
        if upload is not None:
            try:
                data.store_upload(upload.name, upload.getvalue())
            except MsmixError as exc:  # a name that is no file name: the page asks for a file again
                sb.error(str(exc))
        new = replace(new, source="upload")  # nothing uploaded yet: the page asks for a file

    sb.header("Model")
    names = _options("backbone")
    new = replace(
        new,
        backbone=sb.selectbox("Backbone", names, index=names.index(current.backbone), key="sb_backbone"),
        seed=int(sb.number_input("Seed", *_bounds("seed"), current.seed, key="sb_seed")),
    )
    device = resolve_device("auto")
    label = f"GPU: {torch.cuda.get_device_name(device)}" if device.type == "cuda" else "CPU (no GPU visible)"
    sb.caption(f"Device: **{label}**")
    settings.update(new)  # every run: a page switch may clear the URL, and a copied link must keep the view
    navigation.style()
    return new
