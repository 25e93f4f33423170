"""Training in a child process, so that its random draws are its own.

Model initialisation and dropout draw from torch's global generator, which every thread of a
process shares: two trainings in threads of one process (or an app page that seeds torch to
build an untrained encoder) shift each other's draws, and the same seed stops giving the same
numbers. :class:`TrainingProcess` trains a list of configs in a fresh interpreter
(``python -m msmix_core.jobs``) and hands the trainer's events back in order.

Why not :mod:`multiprocessing`: its ``spawn`` start re-runs the parent's ``__main__`` module in
the child, and under Streamlit ``__main__`` is the page script being run. Here the child runs this
module and nothing else. Parent and child talk over two pipes wrapped in
:class:`multiprocessing.connection.Connection` (length-prefixed pickles): the parent sends the
work and, later, a stop request (``"stop"``: now; ``"finish"``: after the current run); the child
sends events. Only the parent's own objects cross them.
The child uses the parent's count of torch threads, so that it gives the numbers a ``train`` call
in the parent would (the app's server runs with one thread: see ``ui/__init__.py``).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import torch

from msmix_core.data.schema import MSADataset
from msmix_core.errors import MsmixError
from msmix_core.runs import Run, RunStatus, RunStore
from msmix_core.training import TrainConfig, train
from msmix_core.training.executors import ForwardEvents, LocalPoolExecutor

#: The folder holding the ``msmix_core`` package, put on the child's ``PYTHONPATH``.
_PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])

#: Seconds the parent waits for a child that closed its pipe, or sent its last event, to exit.
_EXIT_WAIT = 10.0


class _Child:
    """A started worker interpreter and the parent's ends of its two pipes.

    The child imports torch and the trainer, then waits for its work: a child started ahead of
    time (:func:`prestart`) lets the next training skip the interpreter's start-up and imports.
    """

    def __init__(self) -> None:
        work_read, work_write = os.pipe()
        event_read, event_write = os.pipe()
        python_path = os.pathsep.join(filter(None, (_PACKAGE_PARENT, os.environ.get("PYTHONPATH"))))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "msmix_core.jobs", str(work_read), str(event_write)],
            pass_fds=(work_read, event_write),
            stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": python_path},
        )
        os.close(work_read)
        os.close(event_write)
        self.work = Connection(work_write, readable=False)
        self.events = Connection(event_read, writable=False)

    def alive(self) -> bool:
        return self.process.poll() is None

    def discard(self) -> None:
        """End an unused child: closing its work pipe tells it nobody will send work."""
        self.work.close()
        self.events.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(_EXIT_WAIT)
        if self.alive():
            self.process.kill()
            self.process.wait()


_spare: _Child | None = None
_spare_lock = threading.Lock()


def prestart() -> None:
    """Start an idle worker now (once), so that the next :class:`TrainingProcess` starts training at once."""
    global _spare
    with _spare_lock:
        if _spare is not None and not _spare.alive():
            _spare.discard()
            _spare = None
        if _spare is None:
            _spare = _Child()


def _take_child() -> _Child:
    """The idle worker when there is a live one, else a new child."""
    global _spare
    with _spare_lock:
        child, _spare = _spare, None
    if child is not None and child.alive():
        return child
    if child is not None:
        child.discard()
    return _Child()


@atexit.register
def _discard_spare() -> None:
    with _spare_lock:
        if _spare is not None:
            _spare.discard()


class TrainingProcess:
    """Train ``configs`` in order in a child process; read its events with :meth:`next_event`.

    Events are tuples, each with the index of its config: ``("on_train_start", index, info)``,
    ``("on_batch_end", index, step, total)`` and ``("on_epoch_end", index, event)`` from the trainer,
    ``("on_run_end", index, status, run_id)``, and last ``("end", status, error)`` with status
    ``"finished"``, ``"stopped"`` or ``"failed"`` (``error`` the message). With ``workers > 1`` the
    child trains through a :class:`~msmix_core.training.executors.LocalPoolExecutor` (one torch
    thread per worker) and several runs report at once. A child that dies
    without a word (killed, out of memory) is reported as ``("end", "failed", ...)`` too. The
    child is the idle worker of :func:`prestart` when there is one.
    """

    def __init__(
        self, dataset: MSADataset, configs: Sequence[TrainConfig], store: RunStore | None, workers: int = 1
    ) -> None:
        child = _take_child()
        self._process, self._work, self._events = child.process, child.work, child.events
        try:
            self._work.send((dataset, list(configs), store, torch.get_num_threads(), workers))
        except BaseException:  # e.g. something in the dataset that cannot be pickled
            self._process.kill()
            self.close()
            raise

    @property
    def pid(self) -> int:
        return self._process.pid

    def stop(self, after_run: bool = False) -> None:
        """Ask the child to stop after its current batch (it keeps that run as ``stopped``) or, with
        ``after_run``, once its current run has ended; either way it starts no further run."""
        with contextlib.suppress(OSError):  # the child has ended already
            self._work.send("finish" if after_run else "stop")

    def next_event(self, timeout: float) -> tuple | None:
        """The child's next event, or None when none came within ``timeout`` seconds."""
        try:
            if self._events.poll(timeout):
                return self._events.recv()
        except (EOFError, OSError):  # the child closed its end: it is ending
            try:
                code = self._process.wait(_EXIT_WAIT)
            except subprocess.TimeoutExpired:
                code = None
            return ("end", RunStatus.FAILED, f"the training process ended unexpectedly (exit code {code})")
        return None

    def close(self) -> None:
        """Let the child exit (it does right after its ``"end"`` event; else it is killed) and close the pipes."""
        try:
            self._process.wait(_EXIT_WAIT)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._work.close()
        self._events.close()


