"""Ablation: which part of MS-Mix helps? SASS, SIG and SAL switched off one at a time, over seeds."""

from __future__ import annotations

import streamlit as st

from msmix_core.experiments import (
    ABLATIONS,
    DEFAULT_ABLATIONS,
    FULL_LABEL,
    ablation_label,
    ablation_sets,
    ablation_variants,
    config_grid,
)
from msmix_core.figures import difference_dots
from msmix_core.metrics import PRIMARY_METRICS
from msmix_core.runs import MIN_PAIRED_SEEDS, ComparisonSet, compare_runs, format_table, paired_differences
from ui import comparison, data, jobs_view, run_links, sidebar

JOB_KEY = "ablation_job"  #: session-state and URL key of the job

settings = sidebar.render()
st.title("Ablation: which part of MS-Mix helps?")
st.markdown(
    "MS-Mix has three parts: **SASS** (mix only similar pairs; off: random partners), **SIG** (per-modality "
    "ratios from emotional intensity; off: one Beta(α, α) ratio) and **SAL** (pull the batch distribution of "
    "intensities towards that of |label|; off: no alignment loss). Each variant is trained over several seeds "
    "and compared with full MS-Mix by a paired t-test on the seeds both share "
    f"(`*`: significantly better than `{FULL_LABEL}`, `†`: significantly worse, p < 0.05). Only runs trained "
    "alike are compared: same data, backbone, epochs and "
    "every other setting but the switched-off part. Finished runs are kept in the run store, so a reload loses "
    "nothing."
)

ds, store, job, busy = jobs_view.open_training_page(settings, JOB_KEY)
run_links.say_why_not("ablation", settings.backbone, ds, store)  # a link's runs this page cannot compare

with st.form("ablation_form"):
    c1, c2, c3 = st.columns([2, 1, 1])
    variants = c1.multiselect(
        "Variants",
        list(ABLATIONS),
        list(DEFAULT_ABLATIONS),
        key="ab_variants",
        format_func=ablation_label,
        help="Each MS-Mix part switched off in turn; 'attached (release)' keeps every part and lets the SAL and "
        "SIG gradients reach the encoders through the intensity predictors, as the released code does "
        "(msmix stops them at the predictors by default: docs/findings.md).",
    )
    n_seeds = int(
        c2.number_input(
            "Seeds",
            1,
            10,
            3,
            key="ab_seeds",
            help=f"Counted up from the sidebar's. Paired tests need at least {MIN_PAIRED_SEEDS} seeds.",
        )
    )
    epochs = int(c3.number_input("Epochs per run", 1, 200, 10, key="ab_epochs"))
    launch = st.form_submit_button("Run ablation", type="primary", disabled=busy)

if launch:
    with data.user_errors():
        seeds = range(settings.seed, settings.seed + n_seeds)
        grid = config_grid(
            ablation_variants(variants), seeds, [settings.backbone], training={"epochs": epochs}, seed_major=True
        )
        job = jobs_view.start_job(ds, grid, store)
    jobs_view.keep_job(JOB_KEY, job)
    busy = True


polling = jobs_view.poll_interval(job, busy, every=jobs_view.STORE_POLL)


@st.fragment(run_every=polling)
def results() -> None:
    """The table over stored runs, refreshed while an ablation trains."""
    if job is not None:
        jobs_view.progress_panel(job, key="ab")
    jobs_view.damaged_warning(store)
    sets = ablation_sets(store.list(), ds.name, settings.backbone)
    if not sets:
        st.info(f"No finished MS-Mix runs with `{settings.backbone}` on this data yet: run the ablation above.")
    else:
        if not any(len(s.variants) > 1 for s in sets):
            st.info(
                "No ablation to compare yet: no stored variant was trained with the same settings as full MS-Mix "
                "(same epochs, lr, knobs...). Run the ablation above; each set of like runs is shown on its own."
            )
        chosen = comparison.choose_set(sets, "ab_set", job)
        compared(chosen)
    jobs_view.rerun_when_done(job, polling)


def compared(chosen: ComparisonSet) -> None:
    """The chosen set's means over the seeds every variant has, its paired tests against full MS-Mix on the
    same seeds, and their differences."""
    others = [name for name in chosen.variants if name != FULL_LABEL]
    kept = st.multiselect(
        "Variants compared",
        others,
        default=others,
        key=f"ab_variants_{chosen.settings_key}",
        help="Full MS-Mix and these, on the seeds they all have: leave out a variant trained on fewer seeds to "
        "compare the others on more.",
    )
    names = [FULL_LABEL, *kept]
    runs = chosen.on_shared_seeds(names).table()
    with data.user_errors():
        long = compare_runs(runs, baseline=FULL_LABEL)
    wide = format_table(long, p_values=True)
    tested = long[long["note"] != "baseline"]
    if not tested.empty and (tested["n_paired"] < MIN_PAIRED_SEEDS).all():
        st.info(
            f"No paired test yet: each variant shares fewer than {MIN_PAIRED_SEEDS} seeds with full MS-Mix. "
            "A t-test on two pairs has one degree of freedom and calls tiny gaps significant when the two "
            f"seeds happen to agree; train at least {MIN_PAIRED_SEEDS} seeds to tell a gap from noise."
        )
    st.subheader(f"Test metrics over seeds: mean ± std ({settings.backbone})")
    unpaired = chosen.unpaired(names)
    if unpaired:
        st.caption(f"Not in the table: {unpaired}.")
    jobs_view.table_with_download(wide, "ablation.csv", key="ab_table")
    if tested.empty:
        return
    metrics = list(dict.fromkeys(long["metric"]))
    primary = PRIMARY_METRICS.get(ds.metrics, metrics[0])
    metric = st.selectbox("Chart metric", metrics, index=metrics.index(primary), key="ab_metric")
    points = paired_differences(runs, FULL_LABEL, metric)
    if points.empty:
        st.caption(f"No variant shares a seed with full MS-Mix ({FULL_LABEL!r}) yet: no difference to draw.")
        return
    st.plotly_chart(difference_dots(long, points, metric, FULL_LABEL), width="stretch", key="ab_chart")
    st.caption(
        f"Each variant minus full MS-Mix on the seeds both have: a grey dot per seed, the blue dot their mean and "
        f"its whisker the 95 % interval (from {MIN_PAIRED_SEEDS} shared seeds). A whisker that crosses the dashed "
        "line at 0 is a gap the seeds cannot tell from noise. The means themselves are in the table above."
    )
    with st.expander("All statistics (long table with deltas, intervals and p-values)"):
        jobs_view.table_with_download(long, "ablation_long.csv", key="ab_long")


results()
