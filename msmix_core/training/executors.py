"""Executors: how a grid of training runs is trained, one after another or in a pool of processes.

Every grid (``msmix compare``, ``ablate``, ``sweep``, the final scoring of ``tune``) hands its
configs to an :class:`Executor`, which trains them and records each run in the run store:

- :class:`SerialExecutor` trains in this process, one run after another, and lets the trainer
  record each run as it goes (a run in progress is readable, and ends ``interrupted`` on Ctrl-C);
- :class:`LocalPoolExecutor` trains each run in its own process (``spawn``: a fresh interpreter,
  one torch thread), :class:`~msmix_core.training.ray_executor.RayExecutor` as one Ray task (its own
  module, :mod:`msmix_core.training.ray_executor`). The worker trains without a store and
  returns the plain outcome; the driver records it with :meth:`RunStore.record`, so a run shows up
  whole once it has ended. A run that fails in a worker is returned as a ``failed`` outcome and
  stored so, with its error, and the other runs go on. The pool's workers send their trainer
  events back (``on_event``: progress, and the history of each run in flight), so that on Ctrl-C
  or SIGTERM the driver stores the runs in flight as ``interrupted`` with the epochs they did.

Same config, same numbers, whatever the executor: every random draw of a run comes from its seed
(see :func:`msmix_core.training.build_models`), and a fresh process shares its generators with no
one. Bit for bit, that holds for runs on the same number of torch threads: torch's CPU reductions
split their sums by thread count, and after a few epochs the last bits that differ grow into
different metrics. So every executor trains each run on :data:`THREADS` torch thread unless asked
otherwise (``threads=N``, the same for all three): pool workers share the cores, and more threads
per worker oversubscribe them (``OMP_NUM_THREADS=1`` is not the same: it changes more than torch's
thread count). Every run records its count (``torch_threads`` in its config). A pool pays a process start-up (importing
torch, receiving the dataset) once per worker.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import queue
import signal
import tempfile
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, NamedTuple

import torch

from msmix_core.data.schema import MSADataset
from msmix_core.errors import MsmixError
from msmix_core.runs import Run, RunStatus, RunStore
from msmix_core.runs.files import signals_deferred
from msmix_core.training import EpochEvent, StopFlag, TrainConfig, train
from msmix_core.training.config import THREADS, torch_threads

#: Called in the driver each time a run has been stored: ``(index of its config, the stored run)``.
OnRun = Callable[[int, Run], None]
#: Called in the driver for a run's trainer events: ``(index, "on_train_start", info)``,
#: ``(index, "on_batch_end", step, total)``, ``(index, "on_epoch_end", EpochEvent)``.
OnEvent = Callable[..., None]

#: Seconds between the driver's looks at its stop flag while runs train in a pool.
_POLL = 0.2
#: Seconds the driver waits for the last events of workers it has ended.
_CLOSE_WAIT = 5.0


#: Up to this many cores, grids train serially by default: two workers on two cores leave nothing to
#: the driver and the OS, and serial training keeps each run's live record.
SERIAL_CORES = 2
DEFAULT_WORKERS_RULE = f"1 up to {SERIAL_CORES} cores, else min(cores, runs)"


def default_workers(runs: int, cores: int | None = None) -> int:
    """How many runs train at once when the user does not say: :data:`DEFAULT_WORKERS_RULE`.

    Each worker trains on one torch thread, so ``min(cores, runs)`` workers use every core once.
    """
    cores = cores or os.cpu_count() or 1
    return 1 if cores <= SERIAL_CORES else max(1, min(cores, runs))


class Grid(NamedTuple):
    """What an executor trains: configs on one dataset, into a store, with the driver's callbacks."""

    dataset: MSADataset
    configs: list[TrainConfig]
    store: RunStore
    on_run: OnRun | None
    on_event: OnEvent | None


class Executor(ABC):
    """Trains a list of configs on one dataset and records every run in a store."""

    def run(
        self,
        dataset: MSADataset,
        configs: Sequence[TrainConfig],
        store: RunStore,
        on_run: OnRun | None = None,
        on_event: OnEvent | None = None,
    ) -> list[Run]:
        """Train every config; returns the stored runs in config order (see each executor for failures)."""
        return self._train(Grid(dataset, list(configs), store, on_run, on_event))

    @abstractmethod
    def _train(self, grid: Grid) -> list[Run]:
        """How this executor trains the grid."""


