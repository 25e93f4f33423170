"""AppTest of the Runs page over a store filled by hand: filter, group, select two and diff, tag, note, delete, URL."""

from __future__ import annotations

import plotly.io as pio
import pytest
import torch
from helpers import open_page, ran, values
from stored_runs import fill, record, record_on_data
from streamlit.testing.v1 import AppTest

from msmix_core.experiments.ablation import ABLATION_FACTOR
from msmix_core.runs import RunStore, comparable_sets
from msmix_core.runs.annotations import read_note, read_tags
from ui import run_links


@pytest.fixture
def filled(tmp_path, monkeypatch):
    monkeypatch.setenv("MSMIX_RUNS_DIR", str(tmp_path))
    store = RunStore(tmp_path)
    return store, fill(store)


def shown_ids(at: AppTest) -> set[str]:
    return set(at.dataframe[0].value["id"])


def test_filter_search_and_sort_keep_their_state_in_the_url(filled):
    runs = filled[1]
    at = open_page("runs")
    assert len(shown_ids(at)) == 13 and "13 of 13 runs." in [c.value for c in at.caption]
    at.text_input(key="rn_where").set_value("label=msmix; max_epochs>=3").run()
    assert shown_ids(at) == {run.id for run in runs["msmix 3 epochs"]}
    assert at.query_params["rn_where"] == "label=msmix; max_epochs>=3"
    at.text_input(key="rn_where").set_value("").run()
    at.text_input(key="rn_q").set_value("threshold=0.6").run()
    assert shown_ids(at) == {run.id for run in runs["sweep"][2:]}
    at.selectbox(key="rn_sort").set_value("test_MAE").run()
    at.toggle(key="rn_desc").set_value(False).run()
    assert list(at.dataframe[0].value["id"]) == [runs["sweep"][2].id, runs["sweep"][3].id]  # seed 1 first
    at.text_input(key="rn_where").set_value("speaker=3").run()
    assert not at.exception and "no column 'speaker'" in at.error[0].value
    again = open_page("runs", rn_q="threshold=0.6", rn_sort="test_MAE", rn_desc="false")  # the link reproduces it
    assert list(again.dataframe[0].value["id"]) == [runs["sweep"][2].id, runs["sweep"][3].id]


def test_group_by_experiment_shows_mean_and_std_and_links_a_group_to_other_pages(filled):
    runs = filled[1]
    at = open_page("runs")
    at.toggle(key="rn_group").set_value(True).run()
    groups = at.dataframe[0].value
    assert len(groups) == 5 and set(groups["n_seeds"]) == {2, 3}
    key = runs["msmix 3 epochs"][0].experiment_key
    assert groups.set_index("experiment").loc[key, "MAE"] == "0.7200 ± 0.0082"
    at.multiselect(key="rn_exp").set_value([key]).run()
    assert at.query_params["rn_exp"] == key
    assert "**1 group(s), 3 runs.** Open them in:" in [m.value for m in at.markdown]
    next(b for b in at.button if b.label == "Select these runs").click().run()
    assert set(at.multiselect(key="rn_sel").value) == {run.id for run in runs["msmix 3 epochs"]}


def test_selecting_two_runs_sets_their_configs_side_by_side_and_overlays_their_curves(filled):
    runs = filled[1]
    a, b = runs["msmix"][0], runs["sweep"][2]
    at = open_page("runs")
    at.multiselect(key="rn_sel").set_value([a.id, b.id]).run()
    assert at.query_params["rn_sel"] == f"{a.id},{b.id}"
    diff = at.dataframe[-1].value
    assert "method_kwargs.threshold" in diff.index and "lr" not in diff.index  # only what differs
    assert diff.loc["method_kwargs.threshold"].iloc[:2].tolist() == ["(absent)", "0.6"]
    at.toggle(key="rn_diff_only").set_value(False).run()
    assert "lr" in at.dataframe[-1].value.index
    curves = next(chart for chart in at.get("plotly_chart") if "rn_curves" in chart.proto.id)
    traces = pio.from_json(curves.proto.spec).data
    assert len(traces) == 4 and all(len(values(trace.x)) == 2 for trace in traces)  # 2 runs × valid, test; 2 epochs
    linked = open_page("runs", rn_sel=f"{a.id},{b.id},20990101-000000-gone-s1-0000")  # a deleted run drops out
    assert linked.multiselect(key="rn_sel").value == [a.id, b.id]


