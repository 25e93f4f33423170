"""Background training, in one place: the app's jobs and the child interpreter that runs them.

- :mod:`~msmix_core.jobs.job`: :class:`TrainingJob` trains a list of configs one after the other,
  relays progress and a time-left estimate, and can be stopped; a page polls its snapshot.
- :mod:`~msmix_core.jobs.worker`: :class:`TrainingProcess`, one training in a child interpreter
  (its own torch RNG and threads), with an idle spare started ahead of time (:func:`prestart`).
"""

from msmix_core.jobs.job import JobProgress, TrainingJob, estimate_eta, find_job, run_names
from msmix_core.jobs.worker import TrainingProcess, prestart

__all__ = [
    "JobProgress",
    "TrainingJob",
    "TrainingProcess",
    "estimate_eta",
    "find_job",
    "prestart",
    "run_names",
]
