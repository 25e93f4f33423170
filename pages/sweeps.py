"""Sweeps: a metric against one knob's value over seeds, stored sweeps overlaid, and past Optuna studies."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from msmix_core.errors import MsmixError
from msmix_core.experiments import config_grid
from msmix_core.experiments.sweeps import (
    knob_marks,
    knob_variants,
    parse_values,
    stored_sweeps,
    sweep_table,
)
from msmix_core.experiments.tuning import find_studies, load_studies
from msmix_core.figures.sweeps import study_figures, sweep_chart
from msmix_core.jobs.queue import default_queue, usable_cores
from msmix_core.metrics import METRIC_KEYS, PRIMARY_METRICS
from msmix_core.training import TrainConfig
from ui import data, jobs_view, page_state, paths, sidebar

JOB_KEY = "sweep_job"  #: session-state and URL key of the job
METHOD = "msmix"
#: The knobs the page sweeps: label and the values it starts from (the command line's syntax).
KNOBS = {
    "threshold": ("δ: SASS similarity threshold", "0.1:0.9:5"),
    "alpha": ("α of Beta(α, α)", "0.5,1,2,4"),
    "mix_weight": ("mixed-loss weight", "0.35,0.7,1.4"),
    "sal_weight": ("SAL weight", "0,0.5,1"),
    "lr": ("learning rate (training)", "3e-4,1e-3,3e-3"),
    "weight_decay": ("weight decay (training)", "0,1e-4,1e-3"),
    "batch_size": ("batch size (training)", "16,32,64"),
}
MAX_WORKERS = min(usable_cores(), default_queue().slots)  # a job never holds more than the server's slots

settings = sidebar.render()
st.title("Sweeps: how much does one knob matter?")
st.markdown(
    "Train MS-Mix over a range of one knob (δ, α, a loss weight or a training knob) and several seeds, and see the "
    "test metric against the knob's value with a band of ±1 std over seeds: two values whose bands overlap are "
    "not told apart by these seeds. The dashed lines mark msmix's default and, for δ, the paper's value (its text "
    "says 0.2; its released code, msmix's default, uses 0.4). Every run goes to the run store, so stored sweeps "
    "(from this page or `msmix sweep`) can be overlaid. Past `msmix tune` studies are at the bottom."
)

ds, store, job, busy = jobs_view.open_training_page(settings, JOB_KEY)

knob = st.selectbox(
    "Knob",
    list(KNOBS),
    format_func=lambda name: KNOBS[name][0],
    key=page_state.bind("sw_knob", "threshold", page_state.choice(list(KNOBS))),
)
with st.form("sweep_form", border=True):
    c1, c2, c3, c4 = st.columns([2, 1, 1, 1])
    values_text = c1.text_input(
        "Values: LOW:HIGH:COUNT or A,B,C",
        key=page_state.bind(f"sw_values_{knob}", KNOBS[knob][1], str),
        help="As `msmix sweep --knob` takes them: 0.1:0.9:5 is five values from 0.1 to 0.9, both included.",
    )
    n_seeds = int(
        c2.number_input(
            "Seeds per value",
            1,
            5,
            key=page_state.bind("sw_seeds", 2, page_state.number(1, 5, int)),
            help="Counted up from the sidebar's seed; the band is the spread over them.",
        )
    )
    epochs = int(
        c3.number_input("Epochs per run", 1, 200, key=page_state.bind("sw_epochs", 5, page_state.number(1, 200, int)))
    )
    workers = int(
        c4.number_input(
            "Workers",
            1,
            MAX_WORKERS,
            key=page_state.bind("sw_workers", 1, page_state.number(1, MAX_WORKERS, int)),
            help="Runs trained at a time, each in its own process on one torch thread: the same numbers as one "
            "worker. At most the server's training slots; more workers than cores slow every run down.",
        )
    )
    launch = st.form_submit_button("Run sweep", type="primary", disabled=busy)

if launch:
    with data.user_errors():
        values = parse_values(METHOD, knob, values_text)
        variants = knob_variants(METHOD, knob, values)
        seeds = range(settings.seed, settings.seed + n_seeds)
        configs = config_grid(variants, seeds, [settings.backbone], training={"epochs": epochs})
        job = jobs_view.start_job(ds, configs, store, workers)
    jobs_view.keep_job(JOB_KEY, job)
    busy = True

metrics = list(METRIC_KEYS[ds.metrics])
metric = st.selectbox(
    "Metric",
    metrics,
    key=page_state.bind("sw_metric", PRIMARY_METRICS.get(ds.metrics, "MAE"), page_state.choice(metrics)),
)
own = set(job.progress().run_ids.values()) if job is not None else set()
stored = {
    name: runs
    for name, runs in stored_sweeps(store.list(), METHOD, knob, ds.name).items()
    if not own & {run.id for run in runs}
}
overlay = st.multiselect(
    "Overlay stored sweeps",
    list(stored),
    key="sw_overlay",
    help="Finished MS-Mix runs of this data that differ only in this knob's value and the seed.",
)
jobs_view.damaged_warning(store)


polling = jobs_view.poll_interval(job, busy, every=jobs_view.STORE_POLL)


@st.fragment(run_every=polling)
def results() -> None:
    """The chart and table, redrawn while the sweep trains (each point appears when its runs end)."""
    tables = {}
    if job is not None:
        progress = jobs_view.progress_panel(job, key="sw")
        with data.user_errors():
            mine = sweep_table([store.load(run_id) for run_id in progress.run_ids.values()], knob, metric)
        if not mine.empty:
            tables["this sweep"] = mine
    tables |= {name: sweep_table(stored[name], knob, metric) for name in overlay}
    if not tables:
        st.info("Pick a knob and its values and press **Run sweep**, or overlay a stored sweep.")
    else:
        marks = knob_marks(METHOD, knob, TrainConfig(method=METHOD))
        st.plotly_chart(sweep_chart(tables, knob, metric, marks), width="stretch", key="sw_chart")
        table = pd.concat([t.assign(sweep=name) for name, t in tables.items()], ignore_index=True)
        jobs_view.table_with_download(table, f"sweep_{knob}.csv", key="sw_table")
    jobs_view.rerun_when_done(job, polling)


results()

st.subheader("Tuning studies (msmix tune)")
studies = [str(path) for path in find_studies(store.root)]
typed = st.text_input(
    "Optuna study file",
    key=page_state.bind("sw_study", "", str),
    placeholder="a path, or pick a file from the run store below",
)
picked = (
    st.selectbox(
        "Study files in the run store",
        studies,
        index=None,
        key="sw_study_file",
        format_func=lambda study: paths.shown(study, store.root),
    )
    if studies
    else None
)
path = typed.strip() or picked
if path is None:
    st.caption(
        f"No `*.db` study file under `{paths.shown(store.root, store.root)}`: `msmix tune` writes `tune.db` there."
    )
else:
    try:
        found = load_studies(paths.visitor_path(path, roots=[store.root]))
        if not found:
            raise MsmixError(f"{path!r} holds no study: msmix tune --storage sqlite:///{path} creates one")
        for study in found:
            st.markdown(f"**{study.study_name}**: {len(study.trials)} trials")
            for name, figure in study_figures(study).items():
                st.plotly_chart(figure, width="stretch", key=f"sw_{study.study_name}_{name}")
    except MsmixError as exc:
        st.error(f"**{exc}**")
    except OSError as exc:  # inside the allowed folders, but unreadable
        st.error(f"**the study file could not be read ({exc.strerror or type(exc).__name__}): choose another**")
