"""End to end in headless Chromium: the Runs page compares the runs a link selects, and a run picked in the browser.

Its own server over a store filled by hand (``tests/stored_runs.py``): no training, so the page has
runs to list from its first view.
"""

from collections.abc import Iterator

import pytest
from app_driver import LAYOUT_PROBLEMS, MAIN_WIDTH, app_server
from stored_runs import fill
from test_browser import PAGE_TIMEOUT_MS, screenshot, visit, wait_idle

from msmix_core.runs import RunStore

pytestmark = pytest.mark.browser

CURVE_TRACES = "[data-testid=stPlotlyChart] .scatterlayer .trace"
ROW_PX = 35  #: the height of a table row (and of its header) in Streamlit's data grid


@pytest.fixture(scope="module")
def filled(tmp_path_factory) -> Iterator[tuple[str, dict]]:
    """The app over a store holding the hand-made runs; yields its base URL and the runs."""
    root = tmp_path_factory.mktemp("runs")
    runs = fill(RunStore(root))
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
    a, b, c = runs["msmix"][0], runs["sweep"][2], runs["msmix 3 epochs"][1]  # c: in the table's first rows
    visit(wide_tab, server, "runs", "Only the fields that differ", query=f"rn_sel={a.id},{b.id}")
    wide_tab.wait_for_function(f"{TICKED_IDS}.join() === '{','.join(sorted([a.id, b.id]))}'", timeout=PAGE_TIMEOUT_MS)
    row = wide_tab.locator("[data-testid=stDataFrame]").first.locator("tbody tr").filter(has_text=c.id)
    index = int(row.get_attribute("aria-rowindex")) - 1  # the header is row 1
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
