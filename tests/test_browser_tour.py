"""End to end in headless Chromium: the guided tours walked with Next, and the t-SNE and 3-D maps.

Uses the ``server`` and ``browser`` fixtures (``conftest.py``; its own server here) and the helpers of
``test_browser.py``. Each step's numbers are computed in this process by the step's own facts (the same
library calls on the same seeded data) and looked up on the page the browser shows.
"""

from dataclasses import replace

import pytest
from app_driver import XTITLE_HAS, metric_text
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from test_browser import PAGE_TIMEOUT_MS, SMALL, screenshot, wait_idle

from msmix_core.data import find_mosi_folder
from ui import data, tours
from ui.settings import Settings

pytestmark = pytest.mark.browser


def shows(tab, text: str) -> None:
    """Wait until the page's text contains ``text`` (it may be drawn after the run's last message)."""
    tab.wait_for_function("text => document.body.innerText.includes(text)", arg=text, timeout=PAGE_TIMEOUT_MS)


def metric_shows(tab, label: str, expected: str) -> None:
    """Wait until the metric ``label`` shows ``expected``: a page that has just switched steps may still show the
    last step's value until its run ends. On a timeout, say what it shows instead."""
    try:
        tab.wait_for_function(
            "([label, expected]) => { const card = [...document.querySelectorAll('[data-testid=stMetric]')]"
            ".find(e => (e.querySelector('[data-testid=stMetricLabel]')?.innerText ?? '').trim() === label);"
            "return card?.querySelector('[data-testid=stMetricValue]')?.innerText.trim() === expected; }",
            arg=[label, expected],
            timeout=PAGE_TIMEOUT_MS,
        )
    except PlaywrightTimeout:
        assert metric_text(tab, label) == expected


def shown_on_page(tab, step: tours.Step, facts: dict) -> None:
    """The page shows the numbers the step's text states (each kind where its page writes it)."""
    if step.facts is tours.home_facts:
        for split in ("train", "valid", "test"):
            metric_shows(tab, f"{split} samples", str(facts[split]))
    elif step.facts is tours.pair_facts:
        shows(tab, f"keeps {facts['kept']} of the ordered pairs")
        shows(tab, f"Of the pairs it draws, {facts['sass']} have opposite signs")
        shows(tab, f"against {facts['random']} for random pairing")
    elif step.facts is tours.ratio_facts:
        shows(tab, f"largest weight is {facts['flatness']}")
    elif step.facts is tours.embedding_facts:
        metric_shows(tab, "From opposite sentiments: MS-Mix", f"{facts['msmix']} of {facts['shown']}")
        metric_shows(tab, "From opposite sentiments: Manifold Mixup", f"{facts['manifold']} of {facts['shown']}")
    elif step.facts is tours.neighbour_facts:
        shows(tab, f"{facts['same']} of {facts['near']} have a label of the same sign")
    else:
        raise AssertionError(f"no check for {step.facts}")


def wait_step(tab, tour: tours.Tour, number: int, since: int) -> None:
    """Wait until step ``number``'s banner shows and the app is idle; no exception on the page."""
    tab.get_by_text(f"step {number} of {len(tour.steps)}: {tour.steps[number - 1].title}").first.wait_for(
        timeout=PAGE_TIMEOUT_MS
    )
    wait_idle(tab, since)
    errors = tab.locator("[data-testid=stException]")
    assert errors.count() == 0, errors.all_inner_texts()


@pytest.mark.slow
@pytest.mark.parametrize("tour_id", ["synthetic", "mosi"])
def test_a_whole_tour_walked_with_next_opens_every_step_and_its_numbers_match_the_page(server, tab, tour_id):
    if tour_id == "mosi" and find_mosi_folder() is None:
        pytest.skip("no CMU-MOSI utterance folder")
    tour = tours.TOURS[tour_id]
    settings = replace(Settings(), source="mosi") if tour_id == "mosi" else Settings(n_train=128)
    dataset = data.dataset(settings)
    since = tab.watcher.finished
    tab.goto(f"{server}/?{SMALL}&tour={tour_id}&tour_step=1", timeout=PAGE_TIMEOUT_MS)
    for number, step in enumerate(tour.steps, start=1):
        wait_step(tab, tour, number, since)
        assert f"tour_step={number}" in tab.url
        if step.facts is not None:
            facts = step.facts(settings, dataset, step.params)
            banner = tab.locator(".st-key-tour_banner").inner_text()
            question = step.question.format(**facts).replace("*", "")
            assert " ".join(question.split()) in " ".join(banner.split())
            shown_on_page(tab, step, facts)
        screenshot(tab, f"tour_{tour_id}_{number}")
        if number < len(tour.steps):
            since = tab.watcher.finished
            tab.get_by_role("button", name="Next →").click()


@pytest.mark.slow
def test_tsne_and_3d_maps_draw_in_the_browser(server, tab):
    since = tab.watcher.finished
    tab.goto(f"{server}/embeddings?{SMALL}&emb_projection=t-SNE&emb_source=untrained", timeout=PAGE_TIMEOUT_MS)
    tab.wait_for_function(XTITLE_HAS, arg="t-SNE 1", timeout=PAGE_TIMEOUT_MS)
    wait_idle(tab, since)
    screenshot(tab, "embeddings_tsne")
    since = tab.watcher.finished
    tab.get_by_text("3-D", exact=True).first.click()
    tab.watcher.wait_finished(since, PAGE_TIMEOUT_MS)
    tab.wait_for_function(  # plotly has laid out a 3-D scene with the t-SNE axes, drawn by WebGL
        """() => [...document.querySelectorAll('.js-plotly-plot')].some(p => p._fullLayout?.scene?.zaxis?.title?.text
            ?.startsWith('t-SNE 3') && p.querySelector('.gl-container canvas'))""",
        timeout=PAGE_TIMEOUT_MS,
    )
    tab.wait_for_function("() => location.search.includes('emb_3d=true')", timeout=PAGE_TIMEOUT_MS)
    assert tab.locator("[data-testid=stException]").count() == 0
    screenshot(tab, "embeddings_3d")
