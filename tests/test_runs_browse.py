"""The run browser's library: tags and notes, the table, filters, groups by experiment, diffs, knob views."""

from __future__ import annotations

import json
import math
import time

import optuna
import pandas as pd
import pytest
from stored_runs import fill, record_on_data

from msmix_core.errors import MsmixError
from msmix_core.experiments import history_frame
from msmix_core.experiments.tuning import OBJECTIVE, study_frame
from msmix_core.figures.runs import knob_scatter, parallel_knobs
from msmix_core.figures.training import training_curves
from msmix_core.runs import RunStore
from msmix_core.runs.annotations import (
    MAX_NOTE_BYTES,
    MAX_TAGS,
    NOTE_FILE,
    TAG_LENGTH,
    TAGS_FILE,
    read_note,
    read_tags,
    set_tags,
    tag,
    write_note,
)
from msmix_core.runs.browse import (
    ABSENT,
    BROWSE_COLUMNS,
    browse_table,
    config_diff,
    filter_table,
    flat_config,
    group_table,
    knob_frame,
    server_path,
    sort_table,
    store_stamp,
)
from msmix_core.runs.identity import experiment_key


@pytest.fixture
def store(tmp_path) -> RunStore:
    return RunStore(tmp_path / "runs")


@pytest.fixture
def filled(store):
    return store, fill(store)


def test_tags_and_notes_live_in_the_run_folder_and_round_trip(store, filled):
    run = filled[1]["none"][0]
    assert read_tags(run.path) == [] and read_note(run.path) == ""
    assert tag(run.path, add=["best", "paper", "best"]) == ["best", "paper"]
    assert tag(run.path, remove=["paper"], add=["v2"]) == ["best", "v2"]
    widest = [f"{i:02d}" + "😀" * (TAG_LENGTH - 2) for i in range(MAX_TAGS)]
    assert set_tags(run.path, widest) == widest and read_tags(run.path) == widest  # the largest file reads back
    set_tags(run.path, ["best", "v2"])
    assert json.loads((run.path / TAGS_FILE).read_text()) == ["best", "v2"]
    assert write_note(run.path, "  lr too high?\nretry with 3e-4 ") == "lr too high?\nretry with 3e-4"
    assert read_note(run.path) == "lr too high?\nretry with 3e-4"
    assert store.load(run.id).status == "finished"  # the store reads the run as before
    write_note(run.path, "")
    tag(run.path, remove=["best", "v2"])
    assert not (run.path / NOTE_FILE).exists() and not (run.path / TAGS_FILE).exists()


@pytest.mark.parametrize("bad", ["", "two words", "a,b", "x" * 41, 3, "bell\x07", "esc\x1b[31m", "zero\u200bwidth"])
def test_a_tag_is_one_short_word(filled, bad):
    with pytest.raises(MsmixError, match="is not a tag"):
        tag(filled[1]["none"][0].path, add=[bad])


def test_a_note_keeps_line_breaks_and_tabs_and_refuses_other_control_characters(filled):
    path = filled[1]["none"][0].path
    assert write_note(path, "line one\r\n\tline two") == "line one\n\tline two"
    for bad in ("\x1b[2J", "\x00", "\r", "\u202e", "\x9b"):
        with pytest.raises(MsmixError, match="a note cannot hold the control character"):
            write_note(path, f"ok {bad} ok")
    assert read_note(path) == "line one\n\tline two"  # the refused notes changed nothing


def test_damaged_or_oversized_annotations_are_named_and_do_not_hide_the_run(store, filled):
    run = filled[1]["none"][0]
    with pytest.raises(MsmixError, match="at most"):
        write_note(run.path, "x" * (MAX_NOTE_BYTES + 1))
    (run.path / TAGS_FILE).write_text('{"not": "a list"}')
    (run.path / NOTE_FILE).write_bytes(b"\xff\xfe")
    with pytest.raises(MsmixError, match=r"tags\.json holds a dict"):
        read_tags(run.path)
    with pytest.raises(MsmixError, match="not UTF-8"):
        read_note(run.path)
    row = browse_table([run]).iloc[0]
    assert row["tags"] == "" and row["note"].startswith("(unreadable: tags.json")
    store.delete(run.id)
    with pytest.raises(MsmixError, match="was deleted"):
        write_note(run.path, "too late")


