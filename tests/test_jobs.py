"""The background training job, the experiment tables and their figures."""

from __future__ import annotations

import copy
import math
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch

from msmix_core.data import make_synthetic
from msmix_core.errors import MsmixError
from msmix_core.experiments import (
    DEFAULT_ABLATIONS,
    ablation_variants,
    config_grid,
    history_frame,
    method_sets,
    robustness_table,
)
from msmix_core.figures import robustness_curves, training_curves
from msmix_core.jobs import TrainingJob, run_names
from msmix_core.jobs.job import epoch_costs, stored_epoch_costs
from msmix_core.runs import RunStore
from msmix_core.training import EpochEvent, TrainConfig, train


def _config(method: str, **kw) -> TrainConfig:
    return TrainConfig(method=method, epochs=kw.pop("epochs", 2), batch_size=16, **kw)


def test_epoch_costs_come_from_this_job_then_stored_runs_then_the_mean():
    methods = ["none", "mixup", "msmix", "powmix"]
    assert epoch_costs(methods, {}, {}) == dict.fromkeys(methods, 1.0)  # nothing known: every epoch weighs the same
    costs = epoch_costs(methods, {"none": 0.2}, {"none": 0.1, "msmix": 0.4})
    assert costs["none"] == 0.2 and costs["msmix"] == pytest.approx(0.8)  # stored, scaled: this machine is 2x slower
    assert costs["mixup"] == costs["powmix"] == pytest.approx(0.5)  # unknown: the mean of the known
    assert epoch_costs(["msmix"], {"msmix": 0.3}, {"msmix": 9.0}) == {"msmix": 0.3}  # observed wins


def test_stored_epoch_costs_read_finished_runs_of_the_same_backbone_and_data(tiny, tmp_path):
    store = RunStore(tmp_path)
    train(tiny, _config("none"), store=store)
    train(tiny, _config("none", backbone="tfn"), store=store)  # another backbone: not this job's cost
    (mine,) = [run for run in store.list() if run.config["backbone"] == "late_fusion"]
    costs = stored_epoch_costs(store, tiny.name, [_config("none"), _config("msmix")])
    assert costs == {"none": pytest.approx(float(np.median([h["wall_time"] for h in mine.history])))}
    assert stored_epoch_costs(store, "another dataset", [_config("none")]) == {}


def test_a_job_that_starts_cheap_counts_the_expensive_runs_ahead(tiny):
    job = TrainingJob(tiny, [_config("none"), _config("msmix")])
    job._stored_costs = {"none": 0.1, "msmix": 0.4}  # what stored_epoch_costs would have read
    job.on_train_start(0, {"run_id": None})
    job.on_epoch_end(0, EpochEvent(1, {}, {}, {}, {}, wall_time=0.1, elapsed=0.1, best_epoch=1, improved=True))
    # 1 of 2 cheap epochs done: a tenth of the work (2 × 0.1 + 2 × 0.4), not a quarter of the epochs
    assert job.progress().fraction == pytest.approx(0.1)


def test_run_names_add_the_seed_only_when_a_variant_repeats():
    configs = [_config("none"), _config("msmix", seed=1), _config("msmix", seed=2)]
    assert run_names(configs) == ["none", "msmix (seed 1)", "msmix (seed 2)"]
    with pytest.raises(MsmixError, match="same method label and seed"):
        run_names([_config("none"), _config("none")])


@pytest.mark.slow
def test_job_trains_every_config_into_the_store(tiny, tmp_path):
    store = RunStore(tmp_path)
    job = TrainingJob(tiny, [_config("none"), _config("mixup")], store)
    assert job.progress().eta is None and job.progress().fraction == 0.0
    job.start()
    assert job.join(120)
    progress = job.progress()
    assert progress.status == "finished" and progress.fraction == 1.0 and progress.eta == 0.0
    assert progress.runs_done == 2 and progress.current is None
    assert [len(h) for h in progress.histories.values()] == [2, 2]
    stored = {run.id: run for run in store.list()}
    assert set(progress.run_ids.values()) == set(stored)
    for name, run_id in progress.run_ids.items():
        run = stored[run_id]
        assert run.status == "finished" and run.config["label"] == name
        drawn = progress.histories[name]  # what the page drew is what was stored (diagnostics hold NaN)
        assert [(r["losses"], r["test_metrics"]) for r in run.history] == [
            (r["losses"], r["test_metrics"]) for r in drawn
        ]
    with pytest.raises(MsmixError, match="already started"):
        job.start()


