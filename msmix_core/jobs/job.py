"""Training jobs that run in a separate process and report progress a page can poll.

A :class:`TrainingJob` trains a list of :class:`~msmix_core.training.TrainConfig` one after the
other in its own process (:class:`~msmix_core.jobs.worker.TrainingProcess`), so a page (or a
notebook) stays responsive; with ``workers > 1`` that process hands the runs to a
:class:`~msmix_core.training.executors.LocalPoolExecutor` and several train at once. A process,
not a thread: model initialisation and dropout draw from torch's global random generator, which
every thread of a process shares, so two trainings (or a page building a model) in one process
would disturb each other's draws. In its own process a run gives the same numbers for the same
seed, whatever else the app does. A thread of the job relays the process's events into the
snapshot that :meth:`TrainingJob.progress` returns.

Each browser session keeps its own job object, so two sessions never share progress or results;
a reloaded page (a new session) finds its job again with :func:`find_job` when it kept the job's
id, and may only watch it: a job is controlled by its ``owner`` (a secret of the session that
started it, :meth:`TrainingJob.controlled_by`), never by whoever knows its id. Every run goes to
the run store as it trains, so nothing finished is lost either way.
Jobs wait their turn in a server-wide :class:`~msmix_core.jobs.queue.TrainingQueue` before their
process starts. :meth:`TrainingJob.progress` returns an immutable snapshot, taken under a lock,
with the per-epoch history of every run, the job's place in line while it waits, and the time
left: computed from what the job has done (the wall time of its epochs, the overhead of its
ended runs) and the epochs it has left, never from a clock that restarts, so a reloaded page
shows the same estimate.
"""

from __future__ import annotations

import copy
import hmac
import statistics
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from msmix_core.data.schema import MSADataset
from msmix_core.errors import MsmixError
from msmix_core.jobs.queue import Ticket, TrainingQueue, default_queue
from msmix_core.jobs.worker import TrainingProcess, prestart
from msmix_core.runs import RunStatus, RunStore
from msmix_core.training import EpochEvent, TrainConfig

#: How many started jobs :func:`find_job` remembers (the oldest are forgotten first).
JOBS_REMEMBERED = 64
#: Stored runs per method whose epoch times set that method's cost in the time-left estimate.
STORED_RUNS_PER_METHOD = 5
#: Seconds between two reads of the stored runs' epoch costs while a job waits in the queue.
COSTS_REFRESH = 15.0

_started: dict[str, TrainingJob] = {}
_started_lock = threading.Lock()


def find_job(job_id: str | None) -> TrainingJob | None:
    """A job started in this process by its :attr:`TrainingJob.id`, or None (unknown or forgotten).

    Lets a page that was reloaded (a new session, without the old job handle) follow the job it
    started before, when it kept the id in its URL.
    """
    with _started_lock:
        return _started.get(job_id) if job_id else None


def prepare_worker(queue: TrainingQueue | None = None) -> None:
    """Start an idle training worker (:func:`prestart`) when no job trains or waits: its start-up (an
    interpreter importing torch) then takes no CPU from a training, whose time left would jump."""
    if not (queue or default_queue()).busy():
        prestart()


def epoch_costs(methods: Sequence[str], observed: Mapping[str, float], stored: Mapping[str, float]) -> dict[str, float]:
    """Seconds per epoch of each method, to weigh a job's epochs by: methods differ (an MS-Mix epoch
    costs several of no mixing), so a job that starts with a cheap one would otherwise promise too little.

    ``observed``: this job's mean epoch time per method so far; ``stored``: the median epoch time of
    earlier stored runs of the method (same backbone and data), scaled by how this job's observed
    methods compare with their stored times (the machine may be busier now). A method known neither
    way costs the mean of the known ones; with nothing known every epoch weighs the same.
    """
    costs = {m: observed[m] for m in methods if m in observed}
    ratios = [observed[m] / stored[m] for m in costs if stored.get(m, 0) > 0]
    scale = statistics.median(ratios) if ratios else 1.0
    costs |= {m: stored[m] * scale for m in methods if m not in costs and stored.get(m, 0) > 0}
    fill = statistics.mean(costs.values()) if costs else 1.0
    return {m: costs.get(m, fill) for m in methods}