def test_the_table_has_what_a_researcher_scans_for(store, filled):
    runs = filled[1]
    tag(runs["sweep"][0].path, add=["sweep"])
    table = browse_table(store.list())
    assert list(table.columns[: len(BROWSE_COLUMNS)]) == list(BROWSE_COLUMNS)
    assert len(table) == 13 and {"test_MAE", "test_Corr", "valid_MAE", "lr", "method_kwargs.threshold"} <= set(table)
    row = table.set_index("id").loc[runs["sweep"][0].id]
    assert row["knobs"] == "threshold=0.2" and row["recipe"] == "mmsa" and row["max_epochs"] == 2
    assert row["epochs"] == 2 and row["tags"] == "sweep" and row["duration_s"] > 0
    assert row["experiment"] == experiment_key(runs["sweep"][0].config)
    assert row["method_kwargs.threshold"] == 0.2
    assert table["created"].is_monotonic_decreasing  # newest first, as the store lists them


def test_filters_on_any_column_with_wildcards_numbers_dates_tags_and_text(store, filled):
    runs = filled[1]
    tag(runs["none"][1].path, add=["baseline"])
    write_note(runs["msmix"][2].path, "Looks Odd")
    table = browse_table(store.list())
    ids = lambda frame: set(frame["id"])  # noqa: E731
    assert ids(filter_table(table, ["label=msmix"])) == {r.id for r in runs["msmix"] + runs["msmix 3 epochs"]}
    assert ids(filter_table(table, ["label=msmix*", "max_epochs=2", "seed!=1"])) == {
        r.id for r in [*runs["msmix"][1:], runs["sweep"][1], runs["sweep"][3]]
    }
    assert ids(filter_table(table, ["method_kwargs.threshold>0.3"])) == {r.id for r in runs["sweep"][2:]}
    assert ids(filter_table(table, ["test_MAE<0.75"])) == {r.id for r in runs["msmix 3 epochs"]}
    assert ids(filter_table(table, ["created>=2026-12-01T09:30"])) == {r.id for r in runs["sweep"]}
    assert ids(filter_table(table, ["tags=base*"])) == {runs["none"][1].id}
    assert ids(filter_table(table, search="looks odd")) == {runs["msmix"][2].id}
    assert ids(filter_table(table, search="0.61")) == {runs["msmix 3 epochs"][0].id}  # valid_MAE, as printed
    assert filter_table(table.iloc[:0], search="x").empty
    assert filter_table(table, ["label=nothing"]).empty
    for bad, said in [
        ("label", "not a condition"),
        ("speaker=1", "no column 'speaker'"),
        ("label<3", "holds text"),
        ("test_MAE<low", "holds numbers"),
    ]:
        with pytest.raises(MsmixError, match=said):
            filter_table(table, [bad])


def test_group_by_experiment_averages_seeds_of_runs_trained_alike_only(store, filled):
    runs = filled[1]
    grouped = group_table(browse_table(store.list()), ["experiment"], metrics=["MAE"])
    assert len(grouped) == 5  # none, msmix at 2 and at 3 epochs, two sweep points
    row = grouped.set_index("experiment").loc[experiment_key(runs["msmix 3 epochs"][0].config)]
    assert row["label"] == "msmix" and row["max_epochs"] == 3 and row["n_seeds"] == 3
    maes = [1.0 + s / 100 - 0.3 for s in (1, 2, 3)]
    mean, std = sum(maes) / 3, math.sqrt(sum((m - sum(maes) / 3) ** 2 for m in maes) / 3)
    assert row["MAE"] == f"{mean:.4f} ± {std:.4f}"
    by_label = group_table(browse_table(store.list()), ["label", "max_epochs"], metrics=["MAE"])
    assert len(by_label) == 5 and list(by_label.columns[:2]) == ["label", "max_epochs"] and "n_seeds" in by_label
    with pytest.raises(MsmixError, match="holds runs of 2 experiments"):  # msmix at 2 and 3 epochs: never averaged
        group_table(browse_table(store.list()), ["label"], metrics=["MAE"])
    with pytest.raises(MsmixError, match="cannot group by"):
        group_table(browse_table(store.list()), ["speaker"])