#: The most torch threads per run, or processes in a pool, per core: beyond a few per core they only
#: oversubscribe the machine (and torch aborts without a message on absurd thread counts).
MAX_PER_CORE = 4


def check_count(name: str, value: Any) -> None:
    """A count of torch threads or workers: an integer from 1 to :data:`MAX_PER_CORE` per core, else a MsmixError."""
    most = MAX_PER_CORE * (os.cpu_count() or 1)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
        here = f"{MAX_PER_CORE} per core on this machine"
        raise MsmixError(f"{name} must be an integer >= 1 and at most {most} ({here}), got {value!r}")


class ForwardEvents:
    """A trainer callback that passes its events on, tagged with the index of the run's config."""

    def __init__(self, index: int, send: OnEvent) -> None:
        self.index, self.send = index, send

    def on_train_start(self, info: dict[str, Any]) -> None:
        self.send(self.index, "on_train_start", {"config": info["config"], "run_id": info["run_id"]})

    def on_batch_end(self, step: int, total: int) -> None:
        self.send(self.index, "on_batch_end", step, total)

    def on_epoch_end(self, event: EpochEvent) -> None:
        self.send(self.index, "on_epoch_end", event)


class SerialExecutor(Executor):
    """Each run trains in this process, one after another, recorded by the trainer as it goes.

    ``callbacks`` go to every :func:`~msmix_core.training.train` call. ``threads``: torch threads while
    training (default :data:`THREADS`, as in a pool or on Ray), restored after. The first failure is raised (the trainer
    stores that run as ``failed``, or ``interrupted`` on Ctrl-C, passed to ``on_run`` too); the runs after
    it do not train.
    """

    def __init__(self, callbacks: Sequence[object] = (), threads: int = THREADS) -> None:
        check_count("threads", threads)
        self.callbacks = tuple(callbacks)
        self.threads = threads

    def _train(self, grid: Grid) -> list[Run]:
        dataset, configs, store, on_run, on_event = grid
        runs = []
        with torch_threads(self.threads):
            for index, config in enumerate(configs):
                seen = _Seen()
                forward = () if on_event is None else (ForwardEvents(index, on_event),)
                try:
                    result = train(dataset, config, callbacks=(*self.callbacks, seen, *forward), store=store)
                except BaseException:
                    if on_run is not None and seen.run_id is not None:
                        on_run(index, store.load(seen.run_id))  # stored 'failed' or 'interrupted' by the trainer
                    raise
                runs.append(store.load(result.run_id))
                if on_run is not None:
                    on_run(index, runs[-1])
        return runs


def fallback_config(dataset: MSADataset, config: TrainConfig) -> dict[str, Any]:
    """What is known of a run that failed before the trainer described it (a bad knob, a dead worker)."""
    return {**config.to_dict(), "label": config.display_label, "dataset": dataset.name}


class _Seen:
    """Keeps a run's config (from ``on_train_start``) and history, to store the run however it ends."""

    def __init__(self) -> None:
        self.config: dict[str, Any] | None = None
        self.run_id: str | None = None
        self.history: list[dict[str, Any]] = []

    def on_train_start(self, info: dict[str, Any]) -> None:
        self.config, self.run_id = info["config"], info.get("run_id")

    def on_epoch_end(self, event: EpochEvent) -> None:
        self.history.append(event.to_dict())

    def outcome(self, dataset: MSADataset, config: TrainConfig, status: RunStatus, error: str | None) -> dict[str, Any]:
        """The run as :meth:`RunStore.record` takes it, ended with ``status``: metrics of its best epoch so far."""
        best = self.history[-1]["best_epoch"] if self.history else None
        metrics = {}
        if best is not None:
            metrics = {split: self.history[best - 1][f"{split}_metrics"] for split in ("valid", "test")}
        return {
            "config": self.config or fallback_config(dataset, config),
            "history": self.history,
            "status": status,
            "metrics": metrics,
            "best_epoch": best,
            "error": error,
            "weights": None,
        }


def failed_outcome(dataset: MSADataset, config: TrainConfig, error: str) -> dict[str, Any]:
    """The outcome of a run that failed before its trainer reported anything (its process died)."""
    return _Seen().outcome(dataset, config, RunStatus.FAILED, error)


def _error_text(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, MsmixError) else f"{type(exc).__name__}: {exc}"


