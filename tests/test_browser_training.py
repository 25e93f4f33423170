"""End to end in headless Chromium: a 2-epoch training draws its curves; ablation and robustness render.

Uses the ``server`` and ``browser`` fixtures (``conftest.py``: its own server here, so a fresh run store) and
the helpers of ``test_browser.py``.
"""

import pytest
from test_browser import PAGE_TIMEOUT_MS, SMALL, screenshot, wait_idle

pytestmark = pytest.mark.browser

TRAINING_TIMEOUT_MS = 480_000  # three methods × 2 epochs on busy CPUs


def visit(tab, server: str, path: str, wait_for: str):
    """Open ``path`` with the small settings, wait for ``wait_for`` and an idle app; no exception shown."""
    tab.goto(f"{server}/{path}?{SMALL}", timeout=PAGE_TIMEOUT_MS)
    tab.get_by_text(wait_for).first.wait_for(timeout=PAGE_TIMEOUT_MS)
    wait_idle(tab)
    assert tab.locator("[data-testid=stException]").count() == 0


def test_training_then_ablation_and_robustness(server, tab):
    visit(tab, server, "training", "Overlay stored runs")
    tab.get_by_label("Epochs (a cap; early stopping)").fill("2")
    tab.get_by_role("spinbutton", name="Seeds per method").fill("1")  # one curve per method and split
    tab.get_by_role("button", name="Run", exact=True).click()
    tab.get_by_text("Finished:").first.wait_for(timeout=TRAINING_TIMEOUT_MS)
    wait_idle(tab)
    chart = tab.locator("[data-testid=stPlotlyChart]").first
    chart.wait_for(timeout=PAGE_TIMEOUT_MS)
    # the text that says "Finished" is sent before the chart of the same run: wait for the chart's lines
    chart.locator(".scatterlayer .trace").nth(5).wait_for(timeout=PAGE_TIMEOUT_MS)
    assert chart.locator(".scatterlayer .trace").count() == 6  # none, mixup, msmix × valid, test
    assert tab.locator("[data-testid=stException]").count() == 0
    chart.scroll_into_view_if_needed()
    screenshot(tab, "training")

    visit(tab, server, "ablation", "Run ablation")
    screenshot(tab, "ablation")

    visit(tab, server, "robustness", "Highest noise level")
    tab.get_by_text("Scores over seeds: mean ± std").wait_for(timeout=PAGE_TIMEOUT_MS)
    wait_idle(tab)
    tab.locator("[data-testid=stPlotlyChart]").first.wait_for(timeout=PAGE_TIMEOUT_MS)  # drawn after the last frame
    assert tab.get_by_text("Each method minus").count() == 1  # differences from no mixing: 3 methods, 1 seed each
    charts = tab.locator("[data-testid=stPlotlyChart]")
    charts.nth(1).wait_for(state="attached", timeout=PAGE_TIMEOUT_MS)  # the raw curves, in a closed expander
    assert charts.count() == 2  # the differences, and the raw curves
    assert tab.locator("[data-testid=stException]").count() == 0
    tab.locator("[data-testid=stPlotlyChart]").first.scroll_into_view_if_needed()
    screenshot(tab, "robustness")
