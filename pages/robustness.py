"""Robustness: stored models scored with one modality removed or noised, MS-Mix against its rivals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from msmix_core.analysis.experiments import fits, latest_runs, robustness_table
from msmix_core.data import MSADataset
from msmix_core.runs import RunStore
from msmix_core.viz_training import robustness_curves
from ui import data, jobs_view, sidebar

COMPARED_LABELS = ["msmix", "mixup", "none"]

settings = sidebar.render()
st.title("Robustness: what if a modality is missing or noisy?")
st.markdown(
    "Each trained model is scored on the chosen split **clean**, with one modality **removed** (its features "
    "set to 0) and with Gaussian **noise** added to it (level × each feature's spread on the training split). "
    "Every model faces the same noise draws. Models come from the run store: train MS-Mix, vanilla Mixup and "
    "no mixing on the **Training** page first, with the same data and backbone."
)

with data.user_errors():
    ds = data.dataset(settings)
store = RunStore()
jobs_view.damaged_warning(store)
candidates = {
    run.id: run
    for run in store.list()
    if run.status in ("finished", "stopped") and run.config["backbone"] == settings.backbone and fits(run, ds)
}
if not candidates:
    st.info(
        f"No stored `{settings.backbone}` model fits this data yet: train one on the Training page "
        "(with the same data source and knobs), then come back."
    )
    st.stop()

default = [run.id for run in latest_runs(candidates.values(), ds, COMPARED_LABELS, settings.backbone)]
chosen = st.multiselect(
    "Models (stored runs)",
    list(candidates),
    default,
    key="rb_runs",
    format_func=lambda run_id: jobs_view.run_caption(candidates[run_id]),
    help="By default the newest finished MS-Mix, vanilla Mixup and no-mixing runs.",
)
c1, c2 = st.columns(2)
top = c1.slider("Highest noise level (× feature std)", 0.25, 3.0, 1.0, 0.25, key="rb_level")
split = c2.radio("Split", ["test", "valid"], horizontal=True, key="rb_split")
levels = tuple(float(v) for v in np.linspace(0.0, top, 5))


@st.cache_data(max_entries=16, show_spinner="Scoring the models under each condition…")
def _scores(run_ids: tuple[str, ...], levels: tuple[float, ...], split: str, seed: int, _ds: MSADataset, data_key: str):
    """Cached per runs, levels, split, noise seed and data (``data_key``); ended runs never change."""
    return robustness_table([store.load(r) for r in run_ids], _ds, levels, seed=seed, split=split)


if not chosen:
    st.info("Choose at least one model.")
    st.stop()
with data.user_errors():
    table: pd.DataFrame = _scores(tuple(chosen), levels, split, settings.seed, ds, repr(settings))
metrics = [c for c in table.columns if c not in ("label", "run", "condition", "modality", "level")]
metric = st.selectbox("Metric", metrics, index=metrics.index("MAE"), key="rb_metric")  # moves smoothly with noise
st.plotly_chart(robustness_curves(table, metric), width="stretch", key="rb_chart")
st.caption("Level 0 is the clean score; a dotted line is the score with that modality removed.")
jobs_view.table_with_download(table, "robustness.csv", key="rb_table")