class _StopRequest:
    """The ``stop`` flag of :func:`train` in the child: set once the parent sends ``"stop"`` or goes away;
    :meth:`after_run` also once it sent ``"finish"`` (no run starts after the current one)."""

    def __init__(self, work: Connection) -> None:
        self._work = work
        self._set = False
        self._finish = False

    def _read(self) -> None:
        try:
            while not self._set and self._work.poll():
                request = self._work.recv()
                self._set = request == "stop"
                self._finish = self._finish or request == "finish"
        except (EOFError, OSError):  # the parent is gone: nobody is watching any more
            self._set = True

    def is_set(self) -> bool:
        self._read()
        return self._set

    def after_run(self) -> bool:
        self._read()
        return self._set or self._finish


class _Relay:
    """Sends the trainer's events of every run to the parent, in order (from the pool's event thread too)."""

    def __init__(self, events: Connection) -> None:
        self.events = events
        self.lock = threading.Lock()

    def __call__(self, index: int, kind: str, *payload: Any) -> None:
        if kind == "on_train_start":
            payload = ({"run_id": payload[0]["run_id"]},)
        with self.lock:
            self.events.send((kind, index, *payload))


def _train_in_turn(dataset: MSADataset, configs: list[TrainConfig], store: RunStore | None, stop, relay) -> str:
    for index, config in enumerate(configs):
        if stop.after_run():
            return RunStatus.STOPPED
        result = train(dataset, config, callbacks=(ForwardEvents(index, relay),), stop=stop, store=store)
        relay(index, "on_run_end", result.status, result.run_id)
    return RunStatus.STOPPED if stop.is_set() else RunStatus.FINISHED


def _train_in_pool(dataset: MSADataset, configs: list[TrainConfig], store: RunStore, stop, relay, workers: int):
    """Train through a pool; failed runs are stored and the others go on, then the job ends naming them."""

    def ended(index: int, run: Run) -> None:
        relay(index, "on_run_end", run.status, run.id)

    runs = LocalPoolExecutor(workers, stop=stop).run(dataset, configs, store, on_run=ended, on_event=relay)
    failed = [run for run in runs if run.status == RunStatus.FAILED]
    if failed:
        raise MsmixError(
            f"{len(failed)} of {len(configs)} runs failed (stored as 'failed'); the first: {failed[0].error}"
        )
    return RunStatus.STOPPED if stop.is_set() else RunStatus.FINISHED


def _child(work: Connection, events: Connection) -> None:
    """The child process: receive the work, train each config (in turn or in a pool), report every event."""
    try:
        dataset, configs, store, threads, workers = work.recv()
    except (EOFError, OSError):  # an idle worker whose parent went away or discarded it
        return
    torch.set_num_threads(threads)  # the parent's count: the same numbers as a train() call there
    stop, relay = _StopRequest(work), _Relay(events)
    try:
        if workers > 1:
            status = _train_in_pool(dataset, configs, store, stop, relay, workers)
        else:
            status = _train_in_turn(dataset, configs, store, stop, relay)
        events.send(("end", status, None))
    except Exception as exc:  # the parent shows the message; the store marked the run failed
        message = str(exc) if isinstance(exc, MsmixError) else f"{type(exc).__name__}: {exc}"
        events.send(("end", RunStatus.FAILED, message))


def _import_ahead() -> None:
    """Do now what a training's start would import: torch's first optimizer imports ``torch._dynamo``,
    seconds of a training's start-up; a child started ahead (:func:`prestart`) does it while it waits."""
    torch.optim.Adam([torch.zeros(1, requires_grad=True)], fused=True)


def run_child(fds: Sequence[str]) -> None:
    """The child's entry point (``python -m msmix_core.jobs WORK_FD EVENTS_FD``): serve the two pipes it inherited."""
    _import_ahead()
    _child(Connection(int(fds[0]), writable=False), Connection(int(fds[1]), readable=False))
