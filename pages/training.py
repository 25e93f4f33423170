"""Training: train several methods with the same seed, live, and compare them; overlay past runs."""

from __future__ import annotations

from collections import Counter

import streamlit as st

from msmix_core.experiments import config_grid, history_frame, learning_warnings, significance_sentences, summary_table
from msmix_core.figures import training_curves
from msmix_core.jobs import TrainingJob
from msmix_core.metrics import PRIMARY_METRICS
from msmix_core.mixing.registry import METHODS, method_knobs
from msmix_core.runs import compare_runs, experiment_key, format_table
from msmix_core.training import RECIPES, TrainConfig, recipes_help
from ui import data, jobs_view, page_state, sidebar

JOB_KEY = "training_job"  #: session-state and URL key of the job
DEFAULT_METHODS = ["none", "mixup", "msmix"]
FROM_RECIPE = "recipe's"  #: the option that leaves a field to the chosen recipe
LRS = [FROM_RECIPE, 1e-4, 3e-4, 1e-3, 2e-3, 5e-3]
BATCHES = [FROM_RECIPE, 16, 32, 64]
MSMIX_METHODS = ("msmix", "msmix_guard")
#: The MS-Mix knobs the page exposes: label and step (default, range and help from the method's declaration).
MSMIX_SLIDERS = {
    "alpha": ("α of Beta(α, α)", 0.1),
    "threshold": ("SASS threshold δ", 0.05),
    "mix_weight": ("Mixed-loss weight", 0.1),
    "sal_weight": ("SAL weight", 0.1),
}

settings = sidebar.render()
st.title("Training: does MS-Mix beat Mixup?")
st.markdown(
    "Train the chosen methods one after the other with **the same seed, data and backbone**; the curves update "
    "as each epoch ends. Every run is saved to the run store (`$MSMIX_RUNS_DIR` or `runs/`), so it can be "
    "overlaid later and read by the Ablation and Robustness pages. **Stop after this run** lets the run in "
    "progress finish and skips the rest; **Stop now** ends it after its current batch and keeps what it "
    "learned so far.  \n"
    "MS-Mix's intensity predictors read detached latents by default (our change: with the release's gradient "
    "paths the model sits at a constant prediction for several epochs, see `docs/findings.md`); the release's "
    "behaviour is one toggle away below. Train **3 seeds** per method to tell a gap from noise.  \n"
    "`mixup` is Mixup of the **input features**; the random pairs of the exploration pages mix the latents, as "
    "MS-Mix does: that is `manifold` (Manifold Mixup)."
)

ds, store, job, busy = jobs_view.open_training_page(settings, JOB_KEY)

msmix_knobs = method_knobs("msmix")
jobs_view.restore_training_form(job)  # a reloaded page shows the form of the job it follows
with st.form("training_form", border=True):
    methods = st.multiselect(
        "Methods", list(METHODS), key=page_state.bind("tr_methods", DEFAULT_METHODS, page_state.subset(list(METHODS)))
    )
    c1, c2, c3, c4, c5 = st.columns([1.2, 1, 1, 1, 1])
    recipe = c1.selectbox(
        "Recipe",
        list(RECIPES),
        key=page_state.bind("tr_recipe", TrainConfig.recipe, page_state.choice(list(RECIPES))),
        help=recipes_help(),
    )
    epochs = int(
        c2.number_input(
            "Epochs (a cap; early stopping)",
            1,
            200,
            key=page_state.bind("tr_epochs", 10, page_state.number(1, 200, int)),
        )
    )
    n_seeds = int(
        c3.number_input(
            "Seeds per method",
            1,
            5,
            key=page_state.bind("tr_seeds", 3, page_state.number(1, 5, int)),
            help="Counted up from the sidebar's seed.",
        )
    )
    lr = c4.select_slider("Learning rate", LRS, key=page_state.bind("tr_lr", FROM_RECIPE, page_state.choice(LRS)))
    batch_size = c5.select_slider(
        "Batch size", BATCHES, key=page_state.bind("tr_batch", FROM_RECIPE, page_state.choice(BATCHES))
    )
    st.caption("MS-Mix knobs (defaults: the released code's)")
    knobs = {}
    for column, (knob, (label, step)) in zip(st.columns(4), MSMIX_SLIDERS.items(), strict=True):
        declared = msmix_knobs[knob]
        low, high, _ = declared.search_range()
        knobs[knob] = column.slider(
            label,
            float(low),
            float(high),
            step=step,
            help=declared.doc,
            key=page_state.bind(f"tr_{knob}", float(declared.default), page_state.number(low, high)),
        )
    knobs["detach_predictor_input"] = not st.toggle(
        "Release gradient paths: SAL and SIG train the encoders through the predictors",
        key=page_state.bind("tr_attached", not msmix_knobs["detach_predictor_input"].default, page_state.flag),
        help="Off (msmix's default): the intensity predictors read detached latents. On: as in the released code.",
    )
    run_clicked = st.form_submit_button("Run", type="primary", disabled=busy)

