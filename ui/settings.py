"""The sidebar's settings: one frozen dataclass, kept in ``st.session_state`` and the URL."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

import streamlit as st

from msmix_core.data import SyntheticConfig
from msmix_core.models.registry import BACKBONES

SESSION_KEY = "msmix_settings"


@dataclass(frozen=True)
class Settings:
    """What every page needs to know: which data, which backbone, which seed.

    ``source`` is ``"synthetic"``, ``"mosi"`` (the real CMU-MOSI utterances) or the path of an MMSA
    ``.pkl``/``.npz`` file (``"upload"`` means the file uploaded in this browser session). The synthetic
    knobs only apply to ``"synthetic"``; the ``mosi_*`` knobs and ``data_seed`` (which train videos a
    fraction keeps) to ``"mosi"``, whose folder is ``mosi_dir`` or, when empty, the one found.
    """

    source: str = "synthetic"
    data_seed: int = 0
    conflict_rate: float = SyntheticConfig.conflict_rate
    label_noise: float = SyntheticConfig.label_noise
    n_train: int = SyntheticConfig.n_train
    mosi_dir: str = ""
    mosi_split: str = "speaker"
    mosi_fraction: float = 1.0
    backbone: str = "late_fusion"
    seed: int = 1111


def _parse(name: str, text: str):
    kind = {f.name: f.type for f in fields(Settings)}[name]
    return {"int": int, "float": float}.get(kind, str)(text)


def from_query_params() -> Settings:
    """Settings from the URL (a shared link reproduces the view); bad values fall back to defaults."""
    values = {}
    for f in fields(Settings):
        if f.name in st.query_params:
            try:
                values[f.name] = _parse(f.name, st.query_params[f.name])
            except ValueError:
                continue
    settings = Settings(**values)
    if settings.backbone not in BACKBONES:
        settings = replace(settings, backbone=Settings.backbone)
    return settings


def current() -> Settings:
    """This browser session's settings (read from the URL on the first run of a session)."""
    if SESSION_KEY not in st.session_state:
        st.session_state[SESSION_KEY] = from_query_params()
    return st.session_state[SESSION_KEY]


def update(settings: Settings) -> None:
    """Store new settings for this session and mirror the non-default ones in the URL."""
    st.session_state[SESSION_KEY] = settings
    defaults = asdict(Settings())
    for key, value in asdict(settings).items():
        if value != defaults[key]:
            if st.query_params.get(key) != str(value):
                st.query_params[key] = str(value)
        elif key in st.query_params:
            del st.query_params[key]
