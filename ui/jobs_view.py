"""Widgets the Training, Ablation and Robustness pages share: job progress, stored runs, CSV tables.

A job is controlled only by the browser session that started it: each session holds a random
secret (:func:`session_owner`, never in the URL) that the job keeps as its owner. A page opened from
a link that names a job (``?training_job=...``: shared, or the same page reloaded, which is a new
session) shows that job read-only and says so.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable, Sequence

import pandas as pd
import streamlit as st

from msmix_core.data.schema import MSADataset
from msmix_core.experiments import run_name
from msmix_core.jobs import JobProgress, TrainingJob, find_job, prepare_worker
from msmix_core.runs import Run, RunStatus, RunStore
from msmix_core.training import TrainConfig
from ui import data, paths
from ui.settings import Settings

#: Seconds between the redraws of a page's live part while a job trains (its progress bar and text). One
#: pace from start to end: changing it would redraw the whole page, seconds of browser work on a small machine.
POLL = 1.0
#: The pace of pages whose live part reads the whole run store (Ablation, Sweeps): their tables change only
#: when a run ends, and a store of hundreds of runs takes a while to read.
STORE_POLL = 2.0
#: Where a session keeps the secret that makes it the owner of the jobs it starts.
OWNER_KEY = "msmix_owner"
#: What a page says when it shows a job this session did not start.
READ_ONLY = (
    "Read-only: this job was started in another browser session (a shared link, or this page reloaded). "
    "You can watch it; only the session that started it can stop it. **Run** starts a job of your own."
)
#: The pace of a page whose job waits in the server's training queue: only its place in line changes (it must
#: differ from the training paces above: the page redraws when its job leaves the line).
WAIT_POLL = 5.0
#: While a job trains, its curves and tables are redrawn at most this often. A changed Plotly chart costs the
#: browser tenths of a second of CPU, which the training shares on a small machine; an unchanged one almost none.
REDRAW_EVERY = 5.0


def poll_interval(job: TrainingJob | None, training: bool, every: float = POLL) -> float | None:
    """How often (``every`` seconds) the page's live fragment reruns while ``job`` is ``training`` (this session's
    job) or alive (a job it only watches); :data:`WAIT_POLL` while the job waits in the queue (a class of waiting
    pages would otherwise redraw, and Ablation's and Sweeps' read the run store, every second or two for
    nothing); None when nothing trains."""
    if job is None or not (training or job.is_alive()):
        return None
    return WAIT_POLL if job.progress().position is not None else every


def rerun_when_done(job: TrainingJob | None, interval: float | None) -> None:
    """Redraw the whole page once when the job the live part polls for has ended (Run is enabled again) or has
    left the queue (the live part then polls at its training pace)."""
    if interval is None:
        return
    if not job.is_alive() or (interval == WAIT_POLL and job.progress().position is None):
        st.rerun()


def redraw_due(drawn_at: float | None, drawn_any_epoch: bool, running: bool, now: float) -> bool:
    """Whether a training job's curves should be drawn anew: nothing drawn yet, no epoch among what was drawn
    (the first one is news), the job has ended, or the last drawing is :data:`REDRAW_EVERY` seconds old."""
    return drawn_at is None or not drawn_any_epoch or not running or now - drawn_at >= REDRAW_EVERY


def histories_to_draw(key: str, job: TrainingJob, progress: JobProgress) -> dict[str, list[dict]]:
    """``job``'s histories as the page should draw them now: the newest (in ``progress``) when
    :func:`redraw_due`, else those drawn last (kept under ``st.session_state[key]`` with the job's
    id), so that the chart stays the same between two redraws."""
    now = time.monotonic()
    job_id, drawn_at, drawn = st.session_state.get(key, (None, None, {}))
    if job_id != job.id:
        drawn_at = None
    if redraw_due(drawn_at, any(drawn.values()), progress.running, now):
        st.session_state[key] = (job.id, now, progress.histories)
        return progress.histories
    return drawn


def run_caption(run: Run, others: Iterable[Run] = ()) -> str:
    """A stored run in one line: what differs from ``others`` (label, knobs, epochs, date), then its id's suffix."""
    return f"{run_name(run, others)} · {run.id[-4:]}"


def session_owner() -> str:
    """This browser session's secret: the owner of the jobs it starts (made once per session, never shown)."""
    if OWNER_KEY not in st.session_state:
        st.session_state[OWNER_KEY] = secrets.token_urlsafe(24)
    return st.session_state[OWNER_KEY]


def controls(job: TrainingJob | None) -> bool:
    """Whether this session started ``job`` and so may stop it."""
    return job is not None and job.controlled_by(st.session_state.get(OWNER_KEY))


def start_job(dataset: MSADataset, configs: Sequence[TrainConfig], store: RunStore, workers: int = 1) -> TrainingJob:
    """A started job owned by this session (it waits in the server's training queue for a free slot)."""
    return TrainingJob(dataset, configs, store, workers, owner=session_owner()).start()


def session_job(key: str) -> TrainingJob | None:
    """This session's job under ``key``; after a page reload, the job whose id the URL keeps under ``key``
    (shown read-only unless this session started it: :func:`controls`).

    Also makes sure an idle training worker waits when no job trains (:func:`prepare_worker`), so that the
    next Run trains at once.
    """
    prepare_worker()
    job = st.session_state.get(key)
    if job is None:
        job = find_job(st.query_params.get(key))
        if job is not None:
            st.session_state[key] = job
    return job


def open_training_page(settings: Settings, key: str) -> tuple[MSADataset, RunStore, TrainingJob | None, bool]:
    """What every training page starts from: the sidebar's dataset (its problems shown as one error),
    the run store, this session's job under ``key`` (:func:`session_job`), and whether a job this
    session controls still trains (then Run waits; a job it only watches does not hold Run back)."""
    with data.user_errors():
        ds = data.dataset(settings)
        job = session_job(key)  # a bad $MSMIX_TRAINING_SLOTS is one line too
    return ds, RunStore(), job, controls(job) and job.is_alive()


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


