"""The Ray executor: each run of a grid as one Ray task, on a local Ray or a running cluster.

Ray is optional (``pip install -r requirements-ray.txt``) and imported only when a grid trains, so
the rest of msmix never needs it. Like the pool, a task trains without a store and returns the plain
outcome (:func:`~msmix_core.training.executors.train_outcome`), which the driver records.
"""

from __future__ import annotations

import socket
from typing import Any

import torch

from msmix_core.data.schema import MSADataset
from msmix_core.errors import MsmixError
from msmix_core.runs import Run
from msmix_core.training.config import THREADS, TrainConfig
from msmix_core.training.executors import Executor, Grid, check_count, failed_outcome, train_outcome

#: Seconds msmix waits for a Ray cluster's head to accept a connection before it gives up with one line
#: (Ray itself retries an address where nothing listens for many minutes).
RAY_CONNECT_TIMEOUT = 10.0


def ray_head(address: str | None) -> tuple[str, int] | None:
    """The ``(host, port)`` of a ``HOST:PORT`` Ray address; None for a local Ray (None) or ``auto``.

    Ray Client addresses (``ray://``) are refused: msmix drives a cluster from one of its machines.
    """
    if address is None or address == "auto":
        return None
    if "://" in address:
        raise MsmixError(
            f"--ray {address}: Ray Client (ray://) is not supported; run msmix on a machine of the cluster with "
            "--ray auto, or --ray HEAD:6379"
        )
    host, sep, port = address.rpartition(":")
    if not (sep and host and port.isdigit() and 0 < int(port) < 65536):
        raise MsmixError(f"--ray {address!r}: give auto or the HOST:PORT of the cluster's head, e.g. 10.0.0.5:6379")
    return host.strip("[]"), int(port)


def _check_reachable(head: tuple[str, int]) -> None:
    """A one-line error within :data:`RAY_CONNECT_TIMEOUT` when nothing listens at the head's address."""
    try:
        socket.create_connection(head, timeout=RAY_CONNECT_TIMEOUT).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise MsmixError(
            f"--ray {head[0]}:{head[1]}: no Ray head answers there ({reason}, waited at most {RAY_CONNECT_TIMEOUT:g} "
            "s): start the cluster (ray start --head) or check the address"
        ) from None


def _ray_task(dataset: MSADataset, config: TrainConfig, threads: int) -> dict[str, Any]:
    """One run in a Ray worker: its torch thread count, then :func:`train_outcome`."""
    torch.set_num_threads(threads)
    return train_outcome(dataset, config)


class RayExecutor(Executor):
    """Each run as one Ray task (``num_gpus=1`` when its config asks for CUDA, or for ``auto`` on a cluster
    with GPUs); the driver records the runs.

    ``address=None`` starts a local Ray with ``workers`` CPUs (default: all) and stops it at the end;
    ``"auto"`` or ``"HOST:PORT"`` (:func:`ray_head`) joins a running cluster, whose workers need msmix and its
    requirements installed (the same ``pip install -e .``). ``threads``: torch threads per run, as
    for :class:`LocalPoolExecutor`. Failed runs (in training, or a worker that died) are stored
    ``failed`` and returned; the tasks report no epochs, so ``on_event`` is not called and a
    Ctrl-C cancels the tasks in flight without storing them. Ray is optional:
    ``pip install -r requirements-ray.txt``.
    """

    def __init__(self, address: str | None = None, workers: int | None = None, threads: int = THREADS) -> None:
        check_count("threads", threads)
        if workers is not None:
            check_count("workers", workers)
        self.head = ray_head(address)
        self.address, self.workers, self.threads = address, workers, threads

    def _train(self, grid: Grid) -> list[Run]:
        dataset, configs, store, on_run, _ = grid  # Ray tasks send no events
        if self.head is not None:
            _check_reachable(self.head)
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
            cluster_gpus = ray.cluster_resources().get("GPU", 0) > 0
            for index, config in enumerate(configs):
                # "auto" on a cluster with GPUs must ask for one: Ray hides the GPUs from tasks that do not
                gpus = 1 if config.device.startswith("cuda") or (config.device == "auto" and cluster_gpus) else 0
                task = ray.remote(num_cpus=1, num_gpus=gpus)(_ray_task)
                pending[task.remote(data, config, self.threads)] = index
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    index = pending.pop(ref)
                    try:
                        outcome = ray.get(ref)
                    except ray.exceptions.RayError as exc:  # the task's process died (memory, a lost node)
                        error = f"the Ray task failed: {' '.join(str(exc).split())[:300]}"
                        outcome = failed_outcome(dataset, configs[index], error)
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
