"""End to end in headless Chromium: the Runs page compares the runs a link selects, and a run picked in the browser.

Its own server over a store filled by hand (``tests/stored_runs.py``): no training, so the page has
runs to list from its first view.
"""

from collections.abc import Iterator

import pytest
from app_driver import LAYOUT_PROBLEMS, MAIN_WIDTH, app_server
from stored_runs import fill, record
from test_browser import PAGE_TIMEOUT_MS, screenshot, visit, wait_idle

from msmix_core.data import make_synthetic
from msmix_core.runs import RunStore

pytestmark = pytest.mark.browser

CURVE_TRACES = "[data-testid=stPlotlyChart] .scatterlayer .trace"
ROW_PX = 35  #: the height of a table row (and of its header) in Streamlit's data grid


@pytest.fixture(scope="module")
def filled(tmp_path_factory) -> Iterator[tuple[str, dict]]:
    """The app over a store holding the hand-made runs; yields its base URL and the runs."""
    root = tmp_path_factory.mktemp("runs")
    store = RunStore(root)
    runs = fill(store)
    data = make_synthetic(n_train=128)  # the sidebar's data at n_train=128: Ablation can compare these
    for epochs in (2, 3):  # two sets of MS-Mix with tfn, older than fill's: the newer (3 epochs) Ablation's default
        runs[f"tfn {epochs}"] = [
            record(store, 10 * epochs - 100 + s, "msmix", s, epochs, data.name, info=data.info, backbone="tfn")
            for s in (1, 2)
        ]
    with app_server({"MSMIX_RUNS_DIR": str(root)}) as url:
        yield url, runs


def test_a_link_compares_its_runs_and_a_run_picked_in_the_browser_joins_them(filled, wide_tab):
    server, runs = filled
    a, b, c = runs["msmix"][0], runs["sweep"][2], runs["none"][0]
    visit(wide_tab, server, "runs", "Only the fields that differ", query=f"rn_sel={a.id},{b.id}")  # drawn for 2 runs+
    assert wide_tab.evaluate(MAIN_WIDTH) > 900
    assert wide_tab.evaluate(LAYOUT_PROBLEMS) == []  # no label cut, no text too small to read
    curves = wide_tab.locator(CURVE_TRACES)  # the first chart on the page: the selected runs' curves
    curves.nth(3).wait_for(timeout=PAGE_TIMEOUT_MS)
    assert wide_tab.locator("[data-testid=stPlotlyChart]").first.locator(".scatterlayer .trace").count() == 4
    wide_tab.get_by_role("heading", name="Side by side").scroll_into_view_if_needed()
    screenshot(wide_tab, "runs")

    since = wide_tab.watcher.finished
    picker = wide_tab.locator("[data-testid=stMultiSelect]").filter(has_text="Selected runs")
    picker.locator("input").click()
    wide_tab.keyboard.type(c.id[-4:])  # the caption of each option ends with its id's suffix
    wide_tab.get_by_role("option").filter(has_text=c.id[-4:]).first.click(timeout=PAGE_TIMEOUT_MS)
    wait_idle(wide_tab, since)
    chart = wide_tab.locator("[data-testid=stPlotlyChart]").first
    chart.locator(".scatterlayer .trace").nth(5).wait_for(timeout=PAGE_TIMEOUT_MS)
    assert chart.locator(".scatterlayer .trace").count() == 6  # three runs × valid, test
    selection = "() => new URL(location.href).searchParams.get('rn_sel')"
    wide_tab.wait_for_function(f"{selection} === '{a.id},{b.id},{c.id}'", timeout=PAGE_TIMEOUT_MS)  # the link keeps it
    assert wide_tab.locator("[data-testid=stException]").count() == 0


#: The ids in the first column of the rows the table shows ticked (its accessible grid mirrors the canvas).
TICKED_IDS = """() => [...(document.querySelector('[data-testid=stDataFrame]')
    ?.querySelectorAll('tbody tr[aria-selected=true] td[aria-colindex="1"]') ?? [])].map(td => td.textContent).sort()"""


def test_a_linked_selection_opens_ticked_and_a_tick_in_the_table_joins_it(filled, wide_tab):
    server, runs = filled
    a, b, c = runs["msmix"][0], runs["sweep"][2], runs["msmix 3 epochs"][1]  # all in the table's first ten rows
    visit(wide_tab, server, "runs", "Only the fields that differ", query=f"rn_sel={a.id},{b.id}")
    wide_tab.wait_for_function(f"{TICKED_IDS}.join() === '{','.join(sorted([a.id, b.id]))}'", timeout=PAGE_TIMEOUT_MS)
    row = wide_tab.locator("[data-testid=stDataFrame]").first.locator("tbody tr").filter(has_text=c.id)
    index = int(row.get_attribute("aria-rowindex")) - 1  # the header is row 1
    assert index <= 9  # in view without scrolling the table (its accessible rows are those in view)
    grid = wide_tab.locator("[data-testid=stDataFrameResizable]").first
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    since = wide_tab.watcher.finished
    wide_tab.mouse.click(box["x"] + 16, box["y"] + ROW_PX * index + ROW_PX / 2)  # the row's tick box
    wait_idle(wide_tab, since)
    selection = "() => new URL(location.href).searchParams.get('rn_sel')"
    wide_tab.wait_for_function(f"{selection} === '{a.id},{b.id},{c.id}'", timeout=PAGE_TIMEOUT_MS)  # joined
    wide_tab.wait_for_function(
        f"{TICKED_IDS}.join() === '{','.join(sorted([a.id, b.id, c.id]))}'", timeout=PAGE_TIMEOUT_MS
    )
    chart = wide_tab.locator("[data-testid=stPlotlyChart]").first
    chart.locator(".scatterlayer .trace").nth(5).wait_for(timeout=PAGE_TIMEOUT_MS)
    assert chart.locator(".scatterlayer .trace").count() == 6  # three runs × valid, test
    assert wide_tab.locator("[data-testid=stException]").count() == 0


def test_a_group_link_opens_ablation_on_the_group_s_backbone_and_set(filled, wide_tab):
    server, runs = filled
    group = runs["tfn 2"][0].experiment_key
    visit(wide_tab, server, "runs", "Groups to open", query=f"n_train=128&rn_group=true&rn_exp={group}")
    since = wide_tab.watcher.finished
    wide_tab.get_by_role("link", name="Ablation").last.click()  # the group's link, not the sidebar's
    wide_tab.get_by_text("Test metrics over seeds").first.wait_for(timeout=PAGE_TIMEOUT_MS)
    wait_idle(wide_tab, since)
    assert wide_tab.get_by_role("combobox", name="Backbone").input_value() == "tfn"  # the session had late_fusion
    assert "epochs=2" in wide_tab.get_by_role("combobox", name="Runs compared").input_value()  # not the newer set
    assert "link=" not in wide_tab.url and "backbone=tfn" in wide_tab.url
    assert "linked runs" not in wide_tab.locator("[data-testid=stMain]").inner_text()
    assert wide_tab.locator("[data-testid=stException]").count() == 0
