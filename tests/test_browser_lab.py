"""The lab in front of a class, in a real headless Chromium: pages use the window at 1280 px and cut no label,
the pair explorer filters and opens a clicked cell, play moves δ and α by itself and pause hands them to the server."""

import re

import pytest
from app_driver import (
    LAYOUT_PROBLEMS,
    MAIN_WIDTH,
    RATIOS_READOUT,
    _readout,
    live_element,
    live_readout,
    wait_live,
)
from helpers import MOSI_DIR, needs_mosi
from test_browser import PAGE_TIMEOUT_MS, screenshot, visit, wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REAL = f"source=mosi&mosi_dir={MOSI_DIR}"
#: Every page and a text it shows once drawn (its title).
PAGES = {
    "home": "The data you are looking at",
    "pairs": "Chosen pairs",
    "ratios": "Per-pair breakdown",
    "embeddings": "Real points",
    "training": "Training",
    "ablation": "Ablation",
    "sweeps": "Sweeps",
    "robustness": "Robustness",
    "runs": "Runs",
}
PLAY = _readout(".control .play")
MAP_ROOT = _readout(".threshold-map")


@needs_mosi
@pytest.mark.parametrize("path", list(PAGES))
def test_every_page_uses_the_window_and_cuts_no_label_at_1280_px(server, wide_tab, path):
    visit(wide_tab, server, path, PAGES[path], query=REAL)
    assert wide_tab.evaluate(MAIN_WIDTH) > 900  # Streamlit's centred layout is a 736 px column
    assert wide_tab.evaluate(LAYOUT_PROBLEMS) == []
    screenshot(wide_tab, f"1280_{path}")


#: Pages away from their defaults, on real data: the views a teacher moves to (a filtered pair list at a high
#: δ per modality, the t-SNE map in 3-D with lines, the trained predictor's ratios at a large α).
STATES = {
    "pairs": ("Chosen pairs", "pairs_delta=0.8&pairs_view=text&pairs_batch=128&pair_filter=contradictory,same_speaker"),
    "embeddings": ("Real points", "emb_projection=t-SNE&emb_3d=true&emb_lines=true&emb_opposite=true&emb_mixed=16"),
    "ratios": ("Per-pair breakdown", "ratios_trained=true&ratios_alpha=3&ratios_batch=256"),
}


@needs_mosi
@pytest.mark.parametrize("path", list(STATES))
def test_pages_away_from_their_defaults_still_cut_no_label_at_1280_px(server, wide_tab, path):
    shown, query = STATES[path]
    visit(wide_tab, server, path, shown, query=f"{REAL}&{query}")
    assert wide_tab.evaluate(LAYOUT_PROBLEMS) == []
    screenshot(wide_tab, f"1280_{path}_moved")


def test_the_pair_explorer_filters_and_opens_a_clicked_cell(server, wide_tab):
    tab = visit(wide_tab, server, "pairs", "Chosen pairs", query="n_train=128&pair_filter=conflict")
    passing = re.compile(r"(\d+) of the 64 drawn pairs pass the filter")
    conflict_only = int(passing.search(tab.inner_text("body")).group(1))
    assert 0 < conflict_only < 64
    since = tab.watcher.finished
    tab.get_by_role("button", name="opposite signs").click()
    wait_idle(tab, since)
    tab.wait_for_function(
        "() => location.search.includes('pair_filter=contradictory%2Cconflict')"
        " || location.search.includes('pair_filter=contradictory,conflict')",
        timeout=PAGE_TIMEOUT_MS,
    )
    both = int(passing.search(tab.inner_text("body")).group(1))
    assert both <= conflict_only

    cells = live_element(tab, ".threshold-map .cells", PAGE_TIMEOUT_MS)
    box = tab.evaluate(f"() => {{ const r = {cells}.getBoundingClientRect(); return [r.left, r.top, r.width]; }}")
    assert box[2] > 100
    size = 64
    a, b = 10, 50  # a cell off the diagonal: row a, column b
    x, y = box[0] + (b + 0.5) * box[2] / size, box[1] + (a + 0.5) * box[2] / size
    tab.mouse.move(x, y)
    hover = tab.evaluate(f"() => {_readout('.threshold-map .hover')}.textContent")
    rows = [int(r) for r in re.findall(r"train row (\d+)", hover)]
    assert len(rows) == 2, hover
    since = tab.watcher.finished
    tab.mouse.click(x, y)
    wait_idle(tab, since)
    tab.get_by_text("Opened from the map").first.wait_for(timeout=PAGE_TIMEOUT_MS)
    shown = [int(r) for r in re.findall(r"train row (\d+)", tab.inner_text("[data-testid=stMain]"))]
    assert shown[:2] == rows  # the card shows the clicked cell's two samples, a then b
    screenshot(tab, "pairs_clicked_cell")


