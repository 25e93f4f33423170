"""Robustness: stored models scored with one modality removed or noised, MS-Mix against its rivals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from msmix_core import MODALITIES
from msmix_core.data import MSADataset
from msmix_core.experiments import ROBUSTNESS_METHODS, ROBUSTNESS_REFERENCE, method_sets, seed_differences, seed_means
from msmix_core.figures import robustness_curves, robustness_differences
from msmix_core.runs import WEIGHTS_FILE, Run, RunStore
from msmix_core.training import feature_std, load_trained, score_condition
from ui import comparison, data, jobs_view, latents, page_state, run_links, sidebar

LEVEL_STEP = 0.25  #: the noise levels lie on this grid, so a new top level adds one level to score
SPLITS = ["test", "valid"]

settings = sidebar.render()
st.title("Robustness: what if a modality is missing or noisy?")
st.markdown(
    "Each trained model is scored on the chosen split **clean**, with one modality **removed** (its features "
    "set to 0) and with Gaussian **noise** added to it (level × each feature's spread on the training split). "
    "Every model faces the same noise draws. Models come from the run store: train MS-Mix, Mixup and "
    "no mixing on the **Training** page first, with the same data and backbone, over a few seeds. Methods are "
    "compared only when trained alike (same epochs, lr, recipe...), seed by seed, and averaged over seeds."
)

with data.user_errors():
    ds = data.dataset(settings)
store = RunStore()
run_links.say_why_not("robustness", settings.backbone, ds, store)  # a link's runs this page cannot compare
jobs_view.damaged_warning(store)
sets = method_sets(store.list(), ds, settings.backbone)
if not sets:
    st.info(
        f"No stored `{settings.backbone}` model fits this data yet: train one on the Training page "
        "(with the same data source and knobs), then come back."
    )
    st.stop()
if not any(len(s.variants) > 1 for s in sets):
    st.warning(
        "Only unlike runs: no two methods were trained with the same settings (data, backbone, epochs, lr...), so "
        "each set below holds one method, shown on its own. Train the others on the Training page with the "
        "settings of the set you want to compare."
    )
chosen_set = comparison.choose_set(sets, "rb_set")
methods = list(chosen_set.variants)
c1, c2 = st.columns([2, 1])
default_methods = [m for m in methods if m in ROBUSTNESS_METHODS] or methods
comparison.forget_stale("rb_methods", methods)
chosen = c1.multiselect(
    "Methods",
    methods,
    key=page_state.bind("rb_methods", default_methods, page_state.subset(methods)),
    help="The methods of the chosen set; each is scored with every chosen seed's model and averaged over the seeds.",
)
paired = chosen_set.on_shared_seeds(chosen)  # every chosen method on the same seeds: means over like seeds
seeds = paired.seeds
comparison.forget_stale("rb_seeds", seeds)
picked_seeds = c2.multiselect(
    "Seeds",
    seeds,
    key=page_state.bind("rb_seeds", seeds, page_state.subset(seeds)),
    help="The seeds every chosen method has a model of: each method's mean is over them, and the differences "
    "from the reference pair each method's model with the reference's of the same seed.",
)
unpaired = chosen_set.unpaired(chosen)
if unpaired:
    st.caption(f"Not scored: {unpaired}.")
candidates: dict[str, Run] = {
    run.id: run for runs in paired.variants.values() for run in runs if run.config["seed"] in picked_seeds
}
labels = {run.id: label for label, runs in paired.variants.items() for run in runs}
data_key = latents.data_key(settings)


def weights_stamp(run_id: str) -> tuple[int, int]:
    """When and how large the run's weights file is: a rewritten file is loaded again, never a stale model."""
    stat = (candidates[run_id].path / WEIGHTS_FILE).stat()
    return stat.st_mtime_ns, stat.st_size


@st.cache_resource(max_entries=16, show_spinner=False)
def _model(run_id: str, stamp: tuple[int, int], data_key: str, _ds: MSADataset):
    return load_trained(store.load(run_id), _ds)


@st.cache_resource(max_entries=8, show_spinner=False)
def _spread(data_key: str, modality: str, _ds: MSADataset) -> np.ndarray:
    return feature_std(_ds.train, modality)


