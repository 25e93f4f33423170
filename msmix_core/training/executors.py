"""Executors: how a grid of training runs is trained, one after another or in a pool of processes.

Every grid (``msmix compare``, ``ablate``, ``sweep``, the final scoring of ``tune``) hands its
configs to an :class:`Executor`, which trains them and records each run in the run store:

- :class:`SerialExecutor` trains in this process, one run after another, and lets the trainer
  record each run as it goes (a run in progress is readable, and ends ``interrupted`` on Ctrl-C);
- :class:`LocalPoolExecutor` trains each run in its own process (``spawn``: a fresh interpreter,
  one torch thread). The worker trains without a store and returns the plain outcome; the driver
  records it with :meth:`RunStore.record`, so a run shows up whole once it has ended, and a worker
  that dies loses only what was in flight, never the store's consistency.

Same config, same numbers, whatever the executor: every random draw of a run comes from its seed
(see :func:`msmix_core.training.build_models`), and a fresh process shares its generators with no
one. Bit for bit, that holds for runs on the same number of torch threads: torch's CPU reductions
split their sums by thread count, and after a few epochs the last bits that differ grow into
different metrics. Pool workers use one torch thread by default (they share the cores; more
threads per worker oversubscribe them), so their runs give the numbers of
``SerialExecutor(threads=1)``, and ``threads=N`` those of ``SerialExecutor(threads=N)``
(``OMP_NUM_THREADS=1`` is not the same: it changes more than torch's thread count). Every run
records its count (``torch_threads`` in its config). A pool pays a process start-up (importing
torch, receiving the dataset) once per worker.
"""

from __future__ import annotations

import multiprocessing
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime
from typing import Any

import torch

from msmix_core.data.schema import MSADataset
from msmix_core.errors import MsmixError
from msmix_core.runs import Run, RunStore
from msmix_core.training.trainer import TrainConfig, train

#: Called in the driver each time a run has been stored: ``(index of its config, the stored run)``.
OnRun = Callable[[int, Run], None]


class Executor(ABC):
    """Trains a list of configs on one dataset and records every run in a store."""

    @abstractmethod
    def run(
        self, dataset: MSADataset, configs: Sequence[TrainConfig], store: RunStore, on_run: OnRun | None = None
    ) -> list[Run]:
        """Train every config; returns the stored runs in config order. The first failure is raised."""