@pytest.mark.slow
def test_stop_keeps_a_stopped_run_and_skips_the_rest(tiny, tmp_path):
    class StopAfterFirstEpoch(TrainingJob):
        mid_run = None

        def on_epoch_end(self, index, event):
            super().on_epoch_end(index, event)
            if self.mid_run is None:
                self.mid_run = self.progress()
                self.stop()

    store = RunStore(tmp_path)
    job = StopAfterFirstEpoch(tiny, [_config("msmix", epochs=5), _config("none")], store).start()
    assert job.join(120)
    mid = job.mid_run  # after 1 of at most 5 + 2 epochs, the 6 left at the first epoch's cost (nothing stored)
    assert mid.running and mid.current == "msmix" and mid.fraction == pytest.approx(1 / 7)
    assert mid.eta == pytest.approx(6 * mid.histories["msmix"][0]["wall_time"])
    progress = job.progress()
    assert progress.status == "stopped" and progress.run_status == {"msmix": "stopped"}
    (run,) = store.list()  # the training process may have begun epoch 2 before it saw the request
    assert run.status == "stopped" and len(run.history) in (1, 2) and run.has_weights
    assert len(progress.histories["msmix"]) == len(run.history) and progress.histories["none"] == []


@pytest.mark.slow
def test_a_failing_run_ends_the_job_as_failed_with_the_message(tiny, tmp_path):
    store = RunStore(tmp_path)
    job = TrainingJob(tiny, [_config("msmix", method_kwargs={"threshold": 7.0})], store).start()
    assert job.join(60)
    progress = job.progress()
    assert progress.status == "failed" and "threshold" in progress.error


@pytest.mark.slow
def test_two_jobs_at_once_keep_their_own_runs(tiny, tmp_path):
    """Two sessions training at the same time: each job sees exactly its own runs, all finished."""
    store = RunStore(tmp_path)
    jobs = [TrainingJob(tiny, [_config(m, seed=seed)], store) for m, seed in (("none", 1), ("mixup", 2))]
    barrier = threading.Barrier(2)
    starters = [threading.Thread(target=lambda j=j: (barrier.wait(), j.start())) for j in jobs]
    for t in starters:
        t.start()
    for t in starters:
        t.join()
    assert all(job.join(120) for job in jobs)
    for job, method in zip(jobs, ("none", "mixup"), strict=True):
        progress = job.progress()
        assert progress.status == "finished" and list(progress.histories) == [method]
        (run_id,) = progress.run_ids.values()
        assert store.load(run_id).config["method"] == method
    assert len(store.list()) == 2


@pytest.fixture
def one_torch_thread():
    """Train on one torch thread, restored after: on two threads, two processes gave losses 1e-6 apart in a parallel
    pytest run (not reproduced alone); one thread per run is what the pool's bit-for-bit tests use too."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow
def test_jobs_at_once_give_the_numbers_of_a_run_alone(tiny, tmp_path, one_torch_thread):
    """Same seed, same result, while another job trains and this process draws from torch's global RNG."""
    config = _config("msmix", epochs=2)
    alone = train(tiny, config)
    store = RunStore(tmp_path)
    jobs = [TrainingJob(tiny, [config], store).start() for _ in range(2)]
    while any(job.is_alive() for job in jobs):  # what a page building an untrained encoder does
        torch.manual_seed(0)
        torch.rand(1000)
        time.sleep(0.01)  # leave the two cores to the jobs' processes
    for job in jobs:
        assert job.join(120) and job.progress().status == "finished"
        (history,) = job.progress().histories.values()
        assert [r["losses"] for r in history] == [r["losses"] for r in alone.history]
    assert {run.metrics["test"]["MAE"] for run in store.list()} == {alone.test_metrics["MAE"]}


@pytest.mark.slow
def test_a_training_process_that_dies_fails_the_job(tiny, tmp_path):
    def kill_the_training_process(index, event):
        os.kill(job.pid, signal.SIGKILL)  # as the kernel's out-of-memory killer would

    job = TrainingJob(tiny, [_config("none", epochs=50)], RunStore(tmp_path))
    job.on_epoch_end = kill_the_training_process
    job.start()
    assert job.join(120)
    progress = job.progress()
    assert progress.status == "failed" and "ended unexpectedly" in progress.error


def test_a_job_whose_work_cannot_reach_the_process_fails_with_the_reason(tiny, tmp_path):
    unpicklable = copy.copy(tiny)
    unpicklable.info = {**tiny.info, "loader": lambda: None}
    job = TrainingJob(unpicklable, [_config("none")], RunStore(tmp_path)).start()
    assert job.join(60)
    progress = job.progress()
    assert progress.status == "failed" and "training process failed" in progress.error and "pickle" in progress.error


def test_ablation_variants_switch_one_part_off_per_variant():
    variants = ablation_variants(list(DEFAULT_ABLATIONS))
    configs = config_grid(variants, [1, 2], method_knobs={"msmix": {"threshold": 0.2}}, seed_major=True)
    assert len(configs) == 8 and [c.seed for c in configs[:4]] == [1] * 4
    by_label = {c.label: c.method_kwargs for c in configs if c.seed == 2}
    assert by_label["msmix"] == {"threshold": 0.2}
    assert by_label["msmix -SAL"] == {"threshold": 0.2, "use_sal": False}
    assert {c.method for c in configs} == {"msmix"}
    with pytest.raises(MsmixError, match="subset"):
        ablation_variants(["-XYZ"])


