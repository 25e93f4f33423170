"""AppTest of the Training, Ablation and Robustness pages on a tiny synthetic dataset and a tmp run store."""

from __future__ import annotations

import json

import pytest
from helpers import APP_TIMEOUT, open_page, start_training, wait_first_epoch
from streamlit.testing.v1 import AppTest

from msmix_core.jobs import JobProgress, TrainingJob
from msmix_core.mixing import method_knobs
from msmix_core.runs import RunStatus, RunStore
from msmix_core.training import TrainConfig, train
from ui.jobs_view import POLL, REDRAW_EVERY, poll_interval, progress_text, redraw_due


def test_a_page_polls_at_one_pace_while_a_job_trains(tiny):
    job = TrainingJob(tiny, [TrainConfig(method="none", epochs=1, batch_size=16)])
    assert poll_interval(None, True) is None and poll_interval(job, False) is None
    assert poll_interval(job, True) == POLL and poll_interval(job, True, every=2.0) == 2.0


@pytest.mark.parametrize(
    ("current", "done", "eta", "said"),
    [
        (None, 0, None, "Starting the training process (0/2 runs done) · estimating…"),
        ("none · seed 1", 0, 75.4, "Training none · seed 1 (0/2 runs done) · about 1 min 15 s left"),
        (None, 1, 9.0, "Starting the next run (1/2 runs done) · about 9 s left"),
        (None, 2, 0.0, "Storing the last run (2/2 runs done) · about 0 s left"),
    ],
)
def test_the_progress_text_says_what_the_job_is_doing(current, done, eta, said):
    progress = JobProgress(RunStatus.RUNNING, ["a", "b"], done, current, done / 2, 1.0, eta, {}, {})
    assert progress_text(progress) == said


def test_curves_are_redrawn_for_the_first_epoch_at_the_end_and_otherwise_every_few_seconds():
    now = 100.0
    assert redraw_due(None, False, True, now)  # nothing drawn yet
    assert redraw_due(now - 0.1, False, True, now)  # no epoch drawn yet: the first one is news
    assert not redraw_due(now - 0.1, True, True, now)  # drawn a moment ago: the same chart again
    assert redraw_due(now - REDRAW_EVERY, True, True, now)
    assert redraw_due(now - 0.1, True, False, now)  # the job ended: its last epochs at once


def test_training_over_three_seeds_says_whether_the_gap_is_significant(store):
    at = open_page("training")
    job = start_training(at, ["none", "mixup"], epochs=1, seeds=3)
    assert job.join(APP_TIMEOUT)
    at.run()
    assert not at.exception and not at.error
    assert len(store.list()) == 6 and {r.config["seed"] for r in store.list()} == {1111, 1112, 1113}
    said = [m.value for m in at.markdown if "against none" in m.value]
    assert len(said) == 1 and ("significantly" in said[0]) and "3 seeds" in said[0]
    seed_table = at.dataframe[-1].value
    assert set(seed_table["label"]) == {"none", "mixup"} and set(seed_table["n_seeds"]) == {3}


def test_training_warns_when_a_run_did_not_learn(store):
    at = open_page("training")
    job = start_training(at, ["none"], epochs=2, recipe="release")  # lr 0 then 1e-4: nothing is learned
    assert job.join(APP_TIMEOUT)
    at.run()
    assert not at.exception
    assert any("did not learn" in w.value for w in at.warning)
    assert store.list()[0].config["recipe"] == "release"


def _curve_runs(at: AppTest) -> set[str]:
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    return {trace["legendgroup"] for trace in spec["data"]}