def _check_count(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise MsmixError(f"{name} must be an integer >= 1, got {value!r}")


class SerialExecutor(Executor):
    """Today's behaviour: each run trains in this process, recorded by the trainer as it goes.

    ``callbacks`` go to every :func:`~msmix_core.training.train` call (e.g. a progress bar's per-epoch
    ticks). ``threads``: torch threads while training (default: this process's setting), restored after.
    """

    def __init__(self, callbacks: Sequence[object] = (), threads: int | None = None) -> None:
        if threads is not None:
            _check_count("threads", threads)
        self.callbacks = tuple(callbacks)
        self.threads = threads

    def run(
        self, dataset: MSADataset, configs: Sequence[TrainConfig], store: RunStore, on_run: OnRun | None = None
    ) -> list[Run]:
        runs, threads = [], torch.get_num_threads()
        torch.set_num_threads(self.threads or threads)
        try:
            for index, config in enumerate(configs):
                result = train(dataset, config, callbacks=self.callbacks, store=store)
                runs.append(store.load(result.run_id))
                if on_run is not None:
                    on_run(index, runs[-1])
        finally:
            torch.set_num_threads(threads)
        return runs


_worker_dataset: MSADataset | None = None


def _init_worker(dataset: MSADataset, threads: int) -> None:
    """A pool process: its torch thread count, and the dataset received once."""
    global _worker_dataset
    torch.set_num_threads(threads)
    _worker_dataset = dataset


class _RunConfig:
    """Keeps the run config the trainer would store (dataset summary, device, versions) from ``on_train_start``."""

    config: dict[str, Any] | None = None

    def on_train_start(self, info: dict[str, Any]) -> None:
        self.config = info["config"]


def train_outcome(dataset: MSADataset, config: TrainConfig) -> dict[str, Any]:
    """Train ``config`` without a store and return what :meth:`RunStore.record` needs, as plain data."""
    created = datetime.now(UTC)
    seen = _RunConfig()
    result = train(dataset, config, callbacks=(seen,))
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


def _pool_task(config: TrainConfig) -> dict[str, Any]:
    return train_outcome(_worker_dataset, config)


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """End the pool now: drop the queued runs and kill the ones in flight, whose results nobody will read.

    ``shutdown`` alone would wait for the runs in flight to end; Python 3.11 has no public way to
    kill them (3.14's ``terminate_workers``), hence the pool's own table of processes.
    """
    processes = dict(getattr(pool, "_processes", None) or {})
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes.values():
        process.terminate()


class LocalPoolExecutor(Executor):
    """Each run in its own process of a pool of ``workers`` (``spawn`` start); the driver records the runs.

    ``threads``: torch threads per worker (default 1, see the module docstring for what it changes).
    Runs are stored in the order they finish; :meth:`run` returns them in config order.
    """

    def __init__(self, workers: int, threads: int = 1) -> None:
        _check_count("workers", workers)
        _check_count("threads", threads)
        self.workers = workers
        self.threads = threads

    def run(
        self, dataset: MSADataset, configs: Sequence[TrainConfig], store: RunStore, on_run: OnRun | None = None
    ) -> list[Run]:
        runs: list[Run | None] = [None] * len(configs)
        if not configs:
            return []
        pool = ProcessPoolExecutor(
            max_workers=min(self.workers, len(configs)),
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(dataset, self.threads),
        )
        try:
            pending: dict[Future, int] = {pool.submit(_pool_task, config): i for i, config in enumerate(configs)}
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    index = pending.pop(future)
                    try:
                        outcome = future.result()
                    except BrokenProcessPool as exc:
                        stored = sum(run is not None for run in runs)
                        raise MsmixError(
                            f"a worker process died ({exc}): {stored} of {len(configs)} runs were stored; "
                            "the others were lost: run them again"
                        ) from exc
                    runs[index] = store.record(**outcome)
                    if on_run is not None:
                        on_run(index, runs[index])
        except BaseException:
            _stop_workers(pool)
            raise
        pool.shutdown()
        return runs


def _ray_task(dataset: MSADataset, config: TrainConfig, threads: int) -> dict[str, Any]:
    """One run in a Ray worker: its torch thread count, then :func:`train_outcome`."""
    torch.set_num_threads(threads)
    return train_outcome(dataset, config)


class RayExecutor(Executor):
    """Each run as one Ray task (``num_gpus=1`` when its config asks for CUDA); the driver records the runs.

    ``address=None`` starts a local Ray with ``workers`` CPUs (default: all) and stops it at the end;
    ``"auto"`` or ``"ray://HOST:10001"`` joins a running cluster, whose workers need msmix and its
    requirements installed (the same ``pip install -e .``). ``threads``: torch threads per run, as
    for :class:`LocalPoolExecutor`. Ray is optional: ``pip install -r requirements-ray.txt``.
    """

    def __init__(self, address: str | None = None, workers: int | None = None, threads: int = 1) -> None:
        _check_count("threads", threads)
        if workers is not None:
            _check_count("workers", workers)
        self.address, self.workers, self.threads = address, workers, threads

    def run(
        self, dataset: MSADataset, configs: Sequence[TrainConfig], store: RunStore, on_run: OnRun | None = None
    ) -> list[Run]:
        try:
            import ray
        except ImportError:
            needs = "--ray needs Ray: pip install -r requirements-ray.txt"
            raise MsmixError(f"{needs} (on every cluster machine too)") from None
        started = not ray.is_initialized()
        if started:
            local = {"num_cpus": self.workers} if self.address is None else {}
            try:
                ray.init(address=self.address, include_dashboard=False, log_to_driver=False, **local)
            except ConnectionError as exc:
                raise MsmixError(f"--ray {self.address}: cannot join the cluster ({exc})") from exc
        runs: list[Run | None] = [None] * len(configs)
        pending: dict[Any, int] = {}
        try:
            data = ray.put(dataset)
            for index, config in enumerate(configs):
                gpus = 1 if config.device.startswith("cuda") else 0
                task = ray.remote(num_cpus=1, num_gpus=gpus)(_ray_task)
                pending[task.remote(data, config, self.threads)] = index
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    index = pending.pop(ref)
                    try:
                        outcome = ray.get(ref)
                    except ray.exceptions.RayTaskError as exc:
                        if isinstance(exc.cause, MsmixError):
                            raise MsmixError(str(exc.cause)) from None
                        raise
                    runs[index] = store.record(**outcome)
                    if on_run is not None:
                        on_run(index, runs[index])
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        finally:
            if started:
                ray.shutdown()
        return runs
