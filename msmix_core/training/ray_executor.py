"""The Ray executor: each run of a grid as one Ray task, on a local Ray or a running cluster.

Ray is optional (``pip install -r requirements-ray.txt``) and imported only when a grid trains, so
the rest of msmix never needs it. Like the pool, a task trains without a store and returns the plain
outcome (:func:`~msmix_core.training.executors.train_outcome`), which the driver records.
"""

from __future__ import annotations

import ipaddress
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

from msmix_core.data.schema import MSADataset
from msmix_core.errors import MsmixError
from msmix_core.runs import Run
from msmix_core.training.config import THREADS, TrainConfig
from msmix_core.training.executors import Executor, Grid, check_count, failed_outcome, train_outcome

#: Seconds msmix gives a Ray cluster's head to answer before it gives up with one line: Ray itself retries an
#: address for minutes, prints its log lines meanwhile and holds off SIGTERM and Ctrl-C until it gives up.
RAY_CONNECT_TIMEOUT = 15.0

#: A hostname (RFC 1123 labels; ``_`` allowed, as some private DNS names have it).
_HOSTNAME = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9_-]{1,63}(?<!-))*\.?")

#: What a line of Ray's C++ log says: ``[2026-12-07 00:24:21,042 W 28078 28078] gcs_client.cc:210: says``.
_RAY_LOG_LINE = re.compile(r"^\[[^\]]* [WEF] [^\]]*\] \S+:\d+: (.+)$", re.MULTILINE)

#: Joins the cluster at ``argv[1]`` and leaves it, in a child process; why it could not, on stdout.
_PROBE = """
import sys
try:
    import ray
    ray.init(address=sys.argv[1], include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    ray.shutdown()
except Exception as exc:
    print(f"{type(exc).__name__}: {exc}")
    sys.exit(1)
"""


def _is_host(host: str) -> bool:
    """Whether ``host`` is an IP address (IPv6 in brackets or not) or a hostname."""
    try:
        ipaddress.ip_address(host[1:-1] if host.startswith("[") and host.endswith("]") else host)
        return True
    except ValueError:
        return len(host) <= 253 and _HOSTNAME.fullmatch(host) is not None


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
    if not (sep and _is_host(host) and port.isdigit() and 0 < int(port) < 65536):
        raise MsmixError(f"--ray {address!r}: give auto or the HOST:PORT of the cluster's head, e.g. 10.0.0.5:6379")
    return host.strip("[]"), int(port)


def _no_head(address: str, why: str) -> MsmixError:
    """The error for an address that did not answer as a Ray head, and what to do."""
    return MsmixError(
        f"--ray {address}: no Ray head answers there ({why}): start one with `ray start --head` or check the address"
    )


def _timed_out(address: str, timeout: float, logged: str) -> MsmixError:
    """The error for a join that did not end in time, with the last thing Ray's log (``logged``) complained of."""
    complaints = _RAY_LOG_LINE.findall(logged)  # e.g. the address Ray tried (it translates a loopback one)
    last = " ".join(complaints[-1].split())[:200] if complaints else ""
    if "Unauthenticated" in last:  # Ray sends a cluster's token to "auto" only, unless told to
        return MsmixError(
            f"--ray {address}: the Ray head refuses to be joined without its token ({last}): set RAY_AUTH_MODE=token "
            "with the cluster's token in ~/.ray/auth_token or $RAY_AUTH_TOKEN, or use --ray auto"
        )
    return _no_head(address, f"no answer within {timeout:g} s" + (f"; Ray's last word: {last}" if last else ""))