def stored_epoch_costs(store: RunStore, dataset: str, configs: Sequence[TrainConfig]) -> dict[str, float]:
    """Median epoch wall time per method of ``configs`` over the finished runs in ``store`` with the same
    backbone and dataset (the newest :data:`STORED_RUNS_PER_METHOD` of each); methods never trained are left out."""
    wanted = {(c.method, c.backbone) for c in configs}
    times: dict[str, list[float]] = {}
    runs_seen: dict[str, int] = {}
    for run in store.list():  # newest first
        key = (run.config.get("method"), run.config.get("backbone"))
        if key not in wanted or run.config.get("dataset") != dataset or run.status != RunStatus.FINISHED:
            continue
        method = key[0]
        if runs_seen.get(method, 0) < STORED_RUNS_PER_METHOD:
            runs_seen[method] = runs_seen.get(method, 0) + 1
            times.setdefault(method, []).extend(h["wall_time"] for h in run.history if "wall_time" in h)
    return {m: statistics.median(t) for m, t in times.items() if t}


def run_names(configs: Sequence[TrainConfig]) -> list[str]:
    """A display name per config: its display label, with the seed added when a label has several seeds."""
    labels = [c.display_label for c in configs]
    names = [
        f"{c.display_label} (seed {c.seed})" if labels.count(c.display_label) > 1 else c.display_label for c in configs
    ]
    if len(set(names)) != len(names):
        raise MsmixError("two runs of this job have the same method label and seed: give each its own label")
    return names


@dataclass(frozen=True)
class JobProgress:
    """A snapshot of a job.

    ``fraction``: work done over the work the job takes at most, in epochs weighed by their method's
    cost (:func:`epoch_costs`; runs that ended early count what they trained; 1.0 when finished).
    ``eta``: seconds left (None until an epoch cost is known: this job's epochs or stored runs').
    ``histories``: per run name, the epoch records so far; ``run_ids``: per run name, its stored id.
    ``position``: the job's place in the server's training queue while it waits (1: next), else None;
    ``eta`` then includes the wait; ``slots``: how many trainings that queue runs at once.
    ``stop_request``: ``"now"`` or ``"after_run"`` once Stop was pressed.
    """

    status: RunStatus  # running, then finished, stopped (TrainingJob.stop) or failed (also if its process dies)
    names: list[str]
    runs_done: int
    current: str | None
    fraction: float
    elapsed: float
    eta: float | None
    histories: dict[str, list[dict[str, Any]]]
    run_ids: dict[str, str]
    error: str | None = None
    run_status: dict[str, RunStatus] = field(default_factory=dict)
    position: int | None = None
    slots: int = 1
    stop_request: str | None = None

    @property
    def running(self) -> bool:
        return self.status == RunStatus.RUNNING


