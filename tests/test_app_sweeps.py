"""AppTest of the Sweeps page on a tiny synthetic dataset, a tmp run store and a tiny Optuna study."""

from __future__ import annotations

import json

import optuna
import pytest
from helpers import APP_TIMEOUT, open_page, values
from streamlit.testing.v1 import AppTest

from msmix_core.experiments.sweeps import stored_sweeps, sweep_table
from msmix_core.runs import RunStore


def _chart(at: AppTest) -> dict:
    return json.loads(at.get("plotly_chart")[0].proto.spec)


def _fake_sweep(store: RunStore, dataset: str, values=(0.2, 0.4, 0.6), seeds=(1, 2), epochs=3) -> None:
    """Stored MS-Mix runs of a δ sweep with made-up metrics (the page only reads the store)."""
    for value in values:
        for seed in seeds:
            config = {
                "dataset": dataset,
                "backbone": "late_fusion",
                "method": "msmix",
                "label": f"msmix threshold={value:g}",
                "seed": seed,
                "epochs": epochs,
                "method_kwargs": {"threshold": value},
            }
            metrics = {"MAE": 1.0 + value + 0.01 * seed, "Non0_acc_2": 0.6, "Corr": 0.3}
            store.record(config, [], status="finished", metrics={"valid": metrics, "test": metrics}, best_epoch=1)


def test_sweep_table_groups_runs_by_knob_value_with_mean_std_and_n(store, tiny):
    _fake_sweep(store, tiny.name)
    (name, runs), *others = stored_sweeps(store.list(), "msmix", "threshold", tiny.name).items()
    assert not others and len(runs) == 6 and "3 values × 2 seeds" in name
    table = sweep_table(runs, "threshold", "MAE")
    assert table["threshold"].tolist() == [0.2, 0.4, 0.6] and table["n"].tolist() == [2, 2, 2]
    assert table["mean"].tolist() == pytest.approx([1.215, 1.415, 1.615])
    assert table["std"].tolist() == pytest.approx([0.005] * 3)  # MMSA's population std over seeds


def test_the_page_renders_and_asks_for_a_sweep(store):
    at = open_page("sweeps")
    assert any("Run sweep" in info.value for info in at.info)
    assert at.selectbox(key="sw_knob").value == "threshold"
    assert at.text_input(key="sw_values_threshold").value == "0.1:0.9:5"


def test_a_tiny_sweep_runs_and_draws_metric_against_knob_with_default_and_paper_marked(store):
    at = open_page("sweeps")
    at.text_input(key="sw_values_threshold").set_value("0.2,0.6")
    at.number_input(key="sw_seeds").set_value(1)
    at.number_input(key="sw_epochs").set_value(1)
    next(b for b in at.button if b.label == "Run sweep").click()
    at.run()
    assert not at.exception and not at.error
    job = at.session_state["sweep_job"]
    assert job.join(APP_TIMEOUT)
    at.run()
    assert not at.exception and not at.error
    assert sorted(run.config["method_kwargs"]["threshold"] for run in store.list()) == [0.2, 0.6]
    spec = _chart(at)
    line = next(trace for trace in spec["data"] if trace.get("mode") == "lines+markers")
    assert line["name"] == "this sweep" and values(line["x"]).tolist() == [0.2, 0.6]
    marks = sorted(shape["x0"] for shape in spec["layout"]["shapes"])
    assert marks == [0.2, 0.4]  # the paper's δ and the release code's (msmix's default)
    table = at.dataframe[0].value
    assert table["threshold"].tolist() == [0.2, 0.6] and table["n"].tolist() == [1, 1]
    assert any(button.label == "Download sweep_threshold.csv" for button in at.get("download_button"))


