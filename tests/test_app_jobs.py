"""AppTest of who controls a training job, the server's queue and the two Stops, as a class would meet them."""

from __future__ import annotations

import pytest
from helpers import APP_TIMEOUT, open_page, start_training, wait_first_epoch
from streamlit.testing.v1 import AppTest

import msmix_core.jobs.queue
from msmix_core.jobs import JobProgress, TrainingJob, TrainingQueue
from msmix_core.runs import RunStatus
from msmix_core.training import TrainConfig
from ui.jobs_view import (
    OWNER_KEY,
    POLL,
    READ_ONLY,
    STOP_AFTER_RUN_HELP,
    WAIT_POLL,
    partial_note,
    poll_interval,
    stop_now_help,
)


@pytest.fixture()
def one_slot(monkeypatch) -> TrainingQueue:
    """The server's queue with one training slot (as ``MSMIX_TRAINING_SLOTS=1`` would make it)."""
    queue = TrainingQueue(1)
    monkeypatch.setattr(msmix_core.jobs.queue, "_default", queue)
    return queue


def _keys(at: AppTest) -> set[str]:
    return {button.key for button in at.button}


def test_the_partial_note_says_why_tables_hold_fewer_runs():
    progress = JobProgress(
        RunStatus.STOPPED,
        ["none", "msmix", "mixup"],
        2,
        None,
        0.5,
        9.0,
        0.0,
        {"none": [{}, {}], "msmix": [{}]},
        {},
        run_status={"none": RunStatus.FINISHED, "msmix": RunStatus.STOPPED},
        stop_request="now",
    )
    note = partial_note(progress)
    assert "**Stop now**" in note and "1 of 3 runs finished" in note and "1 run(s) never started" in note
    assert "'msmix' was stopped after 1 epoch(s)" in note
    waiting = JobProgress(RunStatus.STOPPED, ["none"], 0, None, 0.0, 1.0, 0.0, {"none": []}, {}, stop_request="now")
    assert "before any run began" in partial_note(waiting)
    finished = JobProgress(RunStatus.FINISHED, ["none"], 1, None, 1.0, 1.0, 0.0, {"none": [{}]}, {})
    assert partial_note(finished) is None


def test_stop_now_says_it_stops_every_run_in_progress_of_a_pool():
    one, pool = stop_now_help(1), stop_now_help(3)
    assert one.startswith("Ends the run in progress after its current batch: it is stored as 'stopped'")
    assert pool.startswith("Ends every run in progress (this job trains 3 at a time) after its current batch: each")
    assert one.endswith("A job waiting for a training slot leaves the line.") and pool.endswith(one[-50:])


def test_a_waiting_job_is_polled_slowly_also_by_a_page_that_only_watches_it(tiny):
    queue = TrainingQueue(1)
    taken = queue.join(1)
    assert queue.wait(taken)  # another job holds the only slot
    job = TrainingJob(tiny, [TrainConfig(method="none", epochs=1, batch_size=16)], queue=queue).start()
    assert job.progress().position == 1
    assert poll_interval(job, True) == WAIT_POLL and poll_interval(job, False) == WAIT_POLL  # owner and watcher
    job.stop()
    assert job.join(10) and poll_interval(job, False) is None
    queue.leave(taken)
    assert POLL != WAIT_POLL


@pytest.mark.slow
def test_a_shared_link_shows_the_job_read_only_and_only_the_session_that_started_it_stops_it(store):
    owner = open_page("training")
    job = start_training(owner, ["msmix", "none"], epochs=50)
    secret = owner.session_state[OWNER_KEY]
    assert owner.query_params["training_job"] == job.id and secret not in str(dict(owner.query_params))
    wait_first_epoch(job, "msmix")
    owner.run()
    buttons = {b.key: b for b in owner.button}
    assert (
        buttons["tr_stop_after"].label == "Stop after this run" and buttons["tr_stop_after"].help == STOP_AFTER_RUN_HELP
    )
    assert buttons["tr_stop"].label == "Stop now" and buttons["tr_stop"].help == stop_now_help(1)

    visitor = open_page(
        "training", training_job=job.id
    )  # another browser opening the copied link (or the same page reloaded)
    assert visitor.session_state["training_job"] is job  # it follows the job...
    assert any(READ_ONLY in c.value for c in visitor.caption)  # ...says it only watches...
    assert not {"tr_stop", "tr_stop_after"} & _keys(visitor)  # ...and has no control over it
    assert not next(b for b in visitor.button if b.label == "Run").disabled  # it may train a job of its own
    visitor.run()
    assert job.is_alive()

    owner.button(key="tr_stop").click().run()
    assert job.join(APP_TIMEOUT)
    owner.run()
    assert not owner.exception
    assert any("Partial results, stopped by **Stop now**" in w.value for w in owner.warning)
    assert any("'msmix' was stopped after" in i.value for i in owner.info)  # the seed table says why it is empty
    (run,) = store.list()
    assert run.status == "stopped"


@pytest.mark.slow
def test_with_one_slot_the_second_run_waits_in_line_and_stop_takes_it_out(store, one_slot):
    first, second = open_page("training"), open_page("training")
    running = start_training(first, ["none"], epochs=20)
    waiting = start_training(second, ["mixup"], epochs=1)
    assert waiting.progress().position == 1
    second.run()
    (bar,) = second.get("progress")
    assert "number 1 in line" in bar.proto.text and "1 job at a time" in bar.proto.text
    assert "tr_stop_after" not in _keys(second)  # no run in progress to let end
    second.button(key="tr_stop").click().run()  # Stop while waiting
    assert waiting.join(10)
    second.run()
    assert any("before any run began" in w.value for w in second.warning)
    assert running.is_alive() and waiting.progress().runs_done == 0
    first.button(key="tr_stop").click().run()
    assert running.join(APP_TIMEOUT)
    assert all(run.config["method"] == "none" for run in store.list())  # the job that left the line stored nothing


@pytest.mark.slow
@pytest.mark.parametrize(("page", "url_key"), [("ablation", "ablation_job"), ("sweeps", "sweep_job")])
def test_ablation_and_sweep_links_show_another_sessions_job_read_only(store, one_slot, tiny, page, url_key):
    held = one_slot.join(1)  # the job waits in line the whole test: nothing trains
    assert one_slot.wait(held, timeout=0)
    job = TrainingJob(tiny, [TrainConfig(method="none", epochs=1)], store, owner="another-session", queue=one_slot)
    job.start()
    try:
        visitor = open_page(page, **{url_key: job.id})
        assert not visitor.exception
        assert visitor.session_state[url_key] is job
        assert any(READ_ONLY in c.value for c in visitor.caption)
        assert not {key for key in _keys(visitor) if key and "stop" in key}
    finally:
        job.stop()
        one_slot.leave(held)
        assert job.join(APP_TIMEOUT)