def train_outcome(
    dataset: MSADataset, config: TrainConfig, callbacks: Sequence[object] = (), stop: StopFlag | None = None
) -> dict[str, Any]:
    """Train ``config`` without a store and return what :meth:`RunStore.record` needs, as plain data.

    A run whose training raises (a bad knob, a diverged loss) comes back as a ``failed`` outcome with
    the error and the epochs it did, so that the driver stores it and the grid goes on.
    """
    created = datetime.now(UTC)
    seen = _Seen()
    try:
        result = train(dataset, config, callbacks=(seen, *callbacks), stop=stop)
    except Exception as exc:
        return seen.outcome(dataset, config, RunStatus.FAILED, _error_text(exc)) | {"created": created}
    weights = None
    if config.save_weights:
        weights = {
            name: {key: value.detach().cpu() for key, value in module.state_dict().items()}
            for name, module in (("backbone", result.backbone), ("method", result.method))
        }
    return {
        "config": seen.config,
        "history": result.history,
        "status": result.status,
        "metrics": {"valid": result.valid_metrics, "test": result.test_metrics},
        "best_epoch": result.best_epoch,
        "weights": weights,
        "created": created,
    }


_worker: dict[str, Any] = {}


def _init_worker(dataset_file: str, threads: int, events: Any, stop: Any) -> None:
    """A pool process: its torch thread count, the dataset read once (the driver's own pickle in a private
    temporary file: sent with the process, a large dataset would block the driver until the new interpreter
    has imported torch, and a Ctrl-C meanwhile would leave the worker half a message), the driver's event
    queue and stop flag."""
    torch.set_num_threads(threads)
    with open(dataset_file, "rb") as file:
        dataset = pickle.load(file)  # written by this run's driver, readable by its user only
    _worker.update(dataset=dataset, events=events, stop=stop)


@contextmanager
def _dataset_file(dataset: MSADataset) -> Iterator[str]:
    """The dataset pickled once into a private temporary file, removed when the pool is done."""
    with tempfile.NamedTemporaryFile(prefix="msmix-dataset-", suffix=".pickle", delete=False) as file:
        pickle.dump(dataset, file, protocol=pickle.HIGHEST_PROTOCOL)
    try:
        yield file.name
    finally:
        os.unlink(file.name)


@contextmanager
def _without_ctrl_c() -> Iterator[None]:
    """Ignore SIGINT while workers are started (they inherit it): a Ctrl-C reaches the whole process group,
    and the driver alone handles it, ending the workers; a worker still importing would print a traceback."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _pool_task(index: int, config: TrainConfig) -> dict[str, Any] | None:
    """One run in a pool process; None for a run that the driver's stop skipped before it began."""
    if _worker["stop"].is_set():
        return None
    forward = ForwardEvents(index, lambda *event: _worker["events"].put(event))
    return train_outcome(_worker["dataset"], config, callbacks=(forward,), stop=_worker["stop"])


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """End the pool now: drop the queued runs and kill the ones in flight, whose results nobody will read.

    ``shutdown`` alone would wait for the runs in flight to end; Python 3.11 has no public way to
    kill them (3.14's ``terminate_workers``), hence the pool's own table of processes.
    """
    processes = dict(getattr(pool, "_processes", None) or {})
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes.values():
        process.terminate()


class _Relay:
    """The driver's side of the pool's event queue: a thread that keeps each run in flight's config and
    history (:class:`_Seen`) and passes every event on to ``on_event``.

    The driver only reads the queue, never writes to it: a worker killed in the middle of a ``put``
    keeps the queue's write lock forever, and a driver's ``put`` would then leave a feeder thread that
    blocks this interpreter's exit (multiprocessing joins it at exit).
    """

    def __init__(self, events: Any, on_event: OnEvent | None) -> None:
        self.events, self.on_event = events, on_event
        self.seen: dict[int, _Seen] = {}
        self.lock = threading.Lock()
        self.closing = threading.Event()
        self.thread = threading.Thread(target=self._work, name="msmix-pool-events", daemon=True)
        self.thread.start()

    def _work(self) -> None:
        while True:
            try:
                event = self.events.get(timeout=_POLL)
            except queue.Empty:
                if self.closing.is_set():
                    return
                continue
            index, kind, *payload = event
            with self.lock:
                seen = self.seen.setdefault(index, _Seen())
                if kind in ("on_train_start", "on_epoch_end"):
                    getattr(seen, kind)(*payload)
            if self.on_event is not None:
                self.on_event(index, kind, *payload)

    def close(self, timeout: float | None = None) -> None:
        """Apply every event sent so far, then end the thread (waiting at most ``timeout`` seconds: a
        worker killed while it wrote may have left half an event in the queue)."""
        self.closing.set()
        self.thread.join(timeout)

    def started(self, index: int) -> _Seen | None:
        with self.lock:
            seen = self.seen.get(index)
            return seen if seen is not None and seen.config is not None else None