def test_a_diff_sets_configs_side_by_side_and_marks_what_differs(filled):
    runs = filled[1]
    a, b = runs["msmix"][0], runs["sweep"][0]
    diff = config_diff([a, b])
    assert list(diff.columns) == [a.id, b.id, "differs"]
    assert diff.loc["method_kwargs.threshold"].tolist() == [ABSENT, "0.2", True]
    assert diff.loc["label"].tolist() == ["msmix", "msmix threshold=0.2", True]
    assert diff.loc["lr"].tolist() == ["0.001", "0.001", False] and not diff.loc["seed", "differs"]
    assert diff.loc["experiment", "differs"] and "experiment_key" not in diff.index  # the key once, not twice
    with pytest.raises(MsmixError, match="two runs or more"):
        config_diff([a])
    with pytest.raises(MsmixError, match="given twice"):
        config_diff([a, a])


def test_server_paths_and_z_score_lists_stay_out_of_the_table_the_search_and_the_diff(store):
    folder = "/srv/shared/data/mosi-utterance"
    runs = record_on_data(store, folder)
    table = browse_table(store.list())
    assert "dataset_info.split" in table and "dataset_info.preset" in table  # what the data is stays
    assert not [c for c in table.columns if "zscore" in c or c == "dataset_info.folder"]
    source = table.set_index("id")["dataset_info.source"].fillna("")
    assert [source[runs[kind].id] for kind in ("mosi", "file", "synthetic")] == ["mosi-utterance", "", "synthetic"]
    assert not table.astype(str).apply(lambda column: column.str.contains("/srv")).any().any()
    assert filter_table(table, search="/srv/shared").empty and len(filter_table(table, search="speaker")) == 3
    diff = config_diff([runs["mosi"], runs["synthetic"], runs["file"]])
    assert not [field for field in diff.index if "zscore" in field or "/srv" in "".join(diff.loc[field].astype(str))]
    assert diff.loc["dataset_info.preset"].tolist() == [ABSENT, "small", ABSENT, True]
    assert len(diff[diff["differs"]]) < 10  # a MOSI and a synthetic run differ in a few fields, not in 60 lists
    operator = config_diff([runs["mosi"], runs["file"]], paths=True)  # the CLI's, on the server
    assert operator.loc["dataset_info.folder"].iloc[0] == folder
    assert operator.loc["dataset_info.source"].iloc[1] == f"{folder}/aligned_50.pkl"
    assert "zscore" not in "".join(operator.index)
    assert browse_table(store.list(), paths=True)["dataset_info.folder"].dropna().tolist() == [folder]


@pytest.mark.parametrize(
    ("field", "value", "hidden"),
    [
        ("dataset_info.folder", "mosi-utterance", True),  # by its name, whatever it holds
        ("mosi_dir", "", True),
        ("dataset_info.source", "mosi:/data/aligned_50.pkl", True),
        ("dataset_info.source", "C:\\data\\x.npz", True),
        ("dataset_info.source", "~/data/x.npz", True),
        ("dataset_info.source", "file:///data/x.npz", True),
        ("dataset_info.source", "synthetic", False),
        ("dataset_info.split_note", "the feature authors' train/test; valid = every 7th", False),
        ("label", "msmix threshold=0.2", False),
        ("dataset_info.seed", 3, False),
    ],
)
def test_a_server_path_is_told_by_the_field_name_or_an_absolute_path_in_its_value(field, value, hidden):
    assert server_path(field, value) is hidden


def test_knob_frame_keeps_the_knobs_a_sweep_varies(store, filled):
    table = filter_table(browse_table(store.list()), ["label=msmix*"])
    frame = knob_frame(table, "test_MAE")
    assert list(frame.columns) == ["max_epochs", "method_kwargs.threshold", "test_MAE"]
    assert len(frame) == 10
    sweep = knob_frame(filter_table(table, ["label=msmix threshold*"]), "test_MAE")
    assert list(sweep.columns) == ["method_kwargs.threshold", "test_MAE"]
    figure = parallel_knobs(sweep, "test_MAE")
    assert [d["label"] for d in figure.data[0].dimensions] == ["threshold", "test_MAE"]
    assert sorted(figure.data[0].dimensions[0]["values"]) == [0.2, 0.2, 0.6, 0.6]
    scatter = knob_scatter(sweep, "method_kwargs.threshold", "test_MAE")
    assert list(scatter.data[1].x) == [0.2, 0.6]  # the mean per value
    assert list(scatter.data[1].y) == pytest.approx([0.8 + 0.015, 0.8 + 0.015])
    with pytest.raises(MsmixError, match="do not differ"):
        parallel_knobs(knob_frame(filter_table(table, ["label=msmix", "max_epochs=2"]), "test_MAE"), "test_MAE")