if run_clicked:
    with data.user_errors():
        training = {
            "recipe": recipe,
            "epochs": epochs,
            "lr": None if lr == FROM_RECIPE else float(lr),
            "batch_size": None if batch_size == FROM_RECIPE else int(batch_size),
        }
        configs = config_grid(
            {m: (m, {}) for m in methods},
            range(settings.seed, settings.seed + n_seeds),
            [settings.backbone],
            training=training,
            method_knobs=dict.fromkeys(MSMIX_METHODS, knobs),
            seed_major=True,
        )
        job = jobs_view.start_job(ds, configs, store)
    jobs_view.keep_job(JOB_KEY, job)
    busy = True

past = {run.id: run for run in store.list() if run.config.get("dataset") == ds.name}
own = set(job.progress().run_ids.values()) if job is not None else set()
choices = [run_id for run_id in past if run_id not in own]
c1, c2 = st.columns([4, 1])
overlay = c1.multiselect(
    "Overlay stored runs",
    choices,
    key=page_state.bind("tr_overlay", [], lambda text: [i for i in text.split(page_state.SEPARATOR) if i in choices]),
    format_func=lambda run_id: jobs_view.run_caption(past[run_id]),
    help="Runs of this dataset from the run store: this session's earlier jobs, other sessions', older ones "
    "(the Runs page links here with a group's runs).",
)
each_seed = c2.toggle(
    "Each seed",
    key=page_state.bind("tr_each", False, page_state.flag),
    help="Runs of one method (or overlaid runs trained alike) are drawn as their mean ± std over seeds; "
    "on: each seed's own line too, thin.",
)
jobs_view.damaged_warning(store)


polling = jobs_view.poll_interval(job, busy)


@st.fragment(run_every=polling)
def live() -> None:
    """Redrawn every second while the job trains (its curves at most every 5 s): the page never waits for it."""
    if job is None and not overlay:
        st.info("Choose methods and press **Run** (a few seconds per epoch on the small synthetic data).")
    histories, keys, labels = {}, {}, {}
    if job is not None:
        progress = jobs_view.progress_panel(job, key="tr")
        histories |= jobs_view.histories_to_draw("tr_drawn", job, progress)
        trained = {"dataset": ds.name}
        keys |= {name: experiment_key(c.to_dict() | trained) for name, c in zip(job.names, job.configs, strict=True)}
        labels |= {name: config.display_label for name, config in zip(job.names, job.configs, strict=True)}
    with data.user_errors():
        for run_id in overlay:
            caption = jobs_view.run_caption(past[run_id])
            histories[caption] = store.load(run_id).history  # fresh: it may still train
            keys[caption] = past[run_id].experiment_key
            labels[caption] = past[run_id].config.get("label", past[run_id].config["method"])
    groups = same_experiment(keys, labels)
    frame = history_frame(histories)
    metrics = list(dict.fromkeys(frame["metric"])) or ["MAE"]
    metric = st.selectbox("Curve", metrics, index=metrics.index("MAE"), key="tr_metric", disabled=frame.empty)
    # drawn empty before the first epoch: the browser has loaded its charting code by the time one arrives
    figure = training_curves(frame, metric, groups=groups, each_run=each_seed)
    st.plotly_chart(figure, width="stretch", key="tr_curves")
    if frame.empty:
        st.caption("Waiting for the first epoch…" if job is not None else "The curves of your runs appear here.")
    else:
        for warning in learning_warnings(histories):
            st.warning(warning)
        st.subheader("Best-validation epoch of each run (test metrics)")
        jobs_view.table_with_download(summary_table(histories, keys=keys), "training_comparison.csv", key="tr_table")
        if job is not None and not job.is_alive():
            verdict(job)
    jobs_view.rerun_when_done(job, polling)


def same_experiment(keys: dict[str, str], labels: dict[str, str]) -> dict[str, str]:
    """Runs trained alike (one experiment key: the seeds of a method, overlaid runs of the same settings) as one
    group of curves, named by label and key; a run alone stays its own line."""
    counts = Counter(keys.values())
    return {name: f"{labels[name]} · {key}" for name, key in keys.items() if counts[key] > 1}


def verdict(job: TrainingJob) -> None:
    """The finished job's methods over their seeds, and what the paired tests say, in words."""
    runs = [store.load(run_id) for run_id in job.progress().run_ids.values()]
    table = store.table(runs)
    labels = set(table["label"]) if not table.empty else set()
    metric = PRIMARY_METRICS.get(ds.metrics, "MAE")
    st.subheader("Over the seeds: mean ± std, and is the gap more than noise?")
    for baseline in ("none", "mixup"):
        if baseline not in labels or len(labels) < 2:
            continue
        with data.user_errors():
            compared = compare_runs(table, baseline=baseline, metrics=[metric, "MAE", "Corr"])
        for sentence in significance_sentences(compared, metric):
            st.markdown(f"- {sentence}")
    with data.user_errors():
        seeds_table = format_table(compare_runs(table, baseline=None))
    if seeds_table.empty:  # say why, never an empty table
        st.info(
            jobs_view.partial_note(job.progress())
            or "No run of this job finished (see above why): there is nothing to average over seeds."
        )
    else:
        jobs_view.table_with_download(seeds_table, "training_seeds.csv", key="tr_seed_table")
    st.caption("Why MS-Mix's defaults differ from the release, measured over 5 seeds: `docs/findings.md`.")


live()
