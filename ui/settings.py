"""The sidebar's settings: one frozen dataclass, kept in ``st.session_state`` and the URL."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, fields, replace

import streamlit as st

from msmix_core.data import SyntheticConfig
from msmix_core.errors import brief
from msmix_core.models.registry import BACKBONES
from msmix_core.training.config import TrainConfig
from ui import page_state

SESSION_KEY = "msmix_settings"
#: The keys of the sidebar's widgets start with this (they restart from the settings when a link sets them).
SIDEBAR_PREFIX = "sb_"
#: A link's parameter that makes the page take the link's sidebar values on any run of a session, not only on
#: its first (a link from the Runs page to Ablation: that group's data and backbone); removed once taken.
LINK_KEY = "link"


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
    backbone: str = TrainConfig.backbone
    seed: int = TrainConfig.seed


@dataclass(frozen=True)
class Domain:
    """The values a setting's sidebar widget offers: a range (on a ``step`` grid from ``low``) or ``options``.

    The sidebar builds its widgets from :data:`DOMAINS` and :func:`from_query_params` accepts from
    the URL only what they offer, so the two cannot drift apart. A new setting is validated by
    declaring its domain here.
    """

    low: float | None = None
    high: float | None = None
    step: float | None = None
    options: tuple = ()

    def accepts(self, value: object) -> bool:
        if self.options:
            return value in self.options
        if not isinstance(value, int | float) or not self.low <= value <= self.high:  # NaN fails too
            return False
        return self.step is None or abs((value - self.low) / self.step - round((value - self.low) / self.step)) < 1e-6


#: The domain of every setting with a widget (``source`` and ``mosi_dir`` are free text: paths or a source name).
DOMAINS: dict[str, Domain] = {
    "data_seed": Domain(0, 10_000),
    "conflict_rate": Domain(0.0, 0.6, 0.05),
    "label_noise": Domain(0.0, 1.5, 0.05),
    "n_train": Domain(options=(128, 256, 512, 1284)),
    "backbone": Domain(options=tuple(BACKBONES)),
    "seed": Domain(0, 2**31 - 1),
    "mosi_split": Domain(options=("speaker", "standard")),
    "mosi_fraction": Domain(options=(0.1, 0.25, 0.5, 0.75, 1.0)),
}


def _parse(name: str, text: str) -> object:
    kind = {f.name: f.type for f in fields(Settings)}[name]
    return {"int": int, "float": float}.get(kind, str)(text)


def parse_query_params(params: Mapping[str, str]) -> tuple[Settings, str | None]:
    """Settings from URL parameters, and a note naming the values dropped (unparsable, out of range, not offered)."""
    values, dropped = {}, []
    for f in fields(Settings):
        if f.name not in params:
            continue
        try:
            value = _parse(f.name, params[f.name])
        except ValueError:
            dropped.append(f.name)
            continue
        if f.name in DOMAINS and not DOMAINS[f.name].accepts(value):
            dropped.append(f.name)
            continue
        values[f.name] = value
    if not dropped:
        return Settings(**values), None
    given = ", ".join(f"{name}={brief(params[name])}" for name in dropped)
    defaults = ", ".join(f"{name}={getattr(Settings, name)!r}" for name in dropped)
    return Settings(**values), f"The link's {given} is not offered by the sidebar: using the default {defaults}."


def from_query_params() -> Settings:
    """Settings from the URL (a shared link reproduces the view); values the sidebar does not offer fall back
    to the defaults, with one warning naming them."""
    settings, note = parse_query_params(st.query_params.to_dict())
    if note:
        st.warning(note)
    return settings


def adopt(params: Mapping[str, str], forget: Collection[str] = ()) -> str | None:
    """Make the sidebar values in ``params`` this session's, over its current settings (:func:`update`: the URL
    mirrors them), and restart the sidebar's widgets and the widgets ``forget`` (their keys) from them; the note
    naming the values refused, if any."""
    parsed, note = parse_query_params(params)
    names = {f.name for f in fields(Settings)} & set(params)
    base = st.session_state[SESSION_KEY] if SESSION_KEY in st.session_state else from_query_params()
    update(replace(base, **{name: getattr(parsed, name) for name in names}))
    for key in [k for k in st.session_state if str(k).startswith(SIDEBAR_PREFIX) or k in forget]:
        del st.session_state[key]
    return note


def current() -> Settings:
    """This browser session's settings: read from the URL on the first run of a session, and on any run whose
    URL holds :data:`LINK_KEY` (a link that sets the sidebar; the page's own values it names restart from it)."""
    if SESSION_KEY not in st.session_state:
        st.session_state[SESSION_KEY] = from_query_params()
    elif LINK_KEY in st.query_params:
        params = st.query_params.to_dict()
        note = adopt(params, forget=set(params) & page_state.BOUND)  # the page's widgets the link names
        if note:
            st.warning(note)
    if LINK_KEY in st.query_params:
        del st.query_params[LINK_KEY]
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