def progress_text(progress: JobProgress) -> str:
    """What a running job is doing, in words: its place in the server's queue, or the run it trains (or the step
    between two runs), runs done, time left."""
    if progress.position is not None:
        slots = progress.slots
        eta = (
            "time left unknown until the jobs ahead have a pace"
            if progress.eta is None
            else (f"about {_duration(progress.eta)} left, the wait included")
        )
        return (
            f"Waiting for a free training slot: number {progress.position} in line (this server trains "
            f"{slots} job{'s' if slots > 1 else ''} at a time) · {eta}"
        )
    if progress.stop_request == "after_run" and progress.current:
        doing = f"Finishing {progress.current}, then stopping"
    elif progress.current:
        doing = f"Training {progress.current}"
    elif progress.runs_done == 0:
        doing = "Starting the training process"
    elif progress.runs_done == len(progress.names):
        doing = "Storing the last run"
    else:
        doing = "Starting the next run"
    eta = "estimating…" if progress.eta is None else f"about {_duration(progress.eta)} left"
    return f"{doing} ({progress.runs_done}/{len(progress.names)} runs done) · {eta}"


#: The help of 'Stop after this run', in the words of the runs it keeps ('Stop now': :func:`stop_now_help`).
STOP_AFTER_RUN_HELP = (
    "The run in progress trains to its end and is stored as finished; the runs not started yet are skipped."
)


def stop_now_help(workers: int) -> str:
    """What 'Stop now' does to a job that trains ``workers`` runs at a time: every run in progress stops."""
    if workers == 1:
        ends = "Ends the run in progress after its current batch: it is stored"
    else:
        ends = (
            f"Ends every run in progress (this job trains {workers} at a time) after its current batch: each is stored"
        )
    return (
        f"{ends} as 'stopped' with the epochs it trained (left out of the tables over seeds); the runs not started "
        "yet are skipped. A job waiting for a training slot leaves the line."
    )


def stop_buttons(job: TrainingJob, progress: JobProgress, key: str) -> None:
    """'Stop after this run' (when the job can) and 'Stop now', each saying what it does."""
    c1, c2, _ = st.columns([1, 1, 3])
    after_run = job.can_stop_after_run and progress.position is None
    if after_run and c1.button(
        "Stop after this run",
        key=f"{key}_stop_after",
        help=STOP_AFTER_RUN_HELP,
        disabled=progress.stop_request is not None,
    ):
        job.stop(after_run=True)
        st.toast("Stopping once the run in progress has ended…")
    if (c2 if after_run else c1).button("Stop now", key=f"{key}_stop", help=stop_now_help(job.workers)):
        job.stop()
        st.toast("Stopping after the current batch…")


def partial_note(progress: JobProgress) -> str | None:
    """Why a stopped job's tables hold fewer runs than it was asked for, in one paragraph (None unless stopped)."""
    if progress.status != RunStatus.STOPPED:
        return None
    finished = [n for n in progress.names if progress.run_status.get(n) == RunStatus.FINISHED]
    stopped = [n for n in progress.names if progress.run_status.get(n) == RunStatus.STOPPED]
    skipped = len(progress.names) - len(progress.run_status)
    if not progress.run_status:
        return "Stopped before any run began (it was waiting for a training slot): nothing was trained or stored."
    how = {"after_run": "**Stop after this run**", "now": "**Stop now**"}.get(progress.stop_request, "a stop")
    parts = [f"{len(finished)} of {len(progress.names)} runs finished"]
    parts += [
        f"'{name}' was stopped after {len(progress.histories.get(name, []))} epoch(s) (stored as 'stopped', left "
        "out of the tables over seeds)"
        for name in stopped
    ]
    if skipped:
        parts.append(f"{skipped} run(s) never started")
    return (
        f"Partial results, stopped by {how}: {'; '.join(parts)}. The tables below hold only the finished runs, "
        "so a method may have fewer seeds than asked (or none)."
    )


def progress_panel(job: TrainingJob, key: str) -> JobProgress:
    """Progress bar (or the job's place in the queue), time left and the Stop buttons for the session that
    started the job; a read-only note for any other; how it ended, and why its results are partial after a
    Stop. Returns the snapshot it drew."""
    progress = job.progress()
    if progress.running:
        st.progress(progress.fraction, text=progress_text(progress))
        if controls(job):
            stop_buttons(job, progress, key)
        else:
            st.caption(READ_ONLY)
    elif progress.status == RunStatus.FAILED:
        st.error(f"**Training failed: {progress.error}**")
    else:
        st.success(
            f"{progress.status.capitalize()}: {progress.runs_done} of {len(progress.names)} runs in "
            f"{_duration(progress.elapsed)}; every run is in the run store."
        )
        note = partial_note(progress)
        if note:
            st.warning(note)
    return progress


def damaged_warning(store: RunStore) -> None:
    """Name the run folders that cannot be read (they are left out of every list and table)."""
    damaged = store.damaged()
    if damaged:
        lines = "\n".join(f"- `{paths.shown(folder, store.root)}`: {reason}" for folder, reason in damaged)
        st.error(f"**{len(damaged)} damaged run folder(s) skipped** (delete or repair them):\n{lines}")


def table_with_download(table: pd.DataFrame, filename: str, key: str) -> None:
    """Show ``table`` and offer it as a CSV download."""
    st.dataframe(table, hide_index=True, width="stretch")
    st.download_button(f"Download {filename}", data.csv(table), filename, "text/csv", key=f"{key}_csv", width="content")
