"""AppTest of Ablation and Robustness on a store that mixes settings: every table compares like with like."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from helpers import APP_TIMEOUT, open_page, start_training, values
from test_comparisons import older_complete_newer_smaller

from msmix_core.runs import experiment_key
from msmix_core.training import TrainConfig, train

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def _record(store, dataset, minutes, seed, mae, label=None, method="msmix", **config):
    train_config = TrainConfig(method=method, seed=seed, label=label, **config)
    stored = train_config.to_dict() | {"label": train_config.display_label, "dataset": dataset}
    metrics = {"MAE": mae, "Non0_acc_2": 0.7 - mae / 10, "Corr": 0.3}
    history = [{"epoch": e} for e in range(1, train_config.epochs + 1)]
    created = T0 + timedelta(minutes=minutes)
    return store.record(stored, history, status="finished", metrics={"test": metrics}, created=created)


def test_ablation_compares_like_with_like_and_says_what_it_left_out(store, tiny):
    for seed in (1, 2, 3):
        _record(store, tiny.name, seed, seed, 1.0 + seed / 100, epochs=2)
        _record(store, tiny.name, seed, seed, 1.1 + seed / 50, "msmix -SAL", epochs=2, method_kwargs={"use_sal": False})
        _record(store, tiny.name, 10 + seed, seed, 0.5, epochs=3)  # newer: it must not replace the 2-epoch runs
        _record(
            store, tiny.name, 20 + seed, seed, 0.9, "msmix threshold=0.2", epochs=2, method_kwargs={"threshold": 0.2}
        )
    at = open_page("ablation")
    wide = at.dataframe[0].value
    assert wide["label"].tolist() == ["msmix", "msmix -SAL"] and wide["n_seeds"].tolist() == [3, 3]
    assert wide.loc[0, "MAE"].startswith("1.0200 ± ")  # the 2-epoch runs' mean, not the newer 3-epoch runs'
    full = TrainConfig(method="msmix", epochs=2).to_dict() | {"dataset": tiny.name}
    assert wide.loc[0, "experiment"] == experiment_key(full)
    captions = [c.value for c in at.caption]
    assert "Left out: 3 'msmix' runs with epochs=3 not compared: no 'msmix -SAL' runs with those settings." in captions
    assert any("method.threshold=0.2 not compared" in c for c in captions)
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert {trace["type"] for trace in chart["data"]} == {"scatter"}  # dots and whiskers, no bar from 0
    low, high = chart["layout"]["xaxis"]["range"]
    assert low < 0 < high and low < 100 * (0.02 - 0.04) / 10  # the seeds' spread and 0 are both in view

    sets = at.selectbox(key="ab_set")
    assert len(sets.options) == 3
    other = next(option for option in sets.options if "epochs=3" in option)
    sets.select(other).run()
    assert at.dataframe[0].value["label"].tolist() == ["msmix"] and not at.get("plotly_chart")
    assert at.dataframe[0].value.loc[0, "MAE"].startswith("0.5000")


def test_ablation_shows_the_newest_set_with_a_paired_test_by_default(store, tiny):
    older_complete_newer_smaller(store, lambda store, *args, **config: _record(store, tiny.name, *args, **config))
    at = open_page("ablation")
    wide = at.dataframe[0].value
    assert wide["label"].tolist() == ["msmix", "msmix -SAL"]  # the newer 3-epoch set, not the older complete one
    full = TrainConfig(method="msmix", epochs=3).to_dict() | {"dataset": tiny.name}
    assert wide.loc[0, "experiment"] == experiment_key(full)
    assert at.selectbox(key="ab_set").index == 0 and "ab_set" not in at.query_params  # the default, a short URL


@pytest.mark.slow
def test_ablation_follows_the_set_of_its_own_job(store, tiny):
    for seed in (1, 2, 3):  # an older set with every variant and a paired test: the default before the job
        _record(store, tiny.name, seed, seed, 1.0, epochs=2)
        _record(store, tiny.name, seed, seed, 1.1, "msmix -SAL", epochs=2, method_kwargs={"use_sal": False})
        _record(store, tiny.name, seed, seed, 1.2, "msmix -SIG", epochs=2, method_kwargs={"use_sig": False})
    at = open_page("ablation")
    assert at.dataframe[0].value["label"].tolist() == ["msmix", "msmix -SAL", "msmix -SIG"]
    at.multiselect(key="ab_variants").set_value(["full", "no-sig"])
    at.number_input(key="ab_seeds").set_value(1)
    at.number_input(key="ab_epochs").set_value(1)
    next(b for b in at.button if b.label == "Run ablation").click().run()
    job = at.session_state["ablation_job"]
    assert job.join(APP_TIMEOUT)
    at.run()
    assert not at.exception
    assert at.dataframe[0].value["label"].tolist() == ["msmix", "msmix -SIG"]  # its one seed: no test, its set
    other = next(option for option in at.selectbox(key="ab_set").options if "epochs=2" in option)
    at.selectbox(key="ab_set").select(other).run()
    at.run()  # the user's choice stays: the page follows its job once, then lets go
    assert at.dataframe[0].value["label"].tolist() == ["msmix", "msmix -SAL", "msmix -SIG"]


def test_ablation_means_are_over_the_seeds_the_tests_pair_and_it_says_what_it_left_out(store, tiny):
    for seed in (1, 2, 3):
        _record(store, tiny.name, seed, seed, 1.0 + seed / 100, epochs=2)
        _record(store, tiny.name, seed, seed, 1.1, "msmix -SAL", epochs=2, method_kwargs={"use_sal": False})
    _record(store, tiny.name, 4, 4, 9.0, epochs=2)  # no '-SAL' partner: in neither the mean nor the test
    at = open_page("ablation")
    wide = at.dataframe[0].value
    assert wide["n_seeds"].tolist() == [3, 3] and wide.loc[0, "MAE"].startswith("1.0200 ± ")
    note = (
        "Not in the table: 1 run left out for lacking a partner seed ('msmix' seed 4): the means and tests use "
        "3 seeds (1, 2, 3), which every variant has."
    )
    assert note in [c.value for c in at.caption]


def test_ablation_with_only_unlike_runs_says_so(store, tiny):
    _record(store, tiny.name, 1, 1, 1.0, epochs=2)
    _record(store, tiny.name, 2, 1, 1.1, "msmix -SAL", epochs=3, method_kwargs={"use_sal": False})
    at = open_page("ablation")
    assert any("No ablation to compare yet" in info.value for info in at.info)
    assert len(at.selectbox(key="ab_set").options) == 2


@pytest.mark.slow
def test_robustness_matches_settings_across_methods_and_averages_over_seeds(store, tiny):
    for seed in (1, 2):
        for method in ("none", "msmix"):
            train(tiny, TrainConfig(method=method, epochs=1, batch_size=16, seed=seed), store=store)
    train(tiny, TrainConfig(method="msmix", epochs=1, batch_size=16, seed=3), store=store)  # no 'none' partner
    longer = train(tiny, TrainConfig(method="msmix", epochs=2, batch_size=16, seed=1), store=store)  # newest
    at = open_page("robustness", rb_level="0.5")
    assert at.multiselect(key="rb_methods").value == ["none", "msmix"]
    assert at.multiselect(key="rb_seeds").options == ["1", "2"]  # the seeds both methods have
    means, raw = at.dataframe[0].value, at.dataframe[1].value
    assert set(means["label"]) == {"none", "msmix"} and set(means["n_seeds"]) == {2}
    keys = {run.config["method"]: run.experiment_key for run in store.list() if run.config["epochs"] == 1}
    assert dict(zip(means["label"], means["experiment"], strict=False)) == keys  # the caption's "key in the table"
    assert dict(zip(raw["label"], raw["experiment"], strict=False)) == keys
    assert longer.run_id not in set(raw["run"]) and set(raw["seed"]) == {1, 2}  # nor the lone seed 3
    captions = [c.value for c in at.caption]
    assert "Left out: 1 'msmix' run with epochs=2 not compared: no 'none' runs with those settings." in captions
    assert any(c.startswith("Not scored: 1 run left out for lacking a partner seed ('msmix' seed 3)") for c in captions)
    assert any("each variant's experiment key is in the table" in c for c in captions)
    differences, curves = (json.loads(chart.proto.spec) for chart in at.get("plotly_chart"))
    assert {trace["name"] for trace in differences["data"]} == {"msmix"}  # msmix minus none
    assert all(max(values(trace["error_y"]["array"])) > 0 for trace in differences["data"])  # 95 % intervals
    low, high = differences["layout"]["yaxis"]["range"]
    assert low < 0 < high
    assert "range" not in curves["layout"]["yaxis"]  # raw scores: the axis follows the data, not 0

    at.multiselect(key="rb_seeds").set_value([2]).run()  # one seed: its models alone, no interval
    assert set(at.dataframe[0].value["n_seeds"]) == {1} and at.query_params["rb_seeds"] == "2"
    differences = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert all(max(values(trace["error_y"]["array"])) == 0 for trace in differences["data"])

    at.multiselect(key="rb_methods").set_value(["msmix"]).run()  # msmix alone: all three of its seeds
    assert at.multiselect(key="rb_seeds").options == ["1", "2", "3"]
    assert not any(c.startswith("Not scored") for c in (c.value for c in at.caption))
    at.multiselect(key="rb_methods").set_value(["none", "msmix"]).run()

    sets = at.selectbox(key="rb_set")
    sets.select(next(option for option in sets.options if "epochs=2" in option)).run()
    assert not at.exception
    assert at.multiselect(key="rb_methods").value == ["msmix"]
    assert set(at.dataframe[0].value["n_seeds"]) == {1} and len(at.get("plotly_chart")) == 1
    shared = open_page("robustness", rb_set=at.query_params["rb_set"])  # a link opens the same set
    assert shared.multiselect(key="rb_methods").value == ["msmix"] and set(shared.dataframe[0].value["n_seeds"]) == {1}


@pytest.mark.slow
def test_robustness_with_only_unlike_runs_says_so_and_shows_each_set_on_its_own(store, tiny):
    train(tiny, TrainConfig(method="none", epochs=1, batch_size=16, seed=1), store=store)
    alone = train(tiny, TrainConfig(method="msmix", epochs=2, batch_size=16, seed=1), store=store)  # newest
    at = open_page("robustness", rb_level="0.25")
    (warning,) = at.warning
    assert warning.value.startswith("Only unlike runs: no two methods were trained with the same settings")
    sets = at.selectbox(key="rb_set")
    assert len(sets.options) == 2 and "epochs=2" in sets.options[sets.index]  # the newest, on its own
    assert at.multiselect(key="rb_methods").options == ["msmix"] and set(at.dataframe[1].value["run"]) == {alone.run_id}
    assert len(at.get("plotly_chart")) == 1  # its scores, no difference from a reference it lacks
    sets.select(next(option for option in sets.options if "epochs=1" in option)).run()
    assert at.multiselect(key="rb_methods").options == ["none"] and at.warning


@pytest.mark.slow
def test_training_summary_names_each_runs_experiment(store):
    at = open_page("training")
    assert start_training(at, ["none", "mixup"], epochs=1).join(APP_TIMEOUT)
    at.run()
    assert not at.exception
    summary = at.dataframe[0].value
    stored = {run.config["label"]: run.experiment_key for run in store.list()}
    assert dict(zip(summary["run"], summary["experiment"], strict=True)) == stored


def test_leaving_out_a_variant_on_fewer_seeds_compares_the_others_on_more(store, tiny):
    for seed in (1, 2, 3):
        _record(store, tiny.name, seed, seed, 1.0 + seed / 100, epochs=2)
        _record(store, tiny.name, seed, seed, 1.1, "msmix -SAL", epochs=2, method_kwargs={"use_sal": False})
    _record(store, tiny.name, 4, 1, 1.2, "msmix -SIG", epochs=2, method_kwargs={"use_sig": False})  # one seed only
    at = open_page("ablation")
    assert at.dataframe[0].value["n_seeds"].tolist() == [1, 1, 1]  # every variant on the one seed they all have
    (chooser,) = [m for m in at.multiselect if m.label == "Variants compared"]
    chooser.unselect("msmix -SIG").run()
    wide = at.dataframe[0].value
    assert wide["n_seeds"].tolist() == [3, 3] and "msmix -SIG" not in " ".join(map(str, wide.iloc[:, 0]))