def tick(at: AppTest, key: str, rows: list[int]) -> AppTest:
    """Tick ``rows`` of the table ``key`` (all others unticked), as a click on their boxes does, and rerun."""
    at.session_state[key] = {"selection": {"rows": rows, "columns": [], "cells": []}}
    return at.run()


def ticked_ids(at: AppTest, key: str = "rn_table") -> list[str]:
    ids = list(at.dataframe[0].value["id" if key == "rn_table" else "experiment"])
    return [ids[row] for row in at.session_state[key]["selection"]["rows"]]


def test_ticks_and_the_picker_show_one_selection_that_a_tick_adds_to(filled):
    runs = filled[1]
    a, b, c = runs["msmix"][0], runs["sweep"][2], runs["none"][0]
    at = open_page("runs", rn_sel=f"{a.id},{b.id}")
    assert sorted(ticked_ids(at)) == sorted([a.id, b.id])  # the link's runs are ticked
    ids = list(at.dataframe[0].value["id"])
    tick(at, "rn_table", [ids.index(a.id), ids.index(b.id), ids.index(c.id)])
    assert at.multiselect(key="rn_sel").value == [a.id, b.id, c.id]  # joins the selection, replaces nothing
    assert at.query_params["rn_sel"] == f"{a.id},{b.id},{c.id}"
    tick(at, "rn_table", [ids.index(b.id), ids.index(c.id)])  # untick a
    assert at.multiselect(key="rn_sel").value == [b.id, c.id]
    at.text_input(key="rn_where").set_value("label=none").run()  # b filtered out: still selected
    assert ticked_ids(at) == [c.id] and at.multiselect(key="rn_sel").value == [b.id, c.id]
    at.multiselect(key="rn_sel").set_value([b.id]).run()  # the picker unticks c
    assert ticked_ids(at) == []
    at.text_input(key="rn_where").set_value("").run()
    assert ticked_ids(at) == [b.id]


def test_a_linked_group_is_ticked_and_a_ticked_group_joins_it(filled):
    runs = filled[1]
    first, second = runs["msmix 3 epochs"][0].experiment_key, runs["none"][0].experiment_key
    at = open_page("runs", rn_group="true", rn_exp=first)
    assert ticked_ids(at, "rn_groups") == [first]
    keys = list(at.dataframe[0].value["experiment"])
    tick(at, "rn_groups", [keys.index(first), keys.index(second)])
    assert at.multiselect(key="rn_exp").value == [first, second]


def test_tags_notes_and_delete_with_a_confirmation(filled):
    store, runs = filled
    a, b = runs["none"][0], runs["none"][1]
    at = open_page("runs", rn_sel=f"{a.id},{b.id}")
    at.text_input(key="rn_tag_text").set_value("paper, baseline").run()
    next(button for button in at.button if button.label == "Add tags").click().run()
    assert read_tags(a.path) == ["paper", "baseline"] and read_tags(b.path) == ["paper", "baseline"]
    at.text_input(key="rn_where").set_value("tags=paper").run()
    assert shown_ids(at) == {a.id, b.id}
    assert at.code[0].value == f"{a.path}\n{b.path}"  # folders as paths to copy (no file:// link a browser refuses)
    at.selectbox(key="rn_focus").set_value(b.id).run()
    at.text_area(key=f"rn_note_{b.id}").set_value("lr too high?").run()
    next(button for button in at.button if button.label == "Save note").click().run()
    assert read_note(b.path) == "lr too high?" and read_note(a.path) == ""
    next(button for button in at.button if button.label.startswith("Delete 2 run")).click().run()
    assert a.path.exists() and "cannot be undone" in at.warning[0].value  # nothing gone before the confirmation
    next(button for button in at.button if button.label == "Cancel").click().run()
    assert a.path.exists() and not at.warning
    next(button for button in at.button if button.label.startswith("Delete 2 run")).click().run()
    next(button for button in at.button if button.label == "Yes, delete").click().run()
    assert not a.path.exists() and not b.path.exists() and len(store.list()) == 11
    assert at.multiselect(key="rn_sel").value == []


