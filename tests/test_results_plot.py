"""bench/results_plot.py: the table it reads, the values relative to the best method, the SVG it writes."""

import sys
from xml.etree import ElementTree

import pytest
from helpers import ROOT

sys.path.insert(0, str(ROOT / "bench"))

import results_plot

TABLE = """Intro text.

| dataset | backbone | label | n_seeds | Non0_acc_2 | Non0_acc_2 p | MAE | MAE p |
|---|---|---|---|---|---|---|---|
| mosi-utterance (speaker split) | tfn | none | 5 | 80.00 ± 0.50 |  | 0.9000 ± 0.0100 |  |
| mosi-utterance (speaker split) | tfn | msmix | 5 | 76.00 ± 0.40 † | 0.01 | 1.0000 ± 0.0200 | 0.2 |

Between the tables.

| dataset | backbone | label | n_seeds | Non0_acc_2 | MAE |
|---|---|---|---|---|---|
| mosi-utterance (speaker split) | glomo | none | 5 | 70.00 ± 1.00 | 0.8000 ± 0.0100 |
| mosi-utterance (speaker split, 25% of train videos, seed 0) | tfn | none | 5 | 10.00 ± 1.00 | 9.0000 ± 0.0100 |
"""


def test_reads_every_full_data_table_and_leaves_the_small_data_rows_out():
    rows = results_plot.read_table(TABLE)
    assert set(rows) == {("tfn", "none"), ("tfn", "msmix"), ("glomo", "none")}
    assert rows[("tfn", "msmix")] == {"Non0_acc_2": 76.0, "MAE": 1.0}


def test_values_are_relative_to_the_best_method_of_each_backbone_lower_mae_being_better():
    rows = results_plot.read_table(TABLE)
    acc = results_plot.relative(rows, "Non0_acc_2")
    mae = results_plot.relative(rows, "MAE")
    assert acc[("tfn", "none")] == 1 and acc[("tfn", "msmix")] == pytest.approx(0.95)
    assert mae[("tfn", "none")] == 1 and mae[("tfn", "msmix")] == pytest.approx(0.9)
    assert acc[("glomo", "none")] == 1


def test_the_figure_is_svg_with_a_panel_per_metric_and_a_line_per_method_with_runs():
    svg = results_plot.figure(results_plot.read_table(TABLE), ["Non0_acc_2", "MAE"])
    root = ElementTree.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    titles = [t.text for t in root.iter(f"{ns}text") if t.get("class") == "title"]
    assert titles == ["Acc-2 (Non0), relative to the best", "MAE, relative to the best"]
    assert len(list(root.iter(f"{ns}circle"))) == 2 * 3, "one marker per (backbone, method) cell and panel"
    assert "MulT (no runs)" in svg