def test_parallel_coordinates_name_the_categories_of_a_switch():
    frame = pd.DataFrame({"detach": [True, False, True], "alpha": [0.5, 1.0, 2.0], "test_MAE": [0.8, 0.9, 0.85]})
    dimension = parallel_knobs(frame, "test_MAE").data[0].dimensions[0]
    assert list(dimension["ticktext"]) == ["false", "true"] and list(dimension["values"]) == [1, 0, 1]


def test_study_frame_has_a_row_per_complete_trial():
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda trial: trial.suggest_float("alpha", 0.1, 2.0) ** 2, n_trials=4)
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL, params={}, distributions={}))
    frame = study_frame(study)
    assert list(frame.columns) == ["alpha", OBJECTIVE] and len(frame) == 4
    assert (frame[OBJECTIVE] == frame["alpha"] ** 2).all()


def test_training_curves_draw_a_mean_and_band_per_group_and_each_seed_on_demand(filled):
    runs = filled[1]["msmix"] + filled[1]["none"][:1]
    histories = {run.id: run.history for run in runs}
    groups = {run.id: "msmix" for run in filled[1]["msmix"]}
    frame = history_frame(histories)
    figure = training_curves(frame, "MAE", splits=("test",), groups=groups)
    names = [trace.name for trace in figure.data]
    assert names == ["msmix · test ± std", "msmix · test (mean ± std)", f"{runs[-1].id} · test"]
    mean = figure.data[1]
    seeds = [[1.0 + s / 100 - 0.1 * e for s in (1, 2, 3)] for e in (1, 2)]
    assert list(mean.y) == pytest.approx([sum(v) / 3 for v in seeds])
    assert [row[1] for row in mean.customdata] == [3, 3]  # runs per epoch, said in the hover
    upper = list(figure.data[0].y)[:2]
    assert upper == pytest.approx([sum(v) / 3 + pd.Series(v).std(ddof=0) for v in seeds])
    each = training_curves(frame, "MAE", splits=("test",), groups=groups, each_run=True)
    thin = [t for t in each.data if t.opacity == 0.35]
    assert len(thin) == 3 and not any(t.showlegend for t in thin)
    alone = training_curves(frame, "MAE", splits=("valid", "test"))
    assert len(alone.data) == 8  # no groups: each run its own line per split, as before


def test_sort_orders_numbers_as_numbers_and_a_mixed_column_as_text():
    frame = pd.DataFrame({"id": list("abcd"), "lr": [0.01, None, 0.001, 0.1], "mixed": [3, "x", None, 10]})
    assert list(sort_table(frame, "lr")["id"]) == ["c", "a", "d", "b"]  # the run without a value last
    assert list(sort_table(frame, "lr", descending=True)["id"]) == ["d", "a", "c", "b"]
    assert list(sort_table(frame, "mixed")["id"]) == ["d", "a", "b", "c"]  # "10" < "3" < "x", then the empty one


def test_the_store_stamp_changes_with_every_change_a_listing_shows(store, filled):
    run = filled[1]["none"][0]
    stamps = [store_stamp(store.root)]
    changes = [
        lambda: tag(run.path, add=["x"]),
        lambda: write_note(run.path, "hello"),
        lambda: store.create({"dataset": "d", "backbone": "b", "method": "m", "seed": 1}),
        lambda: store.list()[0].log_epoch({"epoch": 1}),
        lambda: store.list()[0].finish("stopped"),
        lambda: store.delete(run.id),
    ]
    for change in changes:
        time.sleep(0.01)  # a coarse file-system clock would tick between two changes
        change()
        stamps.append(store_stamp(store.root))
    assert len(set(stamps)) == len(stamps)
    assert store_stamp(store.root) == stamps[-1]  # reading changes nothing
    assert store_stamp(store.root / "missing") == ()


def test_flat_config_nests_with_dots_and_drops_empty_dicts():
    assert flat_config({"a": 1, "m": {"x": {"y": [1, 2]}}, "k": {}}) == {"a": 1, "m.x.y": [1, 2]}
