"""The Pair selection page's explorer (filter, picker, card, map outline) and its training replay, under AppTest."""

import re

import numpy as np
import pytest
from helpers import card_rows, chosen_pairs, live_data, metric, page

from msmix_core.analysis.explorer import PairFilter
from ui.pair_explorer import cell_positions


def picker(at):
    return next(s for s in at.selectbox if s.label == "Pair")


def picked(at) -> int:
    return int(re.match(r"#(\d+): ", picker(at).value).group(1))


def listed(at) -> list[int]:
    return [int(re.match(r"#(\d+): ", entry).group(1)) for entry in picker(at).options]


def test_a_linked_filter_lists_only_the_pairs_it_keeps():
    at = page("pairs", pair_filter="conflict")
    table = chosen_pairs(at)
    assert at.pills(key="pair_filter_kinds").value == ["conflict"]
    assert listed(at) == table.index[table.conflict != ""].tolist() and 0 < len(listed(at)) < len(table)
    assert at.query_params["pair_filter"] == "conflict"  # the link stays as it came
    assert any(f"{len(listed(at))} of the {len(table)} drawn pairs" in c.value for c in at.caption)
    rows = card_rows(at)
    k = picked(at)
    assert rows == [table.row_a[k], table.row_b[k]] and table.conflict[k] != ""


def test_moving_the_filter_controls_writes_the_filter_into_the_url():
    at = page("pairs")
    assert "pair_filter" not in at.query_params and len(listed(at)) == len(chosen_pairs(at))
    at.pills(key="pair_filter_kinds").set_value(["same_speaker", "contradictory"]).run()
    at.slider(key="pair_filter_gap").set_value(1.5).run()
    assert at.query_params["pair_filter"] == "contradictory,same_speaker,gap1.5"
    table = chosen_pairs(at)
    assert listed(at) == PairFilter(("contradictory", "same_speaker"), 1.5).apply(table).index.tolist()
    at.pills(key="pair_filter_kinds").set_value([]).run()
    at.slider(key="pair_filter_gap").set_value(0.0).run()
    assert "pair_filter" not in at.query_params  # the default filter leaves the link short


@pytest.mark.parametrize("text", ["opposite", "gap9", "conflict,gapx"])
def test_a_bad_filter_in_a_link_falls_back_to_no_filter(text):
    at = page("pairs", pair_filter=text)
    assert at.pills(key="pair_filter_kinds").value == [] and at.slider(key="pair_filter_gap").value == 0.0


def test_a_filter_nothing_passes_says_so():
    at = page("pairs", pair_filter="gap5.9")
    assert not [s for s in at.selectbox if s.label == "Pair"]
    assert any("None of the 64 drawn pairs passes this filter" in w.value for w in at.warning)


def test_the_map_outlines_the_pair_the_card_shows():
    at = page("pairs")
    picker(at).select_index(4).run()
    table, data = chosen_pairs(at), live_data(at)
    k = picked(at)
    ranks = [data["rows"].index(table.row_a[k]), data["rows"].index(table.row_b[k])]
    assert data["opened"] == ranks
    assert metric(at, "λ text") == f"{table.lam_text[k]:.2f}"


def test_a_clicked_cell_is_read_as_batch_positions_and_nothing_else():
    order = np.array([5, 3, 0, 1, 4, 2])
    assert cell_positions(order, [0, 2]) == (5, 0) and cell_positions(order, (5, 1)) == (2, 3)
    for bad in (None, "x", [1], [1, 2, 3], [2, 2], [-1, 0], [0, 6], ["a", 1]):
        assert cell_positions(order, bad) is None


@pytest.mark.slow
def test_the_replay_steps_through_the_epochs():
    at = page("pairs", pairs_replay="true", pairs_replay_epoch="3")
    epoch = at.select_slider(key="pairs_replay_epoch")
    assert epoch.value == 3 and epoch.options == [str(e) for e in range(6)]
    assert metric(at, "Epochs of training") == "3"
    kept = metric(at, "Pairs kept")
    at.select_slider(key="pairs_replay_epoch").set_value(0).run()
    assert metric(at, "Epochs of training") == "0" and "pairs_replay_epoch" not in at.query_params
    assert at.query_params["pairs_replay"] == "true"
    assert re.fullmatch(r"\d+ %", kept) and re.fullmatch(r"\d+ %", metric(at, "Drawn pairs with opposite signs"))
    titles = [c.proto.spec for c in at.get("plotly_chart")]
    assert any("Epoch 0: similarity" in spec for spec in titles) and any("Epoch 0: the batch" in s for s in titles)