def test_a_served_app_shows_no_server_folders_and_lets_no_visitor_change_runs(filled, monkeypatch, tmp_path):
    store, runs = filled
    monkeypatch.setenv("MSMIX_DATA_DIRS", str(tmp_path))
    a = runs["none"][0]
    at = open_page("runs", rn_sel=a.id)
    labels = [button.label for button in at.button]
    assert not any(label.startswith(("Delete", "Add tags", "Save note")) for label in labels)
    assert not any(str(store.root) in str(frame.value) for frame in at.dataframe)
    assert any("This server is shared" in caption.value for caption in at.caption)
    assert a.path.exists()


def test_a_served_app_shows_no_data_folder_in_columns_search_or_diff(filled, monkeypatch, tmp_path):
    store = filled[0]
    folder = str(tmp_path / "data" / "mosi-utterance")
    monkeypatch.setenv("MSMIX_DATA_DIRS", str(tmp_path / "data"))
    runs = record_on_data(store, folder)
    at = open_page("runs", rn_q=folder)
    assert "0 of 16 runs." in [c.value for c in at.caption]  # the search finds no server path
    assert not [c for c in at.multiselect(key="rn_cols").options if "zscore" in c or "folder" in c]
    at = open_page("runs", rn_sel=f"{runs['mosi'].id},{runs['synthetic'].id},{runs['file'].id}")
    diff = at.dataframe[-1].value
    assert not [f for f in diff.index if "zscore" in f or folder in "".join(diff.loc[f].astype(str))]
    assert "dataset_info.preset" in diff.index and len(diff) < 12
    assert not any(folder in str(frame.value) for frame in at.dataframe)


def test_parallel_coordinates_of_a_filtered_sweep(filled):
    at = open_page("runs", rn_where="label=msmix threshold=*")
    charts = {chart.proto.id: chart for chart in at.get("plotly_chart")}
    parcoords = next(chart for key, chart in charts.items() if "rn_parcoords" in key)
    assert '"parcoords"' in parcoords.proto.spec and "threshold" in parcoords.proto.spec
    assert any("rn_scatter" in key for key in charts)
    at = open_page("runs", rn_where="label=msmix*", rn_pc_knob="method_kwargs.threshold")  # the link's knob
    assert at.selectbox(key="rn_pc_knob").options == ["max_epochs", "method_kwargs.threshold"]
    assert at.selectbox(key="rn_pc_knob").value == "method_kwargs.threshold"
    at.selectbox(key="rn_pc_knob").set_value("max_epochs").run()
    assert "rn_pc_knob" not in at.query_params  # the default: a short link
    at.text_input(key="rn_where").set_value("label=msmix threshold=*").run()  # max_epochs no longer varies
    assert at.selectbox(key="rn_pc_knob").value == "method_kwargs.threshold" and not at.exception


