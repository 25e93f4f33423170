"""The sidebar every page shares: data source and knobs, backbone, seed, device."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st
import torch

from msmix_core.device import resolve_device
from ui import data, navigation, settings


def _bounds(name: str) -> tuple[float, float]:
    return settings.DOMAINS[name].low, settings.DOMAINS[name].high


def _options(name: str) -> list:
    return list(settings.DOMAINS[name].options)


def _slider(sb: object, label: str, name: str, current: settings.Settings, key: str) -> float:
    """A slider over the setting's declared domain (range and step)."""
    domain = settings.DOMAINS[name]
    return sb.slider(label, domain.low, domain.high, getattr(current, name), domain.step, key=key)


def render() -> settings.Settings:
    """Draw the sidebar and return this session's (possibly updated) settings."""
    current = settings.current()
    sb = st.sidebar
    navigation.links()
    sb.header("Data")
    choices = ["synthetic", "file path", "upload"]
    kind = "synthetic" if current.source == "synthetic" else "upload" if current.source == "upload" else "file path"
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
    elif kind == "file path":
        path = sb.text_input(
            "MMSA .pkl or .npz path",
            "" if current.source in ("synthetic", "upload") else current.source,
            key="sb_path",
            help="An MMSA processed feature file (aligned_50.pkl, ...) or the .npz from `msmix convert`.",
        )
        if path.strip():
            new = replace(new, source=path.strip())
    else:
        upload = sb.file_uploader("MMSA .pkl or .npz", type=["pkl", "pickle", "npz"], key="sb_upload")
        if upload is not None:
            data.store_upload(upload.name, upload.getvalue())
            new = replace(new, source="upload")

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
    return new