def test_training_two_methods_draws_two_curves_and_a_table(store):
    at = open_page("training")
    assert any("press **Run**" in info.value for info in at.info)
    job = start_training(at, ["none", "mixup"], epochs=2)
    assert job.join(APP_TIMEOUT)
    at.run()
    assert not at.exception and not at.error
    assert _curve_runs(at) == {"none", "mixup"}
    table = at.dataframe[0]  # then the table over seeds
    assert table.value["run"].tolist() == ["none", "mixup"] and table.value["epochs"].tolist() == [2, 2]
    assert any("Finished" in s.value for s in at.success)
    assert sorted(run.status for run in store.list()) == ["finished", "finished"]

    assert any("no test" in m.value for m in at.markdown)  # one seed: the page refuses to call a winner

    fresh = open_page("training")  # a reload (new session) finds the runs in the store and can overlay them
    options = fresh.multiselect(key="tr_overlay").options
    assert len(options) == 2
    fresh.multiselect(key="tr_overlay").set_value([run.id for run in store.list()]).run()
    assert len(_curve_runs(fresh)) == 2


def test_a_reloaded_page_follows_the_job_its_url_names(store):
    at = open_page("training")
    job = start_training(at, ["none"], epochs=2)
    assert at.query_params["training_job"] == job.id  # kept in the URL
    reloaded = open_page("training", training_job=job.id)  # a reload: a new session, the same URL
    assert reloaded.session_state["training_job"] is job
    assert job.join(APP_TIMEOUT)
    reloaded.run()
    assert not reloaded.exception and _curve_runs(reloaded) == {"none"}
    stranger = open_page("training", training_job="not-a-job")
    assert "training_job" not in stranger.session_state


def test_the_msmix_sliders_read_the_method_declaration(store):
    at = open_page("training")
    for knob in ("alpha", "threshold", "mix_weight", "sal_weight"):
        declared, slider = method_knobs("msmix")[knob], at.slider(key=f"tr_{knob}")
        low, high, _ = declared.search_range()
        assert (slider.min, slider.max, slider.value, slider.help) == (low, high, declared.default, declared.doc)


def test_run_without_methods_shows_an_error_not_a_traceback(store):
    at = open_page("training")
    at.multiselect(key="tr_methods").set_value([])
    next(b for b in at.button if b.label == "Run").click()
    at.run()
    assert not at.exception
    assert any("choose at least one method" in e.value for e in at.error)
    assert "training_job" not in at.session_state


def test_stop_ends_the_run_as_stopped_with_its_history(store):
    at = open_page("training")
    at.slider(key="tr_threshold").set_value(0.6)
    job = start_training(at, ["msmix", "none"], epochs=50)
    wait_first_epoch(job, "msmix")  # the user sees the first epoch's point, then presses Stop
    at.button(key="tr_stop").click().run()
    assert job.join(APP_TIMEOUT)
    at.run()
    assert any("Stopped" in s.value for s in at.success)
    (run,) = store.list()  # the second method never started
    assert run.status == "stopped" and run.config["method"] == "msmix" and 1 <= len(run.history) < 50
    assert run.config["method_kwargs"]["threshold"] == 0.6  # the slider reached the trainer


def test_two_sessions_training_at_once_both_finish_with_their_own_runs(store):
    sessions = [open_page("training"), open_page("training")]
    jobs = [start_training(at, [m], epochs=2) for at, m in zip(sessions, ["none", "mixup"], strict=True)]
    assert jobs[0] is not jobs[1]
    assert all(job.join(APP_TIMEOUT) for job in jobs)
    for at, method in zip(sessions, ["none", "mixup"], strict=True):
        at.run()
        assert _curve_runs(at) == {method}
        assert at.dataframe[0].value["run"].tolist() == [method]
    assert sorted(run.config["method"] for run in store.list() if run.status == "finished") == ["mixup", "none"]


def _fake_ablation_runs(store: RunStore, dataset: str, seeds=(1, 2, 3)) -> None:
    """Stored MS-Mix ablation runs with made-up metrics (the page only reads the store)."""
    for seed in seeds:
        for label, knobs, mae in (("msmix", {}, 1.0), ("msmix -SAL", {"use_sal": False}, 1.1)):
            config = {"dataset": dataset, "backbone": "late_fusion", "method": "msmix", "label": label, "seed": seed}
            config["method_kwargs"] = knobs  # a run is a variant by its settings, not by its label
            run = store.create(config)
            metrics = {"MAE": mae + 0.01 * seed, "Non0_acc_2": 0.6, "Corr": 0.3}
            run.finish("finished", metrics={"valid": metrics, "test": metrics}, best_epoch=1)