@st.cache_resource(max_entries=4096, show_spinner=False)
def _score(
    run_id: str, stamp: tuple, split: str, condition: str, modality: str, level: float, seed: int, data_key: str, _ds
) -> dict:
    """One model under one condition, cached per (run, weights, split, condition, modality, level, seed, data).

    A cached row is shared, not copied: callers read it and never change it.
    """
    model = _model(run_id, stamp, data_key, _ds)
    std = None if condition != "noise" else _spread(data_key, modality, _ds)
    kwargs = {"split": split, "condition": condition, "modality": modality, "level": level, "seed": seed, "std": std}
    return score_condition(model, _ds, **kwargs)


def conditions(levels: list[float]) -> list[tuple[str, str, float]]:
    """What to score: clean, and per modality removed and noised at each level above 0.

    Noise at level 0 adds nothing, so those points of the curves are the clean score (see :func:`scores`).
    """
    rows = [("clean", "none", 0.0)]
    for m in MODALITIES:
        rows += [("zeroed", m, float("nan")), *[("noise", m, level) for level in levels if level > 0]]
    return rows


@st.fragment
def scores(chosen: list[str]) -> None:
    """The noise levels, split and metric, and what they show: changing them reruns only this part."""
    c1, c2 = st.columns(2)
    top = c1.slider(
        "Highest noise level (× feature std)",
        LEVEL_STEP,
        3.0,
        step=LEVEL_STEP,
        key=page_state.bind("rb_level", 1.0, page_state.number(LEVEL_STEP, 3.0)),
    )
    split = c2.radio(
        "Split", SPLITS, horizontal=True, key=page_state.bind("rb_split", "test", page_state.choice(SPLITS))
    )
    levels = [float(v) for v in np.arange(0.0, top + LEVEL_STEP / 2, LEVEL_STEP)]
    with (
        st.spinner(f"Scoring {len(candidates)} model(s) under {len(conditions(levels))} conditions (each one once)…"),
        data.user_errors(),
    ):
        rows = []
        for run_id, run in candidates.items():
            stamp = weights_stamp(run_id)
            named = {
                "label": labels[run_id],
                "experiment": run.experiment_key,
                "seed": run.config["seed"],
                "run": run_id,
            }
            for condition, modality, level in conditions(levels):
                row = _score(run_id, stamp, split, condition, modality, level, settings.seed, data_key, ds)
                rows.append({**named, **row})
                if condition == "clean":  # noise level 0: the clean inputs, so the clean score
                    rows += [{**named, **row, "condition": "noise", "modality": m, "level": 0.0} for m in MODALITIES]
        table = pd.DataFrame(rows)
    metrics = [
        c for c in table.columns if c not in ("label", "experiment", "seed", "run", "condition", "modality", "level")
    ]
    metric = st.selectbox(
        "Metric", metrics, key=page_state.bind("rb_metric", "MAE", page_state.choice(metrics))
    )  # MAE moves smoothly with noise
    present = list(dict.fromkeys(table["label"]))  # a method without a model of the chosen seeds is absent
    reference = ROBUSTNESS_REFERENCE if ROBUSTNESS_REFERENCE in present else present[0]
    if len(present) > 1:
        differences = seed_differences(table, reference, metric)
        st.plotly_chart(robustness_differences(differences, metric, reference, split), width="stretch", key="rb_chart")
        st.caption(
            f"Each method minus `{reference}` under the same corruption, paired seed by seed: the line is the mean "
            "difference over seeds and each whisker its 95 % interval (none from a single shared seed). The last "
            f"point of each panel is the modality removed. Noise levels {', '.join(f'{v:g}' for v in levels)}."
        )
    st.subheader(f"Scores over seeds: mean ± std ({split})")
    jobs_view.table_with_download(seed_means(table, metrics), "robustness_means.csv", key="rb_means")
    with st.expander("Scores of each method (mean over seeds) and of each seed's model"):
        st.plotly_chart(robustness_curves(table, metric), width="stretch", key="rb_curves")
        st.caption("Level 0 is the clean score; a dotted line is the score with that modality removed.")
        jobs_view.table_with_download(table, "robustness.csv", key="rb_table")


if not candidates:
    st.info("Choose at least one method and one seed.")
    st.stop()
scores(chosen)
