"""Executors: a grid trained serially, in a pool of processes and on Ray stores the same numbers, with no flags."""

import os
import signal
import threading
import time

import pytest
import torch

from msmix_core.errors import MsmixError
from msmix_core.runs import RunStore
from msmix_core.training import TrainConfig
from msmix_core.training.executors import THREADS, LocalPoolExecutor, SerialExecutor


def _grid() -> list[TrainConfig]:
    return [
        TrainConfig(method=method, seed=seed, epochs=1, batch_size=16, device="cpu")
        for method in ("none", "msmix")
        for seed in (1, 2)
    ]


def _queue_feeders(timeout: float = 30.0) -> list[threading.Thread]:
    """The multiprocessing queue feeder threads of this process still alive after ``timeout`` seconds:
    multiprocessing joins them at exit, so one left blocked (on a queue lock that a killed worker held) makes
    the interpreter hang after the tests. The pool's own call queue has one until its management thread,
    which a stopped pool leaves to finish on its own, closes it: on a loaded machine that takes a moment."""
    deadline = time.monotonic() + timeout
    while True:
        feeders = [thread for thread in threading.enumerate() if thread.name == "QueueFeederThread"]
        if not feeders or time.monotonic() > deadline:
            return feeders
        time.sleep(0.1)


def _stored(runs) -> list[tuple]:
    """What a run stores, less the wall times of its epoch records (they differ from one training to the next)."""
    timeless = [[{k: v for k, v in e.items() if k not in ("wall_time", "elapsed")} for e in r.history] for r in runs]
    return [
        (r.config["method"], r.config["seed"], r.status, r.best_epoch, r.metrics, history)
        for r, history in zip(runs, timeless, strict=True)
    ]


def _serial_without_flags(dataset, store: RunStore) -> list:
    """The grid trained serially with no thread count given, in a process set to more threads than one: the
    runs train on the executors' one default count all the same, and the process's setting is restored."""
    threads = torch.get_num_threads()
    torch.set_num_threads(max(2, threads))
    try:
        runs = SerialExecutor().run(dataset, _grid(), store)
        assert torch.get_num_threads() == max(2, threads)
    finally:
        torch.set_num_threads(threads)
    assert {run.config["torch_threads"] for run in runs} == {THREADS}
    return runs


@pytest.mark.slow
def test_a_pool_of_two_workers_stores_exactly_what_serial_training_stores(tiny, tmp_path):
    serial_store, pool_store = RunStore(tmp_path / "serial"), RunStore(tmp_path / "pool")
    finished: list[int] = []
    serial = _serial_without_flags(tiny, serial_store)
    pooled = LocalPoolExecutor(workers=2).run(tiny, _grid(), pool_store, on_run=lambda i, run: finished.append(i))
    assert sorted(finished) == [0, 1, 2, 3]
    assert [r.status for r in pooled] == ["finished"] * 4
    assert len(pool_store.list()) == 4
    assert _stored(pooled) == _stored(serial)
    assert _queue_feeders() == []  # the driver only reads the workers' event queue
    assert [r.config for r in pooled] == [r.config for r in serial]  # dataset, device, torch_threads, versions
    assert pooled[3].load_weights()["backbone"].keys() == serial[3].load_weights()["backbone"].keys()
    for name, tensor in serial[3].load_weights()["backbone"].items():
        assert tensor.equal(pooled[3].load_weights()["backbone"][name])


@pytest.mark.slow
def test_a_failing_run_in_a_worker_is_stored_as_failed_and_the_others_go_on(tiny, tmp_path):
    failing = TrainConfig(method="msmix", method_kwargs={"threshold": 2.0}, epochs=1, device="cpu", seed=1)
    fine = TrainConfig(method="none", epochs=1, batch_size=16, device="cpu", seed=2)
    runs = LocalPoolExecutor(workers=1).run(tiny, [failing, fine], RunStore(tmp_path))
    assert [run.status for run in runs] == ["failed", "finished"]
    assert "threshold" in runs[0].error and runs[0].config["method_kwargs"] == {"threshold": 2.0}
    assert sorted(run.status for run in RunStore(tmp_path).list()) == ["failed", "finished"]


@pytest.mark.parametrize(("workers", "threads", "name"), [(0, 1, "workers"), (2, 0, "threads"), (True, 1, "workers")])
def test_workers_and_threads_must_be_positive_integers(workers, threads, name):
    with pytest.raises(MsmixError, match=f"{name} must be an integer >= 1"):
        LocalPoolExecutor(workers=workers, threads=threads)
    with pytest.raises(MsmixError, match="threads must be an integer >= 1"):
        SerialExecutor(threads=0)


@pytest.mark.slow
def test_a_local_ray_with_two_workers_stores_exactly_what_serial_training_stores(tiny, tmp_path):
    pytest.importorskip("ray", reason="Ray is optional: pip install -r requirements-ray.txt")
    from msmix_core.training.ray_executor import RayExecutor

    serial = _serial_without_flags(tiny, RunStore(tmp_path / "serial"))
    finished: list[int] = []
    on_ray = RayExecutor(workers=2).run(
        tiny, _grid(), RunStore(tmp_path / "ray"), on_run=lambda i, r: finished.append(i)
    )
    assert sorted(finished) == [0, 1, 2, 3] and len(RunStore(tmp_path / "ray").list()) == 4
    assert _stored(on_ray) == _stored(serial)
    failing = [TrainConfig(method="msmix", method_kwargs={"threshold": 2.0}, epochs=1, device="cpu")]
    (run,) = RayExecutor(workers=1).run(tiny, failing, RunStore(tmp_path / "failing"))
    assert run.status == "failed" and run.error.startswith("msmix: knob threshold must be")  # one line, no trace


@pytest.mark.slow
def test_ctrl_c_during_a_pool_run_keeps_finished_runs_and_stores_the_run_in_flight_as_interrupted(tiny, tmp_path):
    short = TrainConfig(method="none", epochs=1, batch_size=16, device="cpu", seed=1)
    long = TrainConfig(method="none", epochs=100000, patience=100000, batch_size=16, device="cpu", seed=2)
    store, stored = RunStore(tmp_path), []

    def on_event(index, kind, *payload):  # the driver's relay thread; the signal reaches the main thread
        if index == 1 and kind == "on_epoch_end" and payload[0].epoch >= 2 and stored:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        LocalPoolExecutor(workers=2).run(
            tiny, [short, long], store, on_run=lambda i, r: stored.append(r), on_event=on_event
        )
    by_seed = {run.config["seed"]: run for run in store.list()}
    assert by_seed[1].status == "finished"
    cut = by_seed[2]
    assert cut.status == "interrupted" and "KeyboardInterrupt" in cut.error and len(cut.history) >= 2
    assert cut.config["torch_threads"] == 1 and cut.best_epoch is not None and "MAE" in cut.metrics["test"]
    assert [run.status for run in stored] == ["finished", "interrupted"]
    assert _queue_feeders() == []  # nothing left that blocks this interpreter's exit
