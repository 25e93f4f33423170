"""Background training, in one place: the app's jobs, the queue they wait in, and the child interpreter that runs them.

- :mod:`~msmix_core.jobs.job`: :class:`TrainingJob` trains a list of configs one after the other,
  relays progress and a time-left estimate, and can be stopped (now, or after the current run);
  a page polls its snapshot.
- :mod:`~msmix_core.jobs.queue`: :class:`TrainingQueue`, the server-wide line of jobs: at most
  ``$MSMIX_TRAINING_SLOTS`` training processes at once (default: the number of cores).
- :mod:`~msmix_core.jobs.worker`: :class:`TrainingProcess`, one training in a child interpreter
  (its own torch RNG and threads), with an idle spare started ahead of time (:func:`prestart`).
"""

from msmix_core.jobs.job import JobProgress, TrainingJob, find_job, prepare_worker, run_names
from msmix_core.jobs.queue import SLOTS_ENV, TrainingQueue, default_queue
from msmix_core.jobs.worker import TrainingProcess, prestart

__all__ = [
    "SLOTS_ENV",
    "JobProgress",
    "TrainingJob",
    "TrainingProcess",
    "TrainingQueue",
    "default_queue",
    "find_job",
    "prepare_worker",
    "prestart",
    "run_names",
]