def test_play_sweeps_delta_on_the_map_and_pause_hands_it_to_the_server(server, wide_tab):
    tab = visit(wide_tab, server, "pairs", "Chosen pairs", query="n_train=128&pairs_delta=0.9")
    start = wait_live(tab, "serverDelta", 0.9, PAGE_TIMEOUT_MS)
    speed = live_element(tab, ".threshold-map .speed", PAGE_TIMEOUT_MS)
    tab.evaluate(f"() => {{ {speed}.value = '4'; }}")
    tab.evaluate(f"() => {PLAY}.click()")
    tab.wait_for_function(
        f"() => Number({_readout('.threshold-map .kept')}.dataset.delta) >= 0.95", timeout=PAGE_TIMEOUT_MS
    )  # the browser redraws as δ moves, without the server
    moved = live_readout(tab)
    assert float(moved["delta"]) > 0.9 and int(moved["kept"]) < int(start["kept"])
    since = tab.watcher.finished
    tab.wait_for_function(f"() => {PLAY}.dataset.playing === 'false'", timeout=PAGE_TIMEOUT_MS)  # it ends at 1
    wait_idle(tab, since)
    end = wait_live(tab, "serverDelta", 1.0, PAGE_TIMEOUT_MS)
    assert end["kept"] == end["serverKept"] == "0"  # nothing passes δ = 1, by the browser's count and the server's
    assert int(tab.evaluate(f"() => {MAP_ROOT}.dataset.frames")) >= 2  # redrawn while playing, not only at the end
    tab.wait_for_function("() => location.search.includes('pairs_delta=1')", timeout=PAGE_TIMEOUT_MS)


def test_play_and_pause_move_alpha_on_the_histograms(server, wide_tab):
    tab = visit(wide_tab, server, "ratios", "Per-pair breakdown", query="n_train=128")
    play = live_element(tab, ".ratio-histograms .play", PAGE_TIMEOUT_MS)
    speed = live_element(tab, ".ratio-histograms .speed", PAGE_TIMEOUT_MS)
    tab.evaluate(f"() => {{ {speed}.value = '0.5'; {play}.click(); }}")  # 16 s to 8
    tab.wait_for_function(f"() => Number({RATIOS_READOUT}.dataset.alpha) >= 2.5", timeout=PAGE_TIMEOUT_MS)
    since = tab.watcher.finished
    tab.evaluate(f"() => {play}.dataset.playing === 'true' && {play}.click()")  # pause (unless play got to the end)
    wait_idle(tab, since)
    paused = float(live_readout(tab, RATIOS_READOUT)["alpha"])
    assert paused >= 2.5
    wait_live(tab, "serverAlpha", paused, PAGE_TIMEOUT_MS, RATIOS_READOUT)  # the table follows the paused α
    tab.get_by_text(f"Beta({paused:g}, {paused:g}) (Manifold Mixup)").first.wait_for(timeout=PAGE_TIMEOUT_MS)