def test_ablation_page_reads_stored_runs_and_reports_damaged_folders(store, tiny):
    at = open_page("ablation")
    assert any("No finished MS-Mix runs" in info.value for info in at.info)
    _fake_ablation_runs(store, tiny.name)
    (store.root / "broken-run").mkdir()
    (store.root / "broken-run" / "config.json").write_text("{not json")
    at.run()
    assert not at.exception
    assert any("damaged run folder" in e.value for e in at.error)
    wide = at.dataframe[0].value
    assert wide["label"].tolist() == ["msmix", "msmix -SAL"] and wide["n_seeds"].tolist() == [3, 3]
    assert wide.loc[1, "MAE"].startswith("1.1200 ± 0.0082") and wide.loc[1, "MAE p"] != ""
    assert len(at.get("plotly_chart")) == 1


def test_ablation_page_refuses_a_paired_test_on_two_seeds(store, tiny):
    _fake_ablation_runs(store, tiny.name, seeds=(1, 2))
    at = open_page("ablation")
    assert any("No paired test yet" in info.value for info in at.info)
    wide = at.dataframe[0].value
    assert wide.loc[1, "MAE p"] == "" and "*" not in wide.loc[1, "MAE"] and "†" not in wide.loc[1, "MAE"]


def test_ablation_page_launches_a_job_over_seeds(store):
    at = open_page("ablation")
    at.multiselect(key="ab_variants").set_value(["full", "no-sig"])
    at.number_input(key="ab_seeds").set_value(1)
    at.number_input(key="ab_epochs").set_value(1)
    next(b for b in at.button if b.label == "Run ablation").click()
    at.run()
    job = at.session_state["ablation_job"]
    assert job.join(APP_TIMEOUT)
    at.run()
    assert not at.exception
    assert at.dataframe[0].value["label"].tolist() == ["msmix", "msmix -SIG"]


def test_robustness_page_scores_a_stored_model_and_reports_bad_weights(store, tiny):
    at = open_page("robustness")
    assert any("No stored" in info.value for info in at.info)
    result = train(tiny, TrainConfig(method="msmix", epochs=1, batch_size=16), store=store)
    at.run()
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert set(table["label"]) == {"msmix"} and len(table) == 1 + 3 * (1 + 5)
    at.slider(key="rb_level").set_value(2.0).run()
    assert at.dataframe[0].value["level"].max() == 2.0
    (store.root / result.run_id / "weights.pt").write_bytes(b"hello")  # not a pickle: torch raises KeyError
    at.slider(key="rb_level").set_value(0.5).run()  # new levels: not cached, the weights are read again
    assert not at.exception
    assert any("cannot be loaded" in e.value and "\n" not in e.value.strip() for e in at.error)


def test_the_training_form_lives_in_the_url_and_a_reload_restores_it_from_its_job(store):
    at = open_page("training")
    at.select_slider(key="tr_lr").set_value(3e-4)
    job = start_training(at, ["none"], epochs=2)
    assert at.query_params["tr_epochs"] == "2" and at.query_params["tr_methods"] == "none"
    assert at.query_params["tr_lr"] == "0.0003"
    reloaded = open_page("training", training_job=job.id)  # the job's id alone: the form comes from the job
    assert reloaded.number_input(key="tr_epochs").value == 2
    assert reloaded.multiselect(key="tr_methods").value == ["none"]
    assert reloaded.select_slider(key="tr_lr").value == 3e-4
    assert job.join(APP_TIMEOUT)
    shared = open_page("training", tr_epochs="7", tr_threshold="5")  # a threshold out of range: the default
    assert shared.number_input(key="tr_epochs").value == 7 and shared.slider(key="tr_threshold").value == 0.4