def test_the_study_shown_is_kept_in_the_url(filled, tmp_path):
    import optuna

    for name, knob in [("first", "alpha"), ("second", "threshold")]:
        study = optuna.create_study(study_name=name, storage=f"sqlite:///{tmp_path / 'tune.db'}")
        study.optimize(lambda trial, knob=knob: trial.suggest_float(knob, 0.1, 1.0), n_trials=3)
    at = open_page("runs", rn_pc_source="a tuning study", rn_pc_study="tune.db", rn_pc_study_name="second")
    assert at.selectbox(key="rn_pc_study_name").value == "second"
    assert at.selectbox(key="rn_pc_knob").value == "threshold"
    at.selectbox(key="rn_pc_study_name").set_value("first").run()
    assert at.selectbox(key="rn_pc_knob").value == "alpha" and "rn_pc_study_name" not in at.query_params
    assert at.selectbox(key="rn_pc_study").options == ["tune.db"]  # relative to the run store: no server path


def test_an_empty_store_says_where_to_train(tmp_path, monkeypatch):
    monkeypatch.setenv("MSMIX_RUNS_DIR", str(tmp_path))
    at = open_page("runs")
    assert "No runs in" in at.info[0].value


@pytest.mark.slow
def test_training_draws_a_linked_group_as_mean_and_band_and_each_seed_on_demand(store, tiny):
    runs = fill(store, dataset=tiny.name)
    group, alone = runs["msmix 3 epochs"], runs["none"][0]
    at = open_page("training", tr_overlay=",".join(run.id for run in [*group, alone]))  # the link the Runs page gives
    traces = pio.from_json(at.get("plotly_chart")[0].proto.spec).data
    name = f"msmix · {group[0].experiment_key}"
    assert [t.name for t in traces if t.legendgroup == name] == [
        f"{name} · valid ± std",
        f"{name} · valid (mean ± std)",
        f"{name} · test ± std",
        f"{name} · test (mean ± std)",
    ]
    mean = next(t for t in traces if t.name == f"{name} · test (mean ± std)")
    assert list(values(mean.y)) == pytest.approx([1.0 + 0.02 - 0.1 * e for e in (1, 2, 3)])  # seeds 1-3: offset 0.02
    assert sum(t.legendgroup != name for t in traces) == 2  # the lone run: its own valid and test lines
    at.toggle(key="tr_each").set_value(True).run()
    traces = pio.from_json(at.get("plotly_chart")[0].proto.spec).data
    assert sum(t.opacity == 0.35 for t in traces) == 6  # 3 seeds × valid, test


def test_group_links_name_the_set_ablation_and_robustness_compare_and_the_group_s_data(filled):
    store, runs = filled
    weights = {"w": torch.zeros(1)}
    group = [record(store, 40 + s, "msmix", s, 3, "synthetic", weights=weights, backbone="tfn") for s in (1, 2)]
    links = {label: (path, params) for path, label, params in run_links.group_links(group)}
    ids = ",".join(run.id for run in group)
    assert links["Training"] == ("pages/training.py", {"tr_overlay": ids})
    everything = [*group, *(run for kind in runs.values() for run in kind)]
    for label, factor, key in [("Ablation", ABLATION_FACTOR, "ab_set"), ("Robustness", ["method"], "rb_set")]:
        params = links[label][1]
        assert params["runs"] == ids and params["backbone"] == "tfn" and params["link"] == "1"
        assert "experiment" not in params  # no page reads it
        holding = [s for s in comparable_sets(everything, factor) if {r.id for r in group} <= {r.id for r in s.runs}]
        assert [s.settings_key for s in holding] == [params[key]]  # the page's own chooser value for that set
    assert [label for _, label, _ in run_links.group_links(runs["none"])] == ["Training"]  # no MS-Mix, no weights
    assert [label for _, label, _ in run_links.group_links(runs["msmix"])] == ["Ablation", "Training"]
    on_data = record_on_data(store, "/srv/data/mosi-utterance")
    mosi = run_links.group_links([on_data["mosi"]])[-1]
    assert mosi == ("pages/training.py", "Training", {"tr_overlay": on_data["mosi"].id})
    assert run_links.link_settings(on_data["mosi"].config) == {"backbone": "late_fusion", "mosi_split": "speaker"} | {
        "source": "mosi"
    }
    assert run_links.link_settings(on_data["file"].config) == {"backbone": "late_fusion"}  # no path in a link
    synthetic = {"source": "synthetic", "seed": 3, "config": {"n_train": 256, "conflict_rate": 0.2, "label_noise": 0.5}}
    assert run_links.link_settings({"backbone": "tfn", "dataset_info": synthetic}) == {
        "backbone": "tfn",
        "source": "synthetic",
        "data_seed": "3",
        "n_train": "256",
        "conflict_rate": "0.2",
        "label_noise": "0.5",
    }


