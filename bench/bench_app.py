"""App benchmark: how long the real app takes to answer, driven in Debian's headless Chromium.

    .venv/bin/python bench/bench_app.py                 # Markdown table on stdout
    .venv/bin/python bench/bench_app.py --repeats 5 --epochs 3

Starts a fresh server as ``make run`` does (``python -m ui.serve``: its own port, a temporary run store) on the default
synthetic data, as a new user would, and times the actions of issue 12. Every timing runs from
the action (key press, click, page open) until the server's ``script_finished`` for a run that
began after it, the signal the user waits for (the changed count text, the new legend, the map's
axis title, the drawn charts, the progress text), and then the browser's main thread idle: a
chart's SVG appears before its traces are drawn, so the answer is timed until all of it is drawn.
Nothing waits on a sleep.

Before the server starts, the CLI (``msmix train``) trains none, mixup and MS-Mix for
``--epochs`` epochs into the run store: the Robustness page scores those runs, and their
per-epoch wall time is the CLI side of "app training speed vs the CLI". The Training page then
trains the same three methods with the same epochs from the browser.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from app_driver import (  # noqa: E402  (the tests folder is put on the path just above)
    CHROMIUM,
    CHROMIUM_ARGS,
    MAP_READOUT,
    RATIOS_READOUT,
    UMAP_OR_NOTICE,
    XTITLE_HAS,
    app_server,
    live_readout,
    metric_text,
    open_tab,
    wait_charts,
    wait_idle,
    wait_live,
    wait_metric_change,
)

from msmix_core.runs import RunStore  # noqa: E402

TIMEOUT_MS = 600_000
METHODS = ("none", "mixup", "msmix")


class Timings:
    """Seconds per action, in the order measured; printed as median (min–max) over repeats."""

    def __init__(self) -> None:
        self.rows: dict[str, list[float]] = {}
        self.notes: dict[str, str] = {}

    def add(self, action: str, seconds: float, note: str = "") -> None:
        self.rows.setdefault(action, []).append(seconds)
        if note:
            self.notes[action] = note
        print(f"  {action}: {seconds:.2f} s {note}", file=sys.stderr, flush=True)

    def markdown(self) -> str:
        lines = ["| action | seconds: median (min–max) | n | note |", "|---|---|---|---|"]
        for action, values in self.rows.items():
            spread = f"{statistics.median(values):.2f} ({min(values):.2f}–{max(values):.2f})"
            lines.append(f"| {action} | {spread} | {len(values)} | {self.notes.get(action, '')} |")
        return "\n".join(lines)


def timed(watcher, action: Callable[[], None], until: Callable[[], None]) -> float:
    """Seconds from ``action`` until a run that started after it finished, ``until`` returned and the
    browser has drawn everything (a chart's SVG appears before its traces are drawn)."""
    since = watcher.finished
    start = time.perf_counter()
    action()
    watcher.wait_finished(since, TIMEOUT_MS)
    until()
    wait_idle(watcher.tab)
    return time.perf_counter() - start


def opened(browser, url: str, page: str, timings: Timings, name: str, shown: str | None = None):
    """Open ``page`` in a new context; time the first view (``shown`` text and charts started) and the
    whole page drawn, as rows named ``name``.

    Until the page is drawn, the browser's main thread is busy and a key press waits (Chromium
    without a GPU draws the charts below the first ones for seconds): the slider moves are timed after.
    """
    start = time.perf_counter()
    context, tab, watcher = open_tab(browser, f"{url}/{page}", TIMEOUT_MS)
    if shown is not None:
        tab.get_by_text(shown).first.wait_for(timeout=TIMEOUT_MS)
    wait_charts(tab, TIMEOUT_MS)
    timings.add(f"{name}: first view", time.perf_counter() - start, "charts started")
    wait_idle(tab)
    timings.add(f"{name}: page drawn", time.perf_counter() - start, "browser idle")
    return context, tab, watcher


def press(tab, slider: str, key: str) -> Callable[[], None]:
    def act() -> None:
        tab.get_by_role("slider", name=slider).first.focus()
        tab.keyboard.press(key)

    return act


def cli_training(runs_dir: str, epochs: int) -> tuple[float, list[float]]:
    """Train :data:`METHODS` with the CLI into ``runs_dir``; total wall seconds and every epoch's wall time."""
    start = time.perf_counter()
    for method in METHODS:
        command = [sys.executable, "-m", "msmix_core", "train", "--method", method, "--epochs", str(epochs)]
        command += ["--runs-dir", runs_dir, "--quiet"]
        subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    total = time.perf_counter() - start
    epochs_wall = [h["wall_time"] for run in RunStore(runs_dir).list() for h in run.history]
    return total, epochs_wall


def clock(readout: str, attribute: str) -> str:
    """JavaScript that installs, once per tab, a clock from a key press to the frame after ``readout``'s
    ``attribute`` first changed: the live component's own redraw (the server's answer writes it again later)."""
    return f"""() => {{ const k = {readout};
    document.addEventListener('keydown', () => {{
        window.__pressed = performance.now();
        window.__drawn = null;
    }}, true);
    new MutationObserver(() => requestAnimationFrame(() => (window.__drawn ??= performance.now())))
        .observe(k, {{attributes: true, attributeFilter: ['{attribute}']}}); }}"""


def drawn_after_press(tab) -> float:
    """Seconds from the last key press to the live component's redraw, as :func:`clock` measured them."""
    return tab.evaluate("() => (window.__drawn - window.__pressed) / 1000")


def bench_pairs(browser, url: str, timings: Timings, repeats: int) -> None:
    """δ moves: the browser redraws the map and its counts itself; the server's pairs and charts follow."""
    context, tab, watcher = opened(browser, url, "pairs", timings, "Pair selection")
    tab.evaluate(clock(MAP_READOUT, "data-delta"))

    def delta_moves(batch: int) -> None:
        for _ in range(repeats):
            delta = round(float(live_readout(tab)["delta"]) + 0.01, 2)
            seconds = timed(
                watcher,
                press(tab, "Similarity threshold δ", "ArrowRight"),
                lambda delta=delta: (wait_live(tab, "serverDelta", delta, TIMEOUT_MS), wait_charts(tab, TIMEOUT_MS)),
            )
            drawn = drawn_after_press(tab)
            timings.add(f"δ move, batch {batch}: map and counts redrawn", drawn, "in the browser, key to next frame")
            timings.add(f"δ move, batch {batch}: pairs and charts below", seconds, "server round trip")

    delta_moves(64)
    seconds = timed(
        watcher,
        press(tab, "Batch size", "End"),
        lambda: (
            wait_metric_change(tab, "Batch size", "64", TIMEOUT_MS),
            wait_charts(tab, TIMEOUT_MS),
        ),
    )
    timings.add("batch 64 → 256 (first time)", seconds, f"batch now {metric_text(tab, 'Batch size')}")
    tab.evaluate(clock(MAP_READOUT, "data-delta"))  # the map may have been drawn anew for the new batch
    delta_moves(256)
    context.close()


def bench_ratios(browser, url: str, timings: Timings, repeats: int) -> None:
    """α moves: the browser redraws the histograms itself; the server's per-pair table follows."""
    context, tab, watcher = opened(browser, url, "ratios", timings, "Mixing ratios")
    tab.evaluate(clock(RATIOS_READOUT, "data-alpha"))
    alpha = 2.0
    for _ in range(repeats):
        alpha = round(alpha + 0.1, 1)
        seconds = timed(
            watcher,
            press(tab, "α of Beta(α, α)", "ArrowRight"),
            lambda alpha=alpha: wait_live(tab, "serverAlpha", alpha, TIMEOUT_MS, RATIOS_READOUT),
        )
        timings.add("α move: histograms redrawn", drawn_after_press(tab), "in the browser, key to next frame")
        timings.add("α move: per-pair table", seconds, "server round trip")
    context.close()


def bench_embeddings(browser, url: str, timings: Timings) -> None:
    """Open Embeddings on a fresh server: when its first map (UMAP of the trained encoder) is drawn; then t-SNE.

    After ``make setup`` the opening map is on disk (``.cache/maps``), so the UMAP map needs no compile;
    without it the page shows PCA with the compiling notice first, and the row says how long UMAP took.
    """
    start = time.perf_counter()
    context, tab, watcher = open_tab(browser, f"{url}/embeddings", TIMEOUT_MS)
    tab.wait_for_function(UMAP_OR_NOTICE, timeout=TIMEOUT_MS)
    tab.wait_for_function(XTITLE_HAS, arg="UMAP 1", timeout=TIMEOUT_MS)
    wait_charts(tab, TIMEOUT_MS)
    wait_idle(tab)
    timings.add(
        "first UMAP map, Embeddings the first page of a fresh server", time.perf_counter() - start, "opened → drawn"
    )
    seconds = timed(
        watcher,
        lambda: tab.locator("label").filter(has_text=re.compile(r"^\s*t-SNE\s*$")).first.click(),
        lambda: tab.wait_for_function(XTITLE_HAS, arg="t-SNE 1", timeout=TIMEOUT_MS),
    )
    timings.add("t-SNE chosen: map drawn", seconds, "256 real + 512 mixed points, fitted together")
    context.close()


def bench_tour(browser, url: str, timings: Timings) -> None:
    """Open a tour step by its link, then Next: from the click until the next step's banner and page are drawn."""
    from ui.tours import TOURS

    steps = TOURS["synthetic"].steps
    start = time.perf_counter()
    context, tab, watcher = open_tab(browser, f"{url}/pairs?tour=synthetic&tour_step=2", TIMEOUT_MS)
    tab.get_by_text(f"step 2 of {len(steps)}").first.wait_for(timeout=TIMEOUT_MS)
    wait_charts(tab, TIMEOUT_MS)
    wait_idle(tab)
    timings.add("tour step 2 (Pair selection) opened by its link", time.perf_counter() - start, "banner and page drawn")
    for number in range(3, 8):
        seconds = timed(
            watcher,
            lambda: tab.get_by_role("button", name="Next →").click(),
            lambda number=number: (
                tab.get_by_text(f"step {number} of {len(steps)}").first.wait_for(timeout=TIMEOUT_MS),
                wait_charts(tab, TIMEOUT_MS),
            ),
        )
        timings.add(f"tour Next → step {number} ({steps[number - 1].title})", seconds, "banner and page drawn")
    context.close()


def bench_robustness(browser, url: str, timings: Timings, repeats: int) -> None:
    context, tab, watcher = opened(browser, url, "robustness", timings, "Robustness", "Scores over seeds: mean ± std")
    for _ in range(repeats):
        seconds = timed(
            watcher,
            press(tab, "Highest noise level (× feature std)", "ArrowRight"),
            lambda: wait_charts(tab, TIMEOUT_MS),
        )
        timings.add("Robustness: noise-level change", seconds)
    context.close()


PROGRESS_TEXT = "() => document.querySelector('[data-testid=stProgress]')?.innerText ?? null"
FINISHED = "() => [...document.querySelectorAll('[data-testid=stAlert]')].some(e => e.innerText.includes('Finished:'))"


def bench_training(browser, url: str, timings: Timings, epochs: int, runs_dir: str) -> list[float]:
    """Run the Training page's default methods for ``epochs``; returns the app runs' per-epoch wall times.

    The progress text is read every 0.25 s from Run to "Finished:": the first text that names a run
    is the first progress; the first epoch is drawn when the curves chart (drawn empty from the
    start) has a line; the first time left shown after that is compared with the time really left.
    """
    context, tab, _ = open_tab(browser, f"{url}/training", TIMEOUT_MS)
    tab.get_by_label(re.compile(r"^Epochs")).fill(str(epochs))
    tab.get_by_role("spinbutton", name="Seeds per method").fill("1")  # the CLI's grid: one run per method
    tab.keyboard.press("Tab")
    created = datetime.now(UTC)
    start = time.perf_counter()
    tab.get_by_role("button", name="Run", exact=True).click()
    texts: list[tuple[float, str]] = []
    first_chart = None
    while not tab.evaluate(FINISHED):
        text = tab.evaluate(PROGRESS_TEXT)
        if text and (not texts or texts[-1][1] != text):
            texts.append((time.perf_counter(), text))
        if first_chart is None and tab.locator("[data-testid=stPlotlyChart] .scatterlayer .trace").count():
            first_chart = time.perf_counter()
        if time.perf_counter() - start > TIMEOUT_MS / 1000:
            raise TimeoutError("the training job did not finish")
        tab.wait_for_timeout(250)  # often enough, and little work for the browser beside the page's own
    end = time.perf_counter()
    named = next(t for t, text in texts if re.search(r"Training .+ \(\d+/\d+ runs done\)", text))
    timings.add("Training: Run → first progress", named - start, "progress text names the run")
    if first_chart is not None:
        timings.add("Training: Run → first epoch drawn", first_chart - start)
    timings.add("Training: whole job (3 methods)", end - start, f"{len(METHODS)} × {epochs} epochs")
    for seen, text in texts:
        eta = re.search(r"about (?:(\d+) min )?(\d+) s left", text)
        if eta and first_chart is not None and seen >= first_chart:
            estimate = 60 * int(eta.group(1) or 0) + int(eta.group(2))
            timings.add("Training: time left shown after the first epoch", estimate, f"actual {end - seen:.1f} s")
            break
    context.close()
    return [h["wall_time"] for run in RunStore(runs_dir).list() if run.created > created for h in run.history]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="slider moves per measured action")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per method for the training measurements")
    parser.add_argument(
        "--skip",
        nargs="*",
        default=[],
        choices=["pairs", "ratios", "embeddings", "tour", "robustness", "training"],
    )
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    timings = Timings()
    cli_epochs: list[float] = []
    app_epochs: list[float] = []
    try:
        with tempfile.TemporaryDirectory() as runs_dir:
            if not {"robustness", "training"} <= set(args.skip):  # the runs they score, and the CLI's epoch times
                print("training with the CLI…", file=sys.stderr, flush=True)
                cli_total, cli_epochs = cli_training(runs_dir, args.epochs)
                timings.add(f"CLI: {len(METHODS)} methods × {args.epochs} epochs", cli_total, "start-ups included")
            with app_server({"MSMIX_RUNS_DIR": runs_dir}) as url, sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                try:
                    if "embeddings" not in args.skip:
                        bench_embeddings(browser, url, timings)  # first: the first map of a fresh server
                    if "tour" not in args.skip:
                        bench_tour(browser, url, timings)
                    if "pairs" not in args.skip:
                        bench_pairs(browser, url, timings, args.repeats)
                    if "ratios" not in args.skip:
                        bench_ratios(browser, url, timings, args.repeats)
                    if "robustness" not in args.skip:
                        bench_robustness(browser, url, timings, args.repeats)
                    if "training" not in args.skip:
                        app_epochs = bench_training(browser, url, timings, args.epochs, runs_dir)
                finally:
                    browser.close()
    finally:  # what was measured is printed even when a later step fails
        machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"
        load = " / ".join(f"{v:.1f}" for v in os.getloadavg())
        print(f"machine: {machine}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; load average at the end {load}")
        print(timings.markdown())
        if cli_epochs:
            print(f"\nCLI epoch wall time: median {statistics.median(cli_epochs):.2f} s")
        if app_epochs and cli_epochs:
            ratio = statistics.median(app_epochs) / statistics.median(cli_epochs)
            print(f"app epoch wall time: median {statistics.median(app_epochs):.2f} s ({ratio:.1f}× the CLI's)")
            print(f"every app epoch (s): {' '.join(f'{t:.2f}' for t in app_epochs)}")
            print(f"every CLI epoch (s): {' '.join(f'{t:.2f}' for t in cli_epochs)}")


if __name__ == "__main__":
    main()