class TrainingJob:
    """Train ``configs`` in order on ``dataset`` in a background process; poll :meth:`progress`.

    ``store`` (a :class:`RunStore`, or None to keep nothing) records every run as it trains.
    :meth:`stop` asks the current run to end after its current batch: it is kept as a ``stopped``
    run with its history, and the runs not yet started are skipped; ``stop(after_run=True)`` lets
    the current run train to its end first. An error in a run (bad knob,
    diverged model) ends the job as ``failed`` with the message; the failed run is in the store.
    ``workers > 1`` trains that many runs at a time, each in a pool process on one torch thread
    (the numbers of ``threads=1``; it needs a ``store``, which records each run once it ended): a
    failed run is stored and the others go on, the job ends ``failed`` naming the failures. A job
    never trains in more processes than ``queue`` has slots: ``workers`` is capped at them.
    The process starts when ``queue`` (default: the server's :func:`default_queue`) has the job's
    slots free. ``owner``: a secret of whoever started the job (see :meth:`controlled_by`).
    """

    def __init__(
        self,
        dataset: MSADataset,
        configs: Sequence[TrainConfig],
        store: RunStore | None = None,
        workers: int = 1,
        *,
        owner: str | None = None,
        queue: TrainingQueue | None = None,
    ) -> None:
        if not configs:
            raise MsmixError("nothing to train: choose at least one method")
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise MsmixError(f"workers must be an integer >= 1, got {workers!r}")
        self._queue = queue or default_queue()
        workers = min(workers, self._queue.slots)  # a job never trains in more processes than it holds slots
        if workers > 1 and store is None:
            raise MsmixError("a job with workers > 1 records its runs: give it a RunStore")
        self.dataset = dataset
        self.configs = list(configs)
        self.names = run_names(self.configs)
        self.store = store
        self.workers = workers
        self.id = uuid.uuid4().hex[:12]
        self._owner = owner
        self._ticket: Ticket | None = None
        self._stop = threading.Event()
        self._stop_request: str | None = None
        self._process: TrainingProcess | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._status = RunStatus.RUNNING
        self._error: str | None = None
        self._start = 0.0
        self._end: float | None = None
        self._active: dict[int, float] = {}  # runs training now -> share of their current epoch's batches done
        self._run_times: dict[int, list[float]] = {}  # run index -> [start, end] (end once it ended)
        self._histories: dict[str, list[dict[str, Any]]] = {name: [] for name in self.names}
        self._run_ids: dict[str, str] = {}
        self._run_status: dict[str, RunStatus] = {}
        self._stored_costs: dict[str, float] = {}  # set once the process is starting (reading the store takes time)

    def start(self) -> TrainingJob:
        """Start the training process and the thread that relays its progress (once); return the job."""
        if self._thread is not None:
            raise MsmixError("this job was already started: create a new TrainingJob to train again")
        self._start = time.perf_counter()
        self._ticket = self._queue.join(self.workers, self._seconds_left)
        self._queue.wait(self._ticket, timeout=0)  # free slots are taken now: the page never shows a needless wait
        self._thread = threading.Thread(target=self._work, name="msmix-training", daemon=True)
        self._thread.start()
        with _started_lock:
            _started[self.id] = self
            while len(_started) > JOBS_REMEMBERED:
                del _started[next(iter(_started))]
        return self

    def controlled_by(self, owner: str | None) -> bool:
        """Whether ``owner`` is the secret this job was started with (a job started without one has no controller)."""
        return self._owner is not None and owner is not None and hmac.compare_digest(self._owner, owner)

    @property
    def can_stop_after_run(self) -> bool:
        """Whether :meth:`stop` can let the current run end first (not in a pool, whose runs train at once)."""
        return self.workers == 1

    def stop(self, *, after_run: bool = False) -> None:
        """Ask the job to stop: now (the run in progress ends after its batch, stored ``stopped``) or, with
        ``after_run``, once the current run has trained to its end; the runs not yet started are skipped.
        A job still waiting in the queue leaves it. A later :meth:`stop` without ``after_run`` hurries it."""
        if after_run and not self.can_stop_after_run:
            raise MsmixError("a job training in a pool stops its runs at once: use stop() without after_run")
        with self._lock:
            if self._stop_request != "now":
                self._stop_request = "after_run" if after_run else "now"
            process = self._process
        if not after_run:
            self._stop.set()
        if self._ticket is not None and self._queue.withdraw(self._ticket):  # it was waiting: it never starts
            self._stop.set()
        if process is not None:
            process.stop(after_run=after_run)

    @property
    def pid(self) -> int | None:
        """The training process's id, None before it starts."""
        with self._lock:
            return None if self._process is None else self._process.pid

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the job to end (at most ``timeout`` seconds); True when the job is over."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.is_alive()

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # The trainer's callbacks, with the index of the run's config, as the training process reports them.
    def on_train_start(self, index: int, info: dict[str, Any]) -> None:
        with self._lock:
            self._run_times[index] = [time.perf_counter()]
            if info["run_id"] is not None:
                self._run_ids[self.names[index]] = info["run_id"]
            self._run_status[self.names[index]] = RunStatus.RUNNING
            self._active[index] = 0.0

    def on_batch_end(self, index: int, step: int, total: int) -> None:
        with self._lock:
            self._active[index] = step / max(total, 1)

    def on_epoch_end(self, index: int, event: EpochEvent) -> None:
        with self._lock:
            self._histories[self.names[index]].append(event.to_dict())
            self._active[index] = 0.0

    def on_run_end(self, index: int, status: RunStatus, run_id: str | None) -> None:
        with self._lock:
            self._run_status[self.names[index]] = status
            if run_id is not None:
                self._run_ids[self.names[index]] = run_id
            self._active.pop(index, None)
            self._run_times.setdefault(index, [time.perf_counter()]).append(time.perf_counter())

    def _work(self) -> None:
        """The relay thread: start the training process, apply its events, record how it ended."""
        process = None
        try:
            if not self._stop.is_set() and self._wait_turn():
                process = TrainingProcess(self.dataset, self.configs, self.store, self.workers)
                with self._lock:
                    self._process = process
                    request = self._stop_request
                if request is not None:  # stop() came before the process existed
                    process.stop(after_run=request == "after_run")
                status, error = self._relay(process)
            else:  # stopped while it waited for its turn
                status, error = RunStatus.STOPPED, None
        except Exception as exc:  # it could not start, or its events could not be read
            status, error = RunStatus.FAILED, f"the training process failed: {type(exc).__name__}: {exc}"
        with self._lock:  # before the process has exited: its runs are stored, the page can say so
            if status == RunStatus.FAILED:
                self._run_status |= {self.names[index]: RunStatus.FAILED for index in self._active}
            self._status, self._error = status, error
            self._active.clear()
            self._end = time.perf_counter()
        if process is not None:
            process.close()
        self._queue.leave(self._ticket)
        prepare_worker(self._queue)

    def _read_stored_costs(self) -> None:
        stored = {} if self.store is None else stored_epoch_costs(self.store, self.dataset.name, self.configs)
        with self._lock:
            self._stored_costs = stored

    def _wait_turn(self) -> bool:
        """Wait for the queue to give this job its slots (True; False when it left the line). While it waits,
        the epoch costs of stored runs are read again now and then: the queue asks a waiting job how long it
        will take, and the runs of the jobs ahead of it are its best guide."""
        self._read_stored_costs()
        while not self._queue.wait(self._ticket, timeout=COSTS_REFRESH):
            if self._queue.position(self._ticket) is None:  # withdrawn (only its own wait() grants it)
                return False
            self._read_stored_costs()
        return True

    def _relay(self, process: TrainingProcess) -> tuple[str, str | None]:
        """Apply the process's events in order until its last one; return its status and error."""
        while True:
            event = process.next_event(timeout=0.5)
            if event is None:
                continue
            kind, *payload = event
            if kind == "end":
                return payload[0], payload[1]
            getattr(self, kind)(*payload)  # on_train_start, on_batch_end, on_epoch_end or on_run_end

    def _observed_costs(self) -> dict[str, float]:
        """This job's mean epoch wall time per method so far."""
        walls: dict[str, list[float]] = {}
        for name, config in zip(self.names, self.configs, strict=True):
            walls.setdefault(config.method, []).extend(h["wall_time"] for h in self._histories[name])
        return {m: statistics.mean(w) for m, w in walls.items() if w}

    def _epochs_done_and_total(self) -> tuple[float, float]:
        """Work done (epochs, the current one by its share of batches) and the work the job takes at most,
        each epoch weighed by its method's cost (:func:`epoch_costs`)."""
        cost = epoch_costs([c.method for c in self.configs], self._observed_costs(), self._stored_costs)
        done, total = 0.0, 0.0
        for index, (name, config) in enumerate(zip(self.names, self.configs, strict=True)):
            epochs = len(self._histories[name])
            done += (epochs + self._active.get(index, 0.0)) * cost[config.method]
            total += (config.epochs if self._will_train(name) else epochs) * cost[config.method]
        return done, total

    def _will_train(self, name: str) -> bool:
        """Whether the run ``name`` has epochs to come: not ended, and not cut by a Stop (Stop now ends the run
        in progress; after this run, the runs not started yet)."""
        if self._run_status.get(name, RunStatus.RUNNING) != RunStatus.RUNNING or self._stop_request == "now":
            return False
        return self._stop_request is None or name in self._run_status

    def _seconds_left_locked(self) -> float | None:
        """Seconds the job still trains (all of it before it starts): its epochs left at their cost in seconds
        (this job's epochs, else stored runs'), plus each run's overhead (model, scoring, storing) as measured
        on its ended runs; a pool shares the work among its workers. None when no epoch cost is known yet."""
        if self._status != RunStatus.RUNNING:
            return 0.0
        observed = self._observed_costs()
        if not observed and not any(m in self._stored_costs for m in (c.method for c in self.configs)):
            return None
        done, total = self._epochs_done_and_total()
        ended = [times for times in self._run_times.values() if len(times) == 2]
        walls = sum(
            h["wall_time"]
            for index, name in enumerate(self.names)
            if len(self._run_times.get(index, ())) == 2
            for h in self._histories[name]
        )
        overhead = max(sum(end - start for start, end in ended) - walls, 0.0) / len(ended) if ended else 0.0
        runs_left = sum(self._will_train(name) for name in self.names)
        return (max(total - done, 0.0) + overhead * runs_left) / max(min(self.workers, runs_left), 1)

    def _seconds_left(self) -> float | None:
        with self._lock:
            return self._seconds_left_locked()

    def progress(self) -> JobProgress:
        """A consistent snapshot of the job, safe to read from any thread."""
        ticket = self._ticket
        position = None if ticket is None else self._queue.position(ticket)
        wait = 0.0 if position is None else self._queue.wait_estimate(ticket)  # not under the lock: it asks others
        with self._lock:
            now = self._end if self._end is not None else time.perf_counter()
            elapsed = now - self._start if self._thread is not None else 0.0
            done, total = self._epochs_done_and_total()
            left = self._seconds_left_locked()
            return JobProgress(
                status=self._status,
                names=list(self.names),
                runs_done=sum(s != RunStatus.RUNNING for s in self._run_status.values()),
                current=", ".join(self.names[index] for index in sorted(self._active)) or None,
                fraction=min(done / total, 1.0) if total else 0.0,
                elapsed=elapsed,
                eta=None if left is None or wait is None else wait + left,
                histories=copy.deepcopy(self._histories),
                run_ids=dict(self._run_ids),
                error=self._error,
                run_status=dict(self._run_status),
                position=position,
                slots=self._queue.slots,
                stop_request=self._stop_request,
            )
