"""Widgets the Training, Ablation and Robustness pages share: job progress, stored runs, CSV tables."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import streamlit as st

from msmix_core.data.schema import MSADataset
from msmix_core.experiments import run_name
from msmix_core.jobs import JobProgress, TrainingJob, find_job
from msmix_core.jobs.worker import prestart
from msmix_core.runs import Run, RunStore
from ui import data
from ui.settings import Settings

#: Seconds between the redraws of a page that follows a job: often until its first epoch is drawn (the user
#: waits for a sign of life, and start-up is mostly the child's imports), then every 2 s (on a small machine
#: each redraw takes CPU from the training).
STARTING_POLL = 0.5
TRAINING_POLL = 2.0


def poll_interval(job: TrainingJob | None, training: bool) -> float | None:
    """How often the page's live fragment reruns while ``job`` is ``training``; None when nothing trains."""
    if job is None or not training:
        return None
    return TRAINING_POLL if any(job.progress().histories.values()) else STARTING_POLL


def rerun_when_polling_changes(job: TrainingJob | None, interval: float | None) -> None:
    """Redraw the whole page once when the live fragment should poll at another pace: the first epoch
    has arrived (slower), or the job has ended (no polling; Run enabled again)."""
    if interval is not None and poll_interval(job, job is not None and job.is_alive()) != interval:
        st.rerun()


def run_caption(run: Run, others: Iterable[Run] = ()) -> str:
    """A stored run in one line: what differs from ``others`` (label, knobs, epochs, date), then its id's suffix."""
    return f"{run_name(run, others)} · {run.id[-4:]}"


def session_job(key: str) -> TrainingJob | None:
    """This session's job under ``key``; after a page reload, the job whose id the URL keeps under ``key``.

    Also makes sure an idle training worker waits (:func:`prestart`), so that the next Run trains at once.
    """
    prestart()
    job = st.session_state.get(key)
    if job is None:
        job = find_job(st.query_params.get(key))
        if job is not None:
            st.session_state[key] = job
    return job


def open_training_page(settings: Settings, key: str) -> tuple[MSADataset, RunStore, TrainingJob | None, bool]:
    """What every training page starts from: the sidebar's dataset (its problems shown as one error),
    the run store, this session's job under ``key`` (:func:`session_job`), and whether it still trains."""
    with data.user_errors():
        ds = data.dataset(settings)
    job = session_job(key)
    return ds, RunStore(), job, job is not None and job.is_alive()


def restore_training_form(job: TrainingJob | None) -> None:
    """Fill the Training form from the job a (reloaded) page follows, for the fields this session has not set.

    The methods, recipe, epochs, seeds, learning rate and batch size of the job's configs, and the
    MS-Mix knobs of its first MS-Mix run: what was trained, not the form's defaults.
    """
    if job is None:
        return
    first = job.configs[0]
    values = {
        "tr_methods": list(dict.fromkeys(c.method for c in job.configs)),
        "tr_recipe": first.recipe,
        "tr_epochs": first.epochs,
        "tr_seeds": len({c.seed for c in job.configs}),
        "tr_lr": first.lr,
        "tr_batch": first.batch_size,
    }
    knobs = next((c.method_kwargs for c in job.configs if c.method_kwargs), {})
    values |= {f"tr_{knob}": float(value) for knob, value in knobs.items() if not isinstance(value, bool)}
    if "detach_predictor_input" in knobs:
        values["tr_attached"] = not knobs["detach_predictor_input"]
    for key, value in values.items():
        st.session_state.setdefault(key, value)


def keep_job(key: str, job: TrainingJob) -> None:
    """Hold ``job`` in this session and its id in the URL, so that a reload can follow it."""
    st.session_state[key] = job
    st.query_params[key] = job.id


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def progress_panel(job: TrainingJob, key: str) -> JobProgress:
    """Progress bar, time spent and left, and a Stop button; returns the snapshot it drew."""
    progress = job.progress()
    if progress.running:
        eta = "estimating…" if progress.eta is None else f"about {_duration(progress.eta)} left"
        doing = f"Training {progress.current}" if progress.current else "Starting the training process"
        text = f"{doing} ({progress.runs_done}/{len(progress.names)} runs done) · {eta}"
        st.progress(progress.fraction, text=text)
        if st.button("Stop", key=f"{key}_stop", help="Ends the current run after this batch; it is kept as 'stopped'."):
            job.stop()
            st.toast("Stopping after the current batch…")
    elif progress.status == "failed":
        st.error(f"**Training failed: {progress.error}**")
    else:
        st.success(
            f"{progress.status.capitalize()}: {progress.runs_done} of {len(progress.names)} runs in "
            f"{_duration(progress.elapsed)}; every run is in the run store."
        )
    return progress


def damaged_warning(store: RunStore) -> None:
    """Name the run folders that cannot be read (they are left out of every list and table)."""
    damaged = store.damaged()
    if damaged:
        lines = "\n".join(f"- `{folder}`: {reason}" for folder, reason in damaged)
        st.error(f"**{len(damaged)} damaged run folder(s) skipped** (delete or repair them):\n{lines}")


def table_with_download(table: pd.DataFrame, filename: str, key: str) -> None:
    """Show ``table`` and offer it as a CSV download."""
    st.dataframe(table, hide_index=True, width="stretch")
    st.download_button(f"Download {filename}", data.csv(table), filename, "text/csv", key=f"{key}_csv", width="content")