def _record(epoch: int, mae: float) -> dict:
    metrics = {"MAE": mae, "Non0_acc_2": 0.5}
    losses = {"train": 1.0, "task": 1.0, "mix": 0.0, "sal": 0.0, "aux": 0.0, "valid": 0.9, "test": math.nan}
    return {"epoch": epoch, "losses": losses, "valid_metrics": metrics, "test_metrics": metrics}


def test_history_frame_is_long_and_drops_non_finite_values():
    frame = history_frame({"a": [_record(1, 1.0), _record(2, 0.8)], "b": [_record(1, 1.2)]})
    assert list(frame.columns) == ["run", "epoch", "split", "metric", "value"]
    mae = frame[(frame["metric"] == "MAE") & (frame["split"] == "test")]
    assert mae[["run", "epoch", "value"]].values.tolist() == [["a", 1, 1.0], ["a", 2, 0.8], ["b", 1, 1.2]]
    assert frame[(frame["metric"] == "loss") & (frame["split"] == "test")].empty  # NaN test loss dropped
    figure = training_curves(frame, "MAE")
    assert [t.name for t in figure.data] == ["a · valid", "a · test", "b · valid", "b · test"]
    assert list(training_curves(frame, "Non0_acc_2").data[0].y) == [50.0, 50.0]  # accuracies in percent


@pytest.mark.slow
def test_method_sets_and_robustness_table_score_stored_models(tiny, tmp_path):
    store = RunStore(tmp_path)
    job = TrainingJob(tiny, [_config("none", epochs=1), _config("msmix", epochs=1)], store).start()
    assert job.join(120)
    other = make_synthetic(
        seed=0, text_dim=8, n_train=48, n_valid=24, n_test=24
    )  # other feature sizes: its runs do not fit
    assert method_sets(store.list(), other, "late_fusion") == []
    (chosen,) = method_sets(store.list(), tiny, "late_fusion")
    assert list(chosen.variants) == ["none", "msmix"] and chosen.missing == ("mixup",)
    runs = chosen.runs
    table = robustness_table(runs, tiny, [0.0, 1.0], seed=3)
    assert list(table.columns[:5]) == ["label", "run", "condition", "modality", "level"]
    assert len(table) == 2 * (1 + 3 * (1 + 2))
    clean = table[table["condition"] == "clean"].set_index("label")["MAE"]
    level0 = table[(table["level"] == 0.0) & (table["modality"] == "text")].set_index("label")["MAE"]
    assert clean.to_dict() == level0.to_dict()  # noise level 0 reproduces the clean score
    figure = robustness_curves(table, "MAE")
    assert {t.name for t in figure.data if t.showlegend} == {"msmix", "none"}
    with pytest.raises(MsmixError, match="Training page"):
        robustness_table([], tiny, [0.0])


@pytest.mark.slow
def test_an_idle_worker_started_ahead_takes_the_next_training(tiny, tmp_path):
    from msmix_core.jobs import worker

    worker.prestart()
    spare = worker._spare.process.pid
    job = TrainingJob(tiny, [_config("none", epochs=1)], RunStore(tmp_path)).start()
    assert job.join(120) and job.progress().status == "finished"
    assert job.pid == spare
    assert worker._spare is not None and worker._spare.alive() and worker._spare.process.pid != spare


@pytest.mark.slow
def test_a_job_with_two_workers_trains_in_a_pool_reports_every_epoch_and_stores_failures(tiny, tmp_path):
    store = RunStore(tmp_path)
    configs = [_config("none", seed=1), _config("msmix", seed=1, method_kwargs={"threshold": 7.0})]
    job = TrainingJob(tiny, configs, store, workers=2).start()
    assert job.join(180)
    progress = job.progress()
    assert progress.status == "failed" and "1 of 2 runs failed" in progress.error and "threshold" in progress.error
    assert progress.run_status == {"none": "finished", "msmix": "failed"} and progress.runs_done == 2
    assert len(progress.histories["none"]) == 2 and progress.fraction == 1.0
    stored = {store.load(run_id).config["method"]: store.load(run_id) for run_id in progress.run_ids.values()}
    assert stored["none"].status == "finished" and stored["none"].config["torch_threads"] == 1
    assert stored["msmix"].status == "failed" and "threshold" in stored["msmix"].error
    with pytest.raises(MsmixError, match="give it a RunStore"):
        TrainingJob(tiny, configs, None, workers=2)


@pytest.mark.slow
def test_an_idle_worker_imports_ahead_what_its_first_optimizer_would():
    """torch's first optimizer imports torch._dynamo (seconds): a child started ahead does it before Run."""
    probe = (
        "import sys; from msmix_core.jobs.worker import _import_ahead; before = 'torch._dynamo' in sys.modules; "
        "_import_ahead(); print(before, 'torch._dynamo' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "True"]