def opened_by_link(at: AppTest, params: dict[str, str]) -> AppTest:
    """``at``'s session following a link to its page (a click on the Runs page's link: same session, new URL)."""
    at.query_params.clear()
    at.query_params.update(params)
    return ran(at)


def link_to(page: str, runs: list) -> dict[str, str]:
    return next(params for _, label, params in run_links.group_links(runs) if label == page)


def test_a_group_link_opens_ablation_on_its_backbone_and_set_in_a_session_that_had_others(store, tiny):
    older = [record(store, s, "msmix", s, 2, tiny.name, backbone="tfn") for s in (1, 2)]
    [record(store, 10 + s, "msmix", s, 3, tiny.name, backbone="tfn") for s in (1, 2)]  # newer: the default set
    record(store, 20, "msmix", 1, 2, tiny.name)
    at = open_page("ablation")
    assert at.selectbox(key="sb_backbone").value == "late_fusion"
    params = link_to("Ablation", older)
    opened_by_link(at, params)
    assert at.selectbox(key="sb_backbone").value == "tfn" and at.session_state["msmix_settings"].backbone == "tfn"
    assert at.selectbox(key="ab_set").value == params["ab_set"]  # the linked set, not the newest
    assert "link" not in at.query_params and at.query_params["backbone"] == "tfn"
    assert not [w for w in at.warning if "linked runs" in w.value]
    at.selectbox(key="sb_backbone").set_value("late_fusion").run()  # the user moves on: the link does not hold on
    assert at.session_state["msmix_settings"].backbone == "late_fusion"
    assert any("choose tfn in the sidebar" in w.value for w in at.warning)


def test_a_link_to_runs_a_page_cannot_compare_says_what_differs(store, tiny):
    none = [record(store, s, "none", s, 2, tiny.name, backbone="tfn") for s in (1, 2)]
    at = open_page("ablation", runs=",".join(run.id for run in none), backbone="tfn")  # a hand-made link
    (line,) = [w.value for w in at.warning if "linked runs" in w.value]
    assert line == (
        f"The linked runs (none, 2 epochs, tfn on {tiny.name}) are not among this page's sets for tfn on "
        f"{tiny.name}: Ablation compares MS-Mix runs only, these are none."
    )
    at = open_page("robustness", runs=",".join(run.id for run in none))
    (line,) = [w.value for w in at.warning if "linked runs" in w.value]
    assert line.endswith(
        "for late_fusion on " + tiny.name + ": Robustness scores saved models, and these runs kept no weights "
        "(trained with --no-weights?); choose tfn in the sidebar."
    )
    mosi = record_on_data(store, "/srv/data/mosi-utterance")["mosi"]
    msmix = record(store, 90, "msmix", 1, 2, mosi.config["dataset"], info=mosi.config["dataset_info"])
    at = opened_by_link(open_page("ablation"), link_to("Ablation", [msmix]))  # data the page does not have here
    assert at.session_state["msmix_settings"].source == "mosi"  # the link set the sidebar's data
    assert any(f"choose their data ({mosi.config['dataset']}) in the sidebar" in w.value for w in at.warning)
    at = open_page("ablation", runs="20990101-000000-gone-s1-0000")
    assert any("no longer in the run store" in w.value for w in at.warning)