def _not_stored(exc: MsmixError, config: TrainConfig, runs: Sequence[Run | None], unfinished: int) -> str:
    """Why a pool grid stopped when the driver could not store a run it trained, and what that cost."""
    stored = sum(run is not None for run in runs)
    lost = f"run {config.display_label} s{config.seed} trained but is not stored"
    stopped = f", and the {unfinished} runs not finished were stopped" if unfinished else ""
    return f"{str(exc).rstrip('.')}; {lost}{stopped}: {stored} of {len(runs)} runs were stored"


class LocalPoolExecutor(Executor):
    """Each run in its own process of a pool of ``workers`` (``spawn`` start); the driver records the runs.

    ``threads``: torch threads per worker (default :data:`THREADS`, see the module docstring for what it changes).
    Runs are stored in the order they finish; :meth:`run` returns them in config order, failed runs
    included (stored ``failed`` with their error). ``stop`` (anything with ``is_set()``) ends the runs in
    flight after their current batch (stored ``stopped``) and skips the rest. On Ctrl-C or SIGTERM the
    runs in flight are stored ``interrupted`` with the epochs they did, and the exception goes on.
    """

    def __init__(self, workers: int, threads: int = THREADS, stop: StopFlag | None = None) -> None:
        check_count("workers", workers)
        check_count("threads", threads)
        self.workers = workers
        self.threads = threads
        self.stop = stop

    def _train(self, grid: Grid) -> list[Run]:
        dataset, configs, store, on_run, on_event = grid
        if not configs:
            return []
        context = multiprocessing.get_context("spawn")
        events, stop = context.Queue(), context.Event()
        with _dataset_file(dataset) as dataset_file:
            relay = _Relay(events, on_event)
            pool = ProcessPoolExecutor(
                max_workers=min(self.workers, len(configs)),
                mp_context=context,
                initializer=_init_worker,
                initargs=(dataset_file, self.threads, events, stop),
            )
            return self._train_in_pool(dataset, configs, store, pool, relay, stop, on_run)

    def _train_in_pool(self, dataset, configs, store, pool, relay, stop, on_run) -> list[Run]:
        """Submit every config to ``pool`` and store each outcome as it comes (see :meth:`run`)."""
        runs: list[Run | None] = [None] * len(configs)
        pending: dict[Future, int] = {}

        def store_outcome(index: int, outcome: dict[str, Any]) -> None:
            runs[index] = store.record(**outcome)
            if on_run is not None:
                on_run(index, runs[index])

        def store_in_flight(status: RunStatus, error: str) -> None:
            relay.close(timeout=_CLOSE_WAIT)
            for index in sorted(pending.values()):
                seen = relay.started(index)
                if seen is not None:
                    store_outcome(index, seen.outcome(dataset, configs[index], status, error))

        try:
            with _without_ctrl_c():  # the first submit starts the workers
                for i, config in enumerate(configs):
                    pending[pool.submit(_pool_task, i, config)] = i
            while pending:
                if self.stop is not None and self.stop.is_set():
                    stop.set()
                done, _ = wait(pending, timeout=_POLL, return_when=FIRST_COMPLETED)
                for future in done:
                    try:
                        outcome = future.result()
                    except BrokenProcessPool as exc:
                        stored = sum(run is not None for run in runs)
                        store_in_flight(RunStatus.FAILED, f"a worker process died ({exc})")
                        raise MsmixError(
                            f"a worker process died ({exc}): {stored} of {len(configs)} runs were stored, those in "
                            "flight as 'failed'; run the others again"
                        ) from exc
                    index = pending.pop(future)
                    if outcome is not None:
                        try:
                            store_outcome(index, outcome)
                        except MsmixError as exc:  # a full disk, a read-only store: say what is lost
                            raise MsmixError(_not_stored(exc, configs[index], runs, len(pending))) from exc
        except BaseException as exc:
            with signals_deferred(redeliver=False):  # a second Ctrl-C (or SIGTERM) must not cut the storing short
                _stop_workers(pool)
                if isinstance(exc, KeyboardInterrupt):
                    store_in_flight(RunStatus.INTERRUPTED, f"{type(exc).__name__}: {exc}")
                relay.close(timeout=_CLOSE_WAIT)
            raise
        pool.shutdown()
        relay.close()
        return [run for run in runs if run is not None]
