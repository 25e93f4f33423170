"""End to end in a real headless Chromium: the app starts, every page renders, sliders respond.

Uses Debian's ``/usr/bin/chromium`` through Playwright's Python package (never a downloaded
browser). Its fixtures (``browser``, ``server``, ``tab``) are in ``conftest.py``; other pages' tests reuse
:func:`visit`.
"""

import re

import pytest
from app_driver import (
    RATIOS_READOUT,
    ROOT,
    UMAP_OR_NOTICE,
    XTITLE_HAS,
    new_tab,
    wait_charts,
    wait_live,
    wait_metric_change,
)

pytestmark = pytest.mark.browser

ARTIFACTS = ROOT / "test-artifacts"
PAGE_TIMEOUT_MS = 120_000  # the first view of a page builds the data and encodes a batch on slow CPUs
UMAP_TIMEOUT_MS = 900_000  # UMAP's first compile in a fresh server, on a slow shared CPU
SMALL = "n_train=128"


def visit(tab, server: str, path: str, wait_for: str, query: str = SMALL):
    """Open ``path`` (small settings), wait until a run finished, ``wait_for`` shows and charts are drawn."""
    since = tab.watcher.finished
    tab.goto(f"{server}/{path}?{query}", timeout=PAGE_TIMEOUT_MS)
    tab.get_by_text(wait_for).first.wait_for(timeout=PAGE_TIMEOUT_MS)
    wait_idle(tab, since)
    assert tab.locator("[data-testid=stException]").count() == 0
    return tab


def wait_idle(tab, since: int = 0) -> None:
    """Wait until a script run counted after ``since`` finished (the server's ``script_finished``), then for charts."""
    tab.watcher.wait_finished(since, PAGE_TIMEOUT_MS)
    wait_charts(tab, PAGE_TIMEOUT_MS)


def screenshot(tab, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=False)


def map_counts_agree(tab, delta: float) -> int:
    """Wait until the server answered ``delta``; check the browser counted the pairs it keeps as the library did."""
    readout = wait_live(tab, "serverDelta", delta, PAGE_TIMEOUT_MS)
    assert readout["kept"] == readout["serverKept"], readout
    return int(readout["kept"])


def press(tab, slider: str, key: str, times: int = 1) -> int:
    """Press ``key`` on the slider named ``slider``; returns the run count before, for :func:`wait_idle`."""
    since = tab.watcher.finished
    tab.get_by_role("slider", name=slider).first.focus()  # matches [role=slider] and <input type=range>
    for _ in range(times):
        tab.keyboard.press(key)
    return since


def test_every_exploration_page_renders(server, tab):
    for path, text in [
        ("home", "The data you are looking at"),
        ("pairs", "Chosen pairs"),
        ("ratios", "Per-pair breakdown"),
        ("embeddings", "Real points"),
    ]:
        visit(tab, server, path, text)
        screenshot(tab, path)


def test_moving_delta_at_batch_256_changes_the_candidate_count(server, tab):
    visit(tab, server, "pairs", "Chosen pairs", query="n_train=512&pairs_batch=128")  # 128 samples cap a batch
    assert wait_metric_change(tab, "Batch size", "", PAGE_TIMEOUT_MS) == "128"  # drawn after the last frame
    since = press(tab, "Batch size", "End")
    tab.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=stMetric]')].some(e => e.innerText.includes('Batch size')"
        " && e.innerText.trim().endsWith('256'))",
        timeout=PAGE_TIMEOUT_MS,
    )
    wait_idle(tab, since)
    before = map_counts_agree(tab, 0.4)
    assert before > 0
    since = press(tab, "Similarity threshold δ", "ArrowRight", times=5)
    assert int(wait_live(tab, "delta", 0.45, PAGE_TIMEOUT_MS)["kept"]) < before  # the browser's own redraw
    wait_idle(tab, since)
    assert map_counts_agree(tab, 0.45) < before
    tab.wait_for_function(
        "() => location.search.includes('pairs_delta=0.45') && location.search.includes('pairs_batch=256')",
        timeout=PAGE_TIMEOUT_MS,
    )
    screenshot(tab, "pairs_delta")


def test_changing_alpha_redraws_the_beta_density(server, tab):
    visit(tab, server, "ratios", "Per-pair breakdown")
    since = press(tab, "α of Beta(α, α)", "ArrowRight", times=3)
    assert wait_live(tab, "alpha", 2.3, PAGE_TIMEOUT_MS, RATIOS_READOUT)  # the browser's own redraw
    wait_idle(tab, since)
    wait_live(tab, "serverAlpha", 2.3, PAGE_TIMEOUT_MS, RATIOS_READOUT)
    tab.get_by_text("Beta(2.3, 2.3) (Manifold Mixup)").first.wait_for(timeout=PAGE_TIMEOUT_MS)
    tab.wait_for_function("() => location.search.includes('ratios_alpha=2.3')", timeout=PAGE_TIMEOUT_MS)


def test_choosing_umap_shows_a_map_at_once_then_umap_by_itself(server, tab):
    visit(tab, server, "embeddings", "Real points", query=f"{SMALL}&emb_projection=PCA")
    since = tab.watcher.finished
    tab.locator("label").filter(has_text=re.compile(r"^\s*UMAP\s*$")).first.click()
    tab.watcher.wait_finished(since, PAGE_TIMEOUT_MS)
    tab.wait_for_function(UMAP_OR_NOTICE, timeout=PAGE_TIMEOUT_MS)  # PCA with the notice, or UMAP when compiled
    tab.wait_for_function(XTITLE_HAS, arg="UMAP 1", timeout=UMAP_TIMEOUT_MS)  # the page polls and switches
    tab.wait_for_function("() => !document.body.innerText.includes('UMAP is compiling')", timeout=PAGE_TIMEOUT_MS)


def test_a_shared_link_opens_the_same_controls_in_a_fresh_browser(server, browser, tab):
    visit(tab, server, "pairs", "Chosen pairs")
    since = press(tab, "Similarity threshold δ", "ArrowRight", times=4)
    wait_idle(tab, since)
    tab.wait_for_function("() => location.search.includes('pairs_delta=0.44')", timeout=PAGE_TIMEOUT_MS)
    since = press(tab, "Batch size", "ArrowRight")
    wait_idle(tab, since)
    tab.wait_for_function("() => location.search.includes('pairs_batch=128')", timeout=PAGE_TIMEOUT_MS)
    link = tab.url
    context, fresh = new_tab(browser)
    try:
        fresh.goto(link, timeout=PAGE_TIMEOUT_MS)
        fresh.get_by_text("Chosen pairs").first.wait_for(timeout=PAGE_TIMEOUT_MS)
        wait_idle(fresh)
        # the run's last message can arrive before the browser has drawn the metrics: wait for them to show
        assert wait_metric_change(fresh, "Batch size", "", PAGE_TIMEOUT_MS) == "128"
        delta = fresh.get_by_role("slider", name="Similarity threshold δ").first
        assert float(delta.evaluate("e => e.getAttribute('aria-valuenow') ?? e.value")) == 0.44
        assert map_counts_agree(fresh, 0.44) == map_counts_agree(tab, 0.44)
    finally:
        context.close()
