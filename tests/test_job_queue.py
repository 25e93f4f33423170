"""The server-wide training queue, the two Stops, the owner of a job and a time left that does not jump."""

from __future__ import annotations

import os
import threading
import time

import pytest

import msmix_core.jobs.queue
from msmix_core.errors import MsmixError
from msmix_core.jobs import TrainingJob, TrainingQueue, prepare_worker, worker
from msmix_core.jobs.queue import SLOTS_ENV, slots_from_env, usable_cores
from msmix_core.runs import RunStore
from msmix_core.training import EpochEvent, TrainConfig

TIMEOUT = 120


def _config(method: str, epochs: int = 2, **kw) -> TrainConfig:
    return TrainConfig(method=method, epochs=epochs, batch_size=16, **kw)


def _epoch(epoch: int, wall: float) -> EpochEvent:
    return EpochEvent(epoch, {}, {}, {}, {}, wall_time=wall, elapsed=wall, best_epoch=1, improved=True)


def _wait_until(condition, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_the_queue_size_comes_from_the_environment_else_the_cores(monkeypatch):
    monkeypatch.delenv(SLOTS_ENV, raising=False)
    assert slots_from_env() == usable_cores() >= 1
    if hasattr(os, "sched_getaffinity"):  # a container or taskset narrows the cores: the default follows
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
        assert slots_from_env() == 1
    monkeypatch.setenv(SLOTS_ENV, "3")
    assert slots_from_env() == 3
    for bad in ("0", "-1", "two", "1e9", "99999"):
        monkeypatch.setenv(SLOTS_ENV, bad)
        with pytest.raises(MsmixError, match=SLOTS_ENV):
            slots_from_env()
    with pytest.raises(MsmixError, match="at least one slot"):
        TrainingQueue(0)


def test_a_ticket_waits_its_turn_and_may_leave_the_line():
    queue = TrainingQueue(1)
    first, second, third = queue.join(1, lambda: 30.0), queue.join(1, lambda: 20.0), queue.join(1, lambda: 5.0)
    assert queue.wait(first) and queue.position(first) is None and queue.wait(first)  # it holds its slot
    assert (queue.position(second), queue.position(third)) == (1, 2)
    assert not queue.wait(second, timeout=0.1) and queue.position(second) == 1  # timed out: still in line
    assert queue.wait_estimate(second) == 30.0 and queue.wait_estimate(third) == 50.0  # the first, then the second
    got = []
    waiter = threading.Thread(target=lambda: got.append(queue.wait(third)))
    waiter.start()
    assert queue.withdraw(second) and not queue.withdraw(first)  # Stop while waiting; a running ticket stays
    assert queue.position(third) == 1 and not queue.wait(second)
    assert waiter.is_alive()  # still one slot, taken by the first
    queue.leave(first)
    waiter.join(5)
    assert got == [True] and queue.busy()
    queue.leave(third)
    assert not queue.busy()


def test_the_wait_is_unknown_when_a_job_ahead_cannot_tell_and_a_pool_takes_several_slots():
    queue = TrainingQueue(2)
    pool = queue.join(5, lambda: 10.0)
    assert pool.need == 2  # a pool of 5 workers takes every slot, no more
    small = queue.join(1, lambda: None)
    last = queue.join(1, lambda: 1.0)
    assert queue.wait(pool)
    assert queue.wait_estimate(small) == 10.0  # both slots are free once the pool is done
    assert queue.wait_estimate(last) is None  # the one ahead has no estimate yet


def test_time_left_comes_from_what_the_job_did_not_the_clock(tiny):
    """A reloaded page asks the same job later: the estimate is the same (it restarts no clock)."""
    job = TrainingJob(tiny, [_config("none"), _config("msmix")], queue=TrainingQueue(1))
    assert job.progress().eta is None  # nothing known
    job._stored_costs = {"none": 0.5, "msmix": 2.0}  # what stored_epoch_costs would have read
    assert job.progress().eta == pytest.approx(2 * 0.5 + 2 * 2.0)  # before it starts: its whole duration
    job.on_train_start(0, {"run_id": None})
    job.on_epoch_end(0, _epoch(1, wall=1.0))  # this machine is twice as slow as the stored runs
    first = job.progress()
    assert first.eta == pytest.approx(1 * 1.0 + 2 * 4.0)
    time.sleep(0.3)
    assert job.progress().eta == first.eta  # no work done, no change: a reload shows the same time left
    job.on_batch_end(0, 1, 2)  # half of the next epoch
    assert job.progress().eta == pytest.approx(0.5 * 1.0 + 2 * 4.0)
    job.stop(after_run=True)  # the MS-Mix run will not start: only the rest of this one is left
    assert job.progress().eta == pytest.approx(0.5 * 1.0)
    job.stop()
    assert job.progress().eta == 0.0 and job.progress().stop_request == "now"


def test_only_the_owner_controls_a_job(tiny):
    job = TrainingJob(tiny, [_config("none")], owner="a-secret")
    assert job.controlled_by("a-secret")
    assert not job.controlled_by("another") and not job.controlled_by(None) and not job.controlled_by("")
    assert not TrainingJob(tiny, [_config("none")]).controlled_by(None)  # no owner, no controller
    configs = [_config("none", seed=1), _config("none", seed=2)]
    pool = TrainingJob(tiny, configs, RunStore.__new__(RunStore), 2, queue=TrainingQueue(2))
    assert not pool.can_stop_after_run
    with pytest.raises(MsmixError, match="pool"):
        pool.stop(after_run=True)


def test_a_pool_job_never_trains_in_more_processes_than_the_queue_has_slots(tiny):
    configs = [_config("none", seed=seed) for seed in (1, 2, 3)]
    job = TrainingJob(tiny, configs, RunStore.__new__(RunStore), 3, queue=TrainingQueue(2))
    assert job.workers == 2  # the process pool it starts, and the slots its ticket asks for
    assert TrainingJob(tiny, configs, None, 2, queue=TrainingQueue(1)).workers == 1  # one slot: one process, no pool


def test_no_spare_worker_starts_while_a_job_trains_or_waits():
    queue = TrainingQueue(1)
    with worker._spare_lock:
        spare, worker._spare = worker._spare, None
    try:
        ticket = queue.join(1)
        prepare_worker(queue)
        assert worker._spare is None  # its start-up would take CPU from the training
        queue.leave(ticket)
    finally:
        with worker._spare_lock:
            worker._spare = spare


@pytest.mark.slow
def test_one_slot_two_jobs_the_second_waits_can_stop_while_waiting_and_a_third_starts_after(tiny, tmp_path):
    store, queue = RunStore(tmp_path), TrainingQueue(1)
    training = set()
    overlap = []

    class Watched(TrainingJob):
        def on_train_start(self, index, info):
            overlap.append(bool(training - {self.id}))
            training.add(self.id)
            super().on_train_start(index, info)

        def on_run_end(self, index, status, run_id):
            training.discard(self.id)
            super().on_run_end(index, status, run_id)

    first = Watched(tiny, [_config("none", epochs=3)], store, queue=queue).start()
    second = Watched(tiny, [_config("mixup", seed=2)], store, queue=queue).start()
    third = Watched(tiny, [_config("none", seed=3)], store, queue=queue).start()
    assert first.progress().position is None  # a free slot is taken at start(), before its thread runs
    assert second.progress().position == 1 and third.progress().position == 2
    assert second.progress().running and second.pid is None  # waiting: no process of its own
    second.stop()  # Stop works while waiting
    assert second.join(10)
    stopped = second.progress()
    assert stopped.status == "stopped" and stopped.runs_done == 0 and stopped.position is None
    assert third.progress().position == 1
    assert first.join(TIMEOUT) and third.join(TIMEOUT)
    assert first.progress().status == third.progress().status == "finished"
    assert overlap == [False, False]  # never two trainings at once on one slot
    assert sorted(run.config["seed"] for run in store.list()) == [3, 1111]  # the stopped job stored nothing


@pytest.mark.slow
def test_stop_after_this_run_lets_the_run_end_and_skips_the_rest(tiny, tmp_path):
    class StopAfterFirstEpoch(TrainingJob):
        def on_epoch_end(self, index, event):
            super().on_epoch_end(index, event)
            if index == 0 and event.epoch == 1:
                self.stop(after_run=True)

    store = RunStore(tmp_path)
    job = StopAfterFirstEpoch(tiny, [_config("none", epochs=3), _config("mixup")], store, queue=TrainingQueue(1))
    assert job.start().join(TIMEOUT)
    progress = job.progress()
    assert progress.status == "stopped" and progress.stop_request == "after_run"
    assert progress.run_status == {"none": "finished"}  # trained to its end, the next never started
    (run,) = store.list()
    assert run.status == "finished" and len(run.history) == 3


def test_holding_waits_for_a_slot_and_gives_it_back():
    queue = TrainingQueue(1)
    job = queue.join(1)
    assert queue.wait(job, timeout=0)
    entered = threading.Event()

    def hold() -> None:
        with queue.holding():
            entered.set()

    thread = threading.Thread(target=hold)
    thread.start()
    assert not entered.wait(0.3)  # the slot is the job's
    queue.leave(job)
    assert entered.wait(10)
    thread.join(10)
    assert not queue.busy()  # given back after the block


def test_the_pages_trained_latents_wait_in_a_line_of_their_own(tiny, monkeypatch):
    from ui import latents

    assert latents.page_trainings() is not msmix_core.jobs.queue.default_queue()  # never behind a class's Runs
    assert latents.page_trainings().slots == msmix_core.jobs.queue.default_queue().slots
    queue = TrainingQueue(1)
    monkeypatch.setattr(latents, "page_trainings", lambda: queue)
    job = queue.join(1)
    assert queue.wait(job, timeout=0)
    result = []
    thread = threading.Thread(target=lambda: result.append(latents._encoder("held", tiny, "late_fusion", 7, 1)))
    thread.start()
    _wait_until(lambda: queue.position(queue._waiting[0]) == 1 if queue._waiting else False)
    assert not result  # waiting for the Run's slot, not training beside it
    queue.leave(job)
    thread.join(TIMEOUT)
    assert result and not queue.busy()
    assert latents._encoder("held", tiny, "late_fusion", 7, 0)  # untrained: no slot, nothing to wait for