def check_joins(address: str, timeout: float = RAY_CONNECT_TIMEOUT) -> None:
    """A one-line error within ``timeout`` seconds when the cluster at ``address`` (``auto`` or ``HOST:PORT``)
    cannot be joined.

    A port where nothing listens is refused at once; anything else (a server that is not Ray, an address that
    swallows packets, a stale ``auto``) would keep ``ray.init`` retrying for minutes, deaf to signals, so a child
    process joins first, with its output hidden, and is killed at the deadline, on SIGTERM or on Ctrl-C.
    """
    deadline = time.monotonic() + timeout
    head = ray_head(address)
    if head is not None:
        try:
            socket.create_connection(head, timeout=timeout).close()
        except OSError as exc:
            raise _no_head(address, exc.strerror or type(exc).__name__) from None
    with subprocess.Popen(
        [sys.executable, "-c", _PROBE, address],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: killed whole, and a terminal's Ctrl-C is msmix's to handle
    ) as child:
        try:
            said, _ = child.communicate(timeout=max(deadline - time.monotonic(), 0.0))
        except subprocess.TimeoutExpired as exc:
            logged = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else exc.stderr or ""
            raise _timed_out(address, timeout, logged) from None
        finally:
            if child.returncode is None:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()  # Popen's exit waits only briefly after a Ctrl-C
    if child.returncode:
        why = " ".join(said.split())[-300:] or f"exit status {child.returncode}"
        raise MsmixError(f"--ray {address}: cannot join the cluster ({why})")


@contextmanager
def _sigterm_kept() -> Iterator[Callable[[], None]]:
    """SIGTERM handled as before Ray came in, e.g. the CLI's "terminated by SIGTERM" (yields what puts it back
    after ``ray.init``).

    ray.init puts in a handler that exits at once (status 15, no message), and Ray's blocking calls turn what a
    handler raises into a bare KeyboardInterrupt; so the handler from before runs again outside Ray.
    """
    before = signal.getsignal(signal.SIGTERM)
    if not callable(before) or threading.current_thread() is not threading.main_thread():
        yield lambda: None
        return
    received: list[int] = []

    def on_sigterm(signum: int, frame: Any) -> None:
        received.append(signum)
        before(signum, frame)

    try:
        yield lambda: signal.signal(signal.SIGTERM, on_sigterm)
    except (KeyboardInterrupt, SystemExit) as exc:
        if received or (isinstance(exc, SystemExit) and exc.code == signal.SIGTERM):  # Ray's during ray.init
            before(signal.SIGTERM, None)
        raise
    finally:
        signal.signal(signal.SIGTERM, before)


def _ray_task(dataset: MSADataset, config: TrainConfig, threads: int) -> dict[str, Any]:
    """One run in a Ray worker: its torch thread count, then :func:`train_outcome`."""
    torch.set_num_threads(threads)
    return train_outcome(dataset, config)


class RayExecutor(Executor):
    """Each run as one Ray task (``num_gpus=1`` when its config asks for CUDA, or for ``auto`` on a cluster
    with GPUs); the driver records the runs.

    ``address=None`` starts a local Ray with ``workers`` CPUs (default: all) and stops it at the end;
    ``"auto"`` or ``"HOST:PORT"`` (:func:`ray_head`) joins a running cluster, or fails with one line within
    :data:`RAY_CONNECT_TIMEOUT` (:func:`check_joins`); its workers need msmix and its
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
        try:
            import ray
        except ImportError:
            needs = "--ray needs Ray: pip install -r requirements-ray.txt"
            raise MsmixError(f"{needs} (on every cluster machine too)") from None
        with _sigterm_kept() as rearm:
            started = not ray.is_initialized()
            if started:
                self._start(ray)
                rearm()
            try:
                return self._run_tasks(ray, grid)
            finally:
                if started:
                    ray.shutdown()

    def _start(self, ray: Any) -> None:
        """A local Ray, or a cluster joined once :func:`check_joins` found it answers."""
        if self.address is not None:
            check_joins(self.address)
        # "local": a new Ray even where $RAY_ADDRESS or a running cluster would have ray.init join it
        local = {"num_cpus": self.workers} if self.address is None else {}
        try:
            ray.init(address=self.address or "local", include_dashboard=False, log_to_driver=False, **local)
        except ConnectionError as exc:
            raise MsmixError(f"--ray {self.address}: cannot join the cluster ({exc})") from exc

    def _run_tasks(self, ray: Any, grid: Grid) -> list[Run]:
        """Each config as a Ray task; each run recorded as its task ends; the tasks in flight cancelled on an error."""
        dataset, configs, store, on_run, _ = grid  # Ray tasks send no events
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
        return runs