def test_the_url_holds_the_page_settings(store):
    at = open_page("sweeps")
    at.selectbox(key="sw_knob").set_value("alpha").run()
    assert at.query_params["sw_knob"] == "alpha"
    at.text_input(key="sw_values_alpha").set_value("0,1")  # the form's fields reach the URL when it is sent
    at.number_input(key="sw_seeds").set_value(3)
    next(b for b in at.button if b.label == "Run sweep").click()
    at.run()
    assert (
        not at.exception
        and len(at.error) == 1
        and "0.0 is not valid; alpha must be a number in [0.001, 10000]" in at.error[0].value
    )
    assert at.query_params["sw_values_alpha"] == "0,1" and at.query_params["sw_seeds"] == "3"
    again = open_page("sweeps", sw_knob="alpha", sw_values_alpha="1,2", sw_seeds="3", sw_workers="99")
    assert again.selectbox(key="sw_knob").value == "alpha"
    assert again.text_input(key="sw_values_alpha").value == "1,2"
    assert again.number_input(key="sw_seeds").value == 3
    assert again.number_input(key="sw_workers").value == 1  # out of range: the default


def test_bad_values_give_one_error_line(store):
    at = open_page("sweeps")
    at.text_input(key="sw_values_threshold").set_value("0:1.5:4")
    next(b for b in at.button if b.label == "Run sweep").click()
    at.run()
    assert not at.exception and len(at.error) == 1
    assert "1.5 is not valid; threshold must be a number in [0, 1]" in at.error[0].value
    assert "sweep_job" not in at.session_state


def test_a_stored_sweep_overlays(store, tiny):
    _fake_sweep(store, tiny.name)
    at = open_page("sweeps")
    (option,) = at.multiselect(key="sw_overlay").options
    at.multiselect(key="sw_overlay").set_value([option]).run()
    assert not at.exception and not at.error
    lines = [trace for trace in _chart(at)["data"] if trace.get("mode") == "lines+markers"]
    assert [line["name"] for line in lines] == [option] and values(lines[0]["x"]).tolist() == [0.2, 0.4, 0.6]


def test_an_overlay_counts_each_seed_once_where_an_ablation_and_a_sweep_share_the_default(store, tiny):
    for seed in (1, 2, 3):  # msmix ablate's full MS-Mix: δ at its default, 0.4
        config = {"dataset": tiny.name, "backbone": "late_fusion", "method": "msmix", "label": "msmix", "seed": seed}
        metrics = {"MAE": 9.0, "Non0_acc_2": 0.1, "Corr": 0.3}
        store.record(config | {"epochs": 3}, [], status="finished", metrics={"test": metrics}, best_epoch=1)
    _fake_sweep(store, tiny.name, values=(0.2, 0.4), seeds=(1, 2, 3))  # then msmix sweep, newer
    at = open_page("sweeps")
    (option,) = at.multiselect(key="sw_overlay").options
    assert "2 values × 3 seeds" in option
    at.multiselect(key="sw_overlay").set_value([option]).run()
    table = at.dataframe[0].value
    assert table["n"].tolist() == [3, 3] and table["mean"].tolist() == pytest.approx([0.6, 0.6])  # the newest runs


def test_a_study_file_shows_optuna_history_and_importances(store, tmp_path):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        storage=f"sqlite:///{tmp_path / 'tune.db'}", study_name="msmix-tiny", sampler=optuna.samplers.TPESampler(seed=0)
    )
    study.optimize(lambda t: (t.suggest_float("threshold", 0, 1) - 0.3) ** 2 + t.suggest_float("alpha", 0.1, 8), 6)
    at = open_page("sweeps")
    at.selectbox(key="sw_study_file").set_value(str(tmp_path / "tune.db")).run()
    assert not at.exception and not at.error
    assert any("msmix-tiny" in m.value and "6 trials" in m.value for m in at.markdown)
    titles = [json.loads(chart.proto.spec)["layout"]["title"]["text"] for chart in at.get("plotly_chart")]
    assert titles == ["Optimization History Plot", "Hyperparameter Importances"]


@pytest.mark.parametrize("path", ["no/such/file.db", "README.md"])
def test_a_bad_study_path_gives_one_line(store, path):
    at = open_page("sweeps", sw_study=path)
    assert not at.exception and len(at.error) == 1
    assert path in at.error[0].value
