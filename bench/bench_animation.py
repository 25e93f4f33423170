"""Play/pause benchmark: the frame rate of the δ map and the λ histograms animating in Debian's headless Chromium.

    .venv/bin/python bench/bench_animation.py            # Markdown table on stdout

Starts the app (``python -m ui.serve``, as ``make run``) on the synthetic data, opens each live component,
sets play to 4×
(the whole range in 2 s: 50 slider steps a second for δ, 40 for α), starts play from the slider's
start and measures in the page, until play stops at the end: the browser's animation frames a second,
the redraws a second (a redraw is one slider step drawn; a step that a slow frame skips is not
drawn) and the time one redraw takes (``onMove``, wrapped in the page).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from app_driver import CHROMIUM, CHROMIUM_ARGS, _readout, app_server, live_element, open_tab, wait_idle  # noqa: E402

TIMEOUT_MS = 300_000
#: Page, the component's class, and the query that opens it.
CASES = {
    "δ map, batch 64": ("pairs", "threshold-map", "n_train=128"),
    "δ map, batch 256": ("pairs", "threshold-map", "n_train=512&pairs_batch=256"),
    "λ histograms (4 panels × 20 bins)": ("ratios", "ratio-histograms", "n_train=128"),
}

#: Runs in the page: play at 4× from the slider's start; resolves with what was measured when play ends.
MEASURE = """root => new Promise(resolve => {
  const view = root.parentNode.__live;  // ui/live/slider.js keeps the state on the host
  const times = [];
  const draw = view.onMove;
  view.onMove = value => { const t = performance.now(); draw(value); times.push(performance.now() - t); };
  const button = root.querySelector('.play');
  root.querySelector('.speed').value = '4';
  view.slider.input.value = view.spec.min;
  let frames = 0;
  const start = performance.now();
  const tick = () => {
    frames++;
    if (button.dataset.playing === 'true') return requestAnimationFrame(tick);
    const seconds = (performance.now() - start) / 1000;
    resolve({ seconds, frames, times });
  };
  button.click();
  requestAnimationFrame(tick);
})"""


def measure(browser, url: str, path: str, component: str, query: str) -> dict:
    context, tab, _ = open_tab(browser, f"{url}/{path}?{query}", TIMEOUT_MS)
    try:
        live_element(tab, f".{component} .play", TIMEOUT_MS)
        wait_idle(tab)
        result = tab.evaluate(f"() => ({MEASURE})({_readout('.' + component)})")
    finally:
        context.close()
    times = sorted(result["times"])
    return {
        "seconds": result["seconds"],
        "fps": result["frames"] / result["seconds"],
        "redraws": len(times) / result["seconds"],
        "mean_ms": statistics.fmean(times),
        "p95_ms": times[int(0.95 * (len(times) - 1))],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    rows = []
    with app_server() as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for name, (path, component, query) in CASES.items():
            for _ in range(args.repeats):
                rows.append((name, measure(browser, url, path, component, query)))
        browser.close()
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else ["?"] * 3
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, load average {' '.join(load)}\n")
    print("| component | play took | animation frames/s | redraws/s | redraw mean | redraw p95 |")
    print("|---|---|---|---|---|---|")
    for name, r in rows:
        print(
            f"| {name} | {r['seconds']:.2f} s | {r['fps']:.0f} | {r['redraws']:.0f} | "
            f"{r['mean_ms']:.1f} ms | {r['p95_ms']:.1f} ms |"
        )


if __name__ == "__main__":
    main()
