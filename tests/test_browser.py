"""End to end in a real headless Chromium: the app starts, every page renders, sliders respond.

Uses Debian's ``/usr/bin/chromium`` through Playwright's Python package (never a downloaded
browser). Other pages' tests reuse the ``server`` fixture and :func:`visit`.
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STARTUP_TIMEOUT_S = 60
PAGE_TIMEOUT_MS = 120_000  # the first view of a page builds the data and encodes a batch on slow CPUs
SMALL = "n_train=128"
VISIBLE_CHARTS_DRAWN = """() => [...document.querySelectorAll('[data-testid=stPlotlyChart]')]
    .filter(e => e.offsetParent !== null).every(e => e.querySelector('.main-svg'))"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"streamlit did not become healthy within {STARTUP_TIMEOUT_S} s")


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    """The app on a free local port; yields its base URL and always stops it."""
    port = _free_port()
    env = {**os.environ, "MSMIX_RUNS_DIR": str(tmp_path_factory.mktemp("runs"))}
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port)]
    command += ["--server.headless", "true", "--browser.gatherUsageStats", "false"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def browser():
    """A headless Debian Chromium; skipped without it (a failure when ``CI`` is set)."""
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package")
        pytest.skip(f"{CHROMIUM} is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def tab(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        yield context.new_page()
    finally:
        context.close()


def visit(tab, server: str, path: str, wait_for: str):
    """Open ``path`` (small settings), wait until ``wait_for`` text shows and the app is idle; no exception shown."""
    tab.goto(f"{server}/{path}?{SMALL}", timeout=PAGE_TIMEOUT_MS)
    tab.get_by_text(wait_for).first.wait_for(timeout=PAGE_TIMEOUT_MS)
    wait_idle(tab)
    tab.wait_for_function(VISIBLE_CHARTS_DRAWN, timeout=PAGE_TIMEOUT_MS)
    assert tab.locator("[data-testid=stException]").count() == 0
    return tab


def wait_idle(tab) -> None:
    """Wait until the script run finished (Streamlit shows a 'Running' status widget meanwhile)."""
    tab.wait_for_timeout(300)
    tab.locator("[data-testid=stStatusWidget]").wait_for(state="hidden", timeout=PAGE_TIMEOUT_MS)


def screenshot(tab, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=False)


def candidate_count(tab) -> int:
    card = tab.locator("[data-testid=stMetric]", has_text="Candidate pairs").first
    return int(re.search(r"(\d+)\s*$", card.inner_text()).group(1))


def test_every_exploration_page_renders(server, tab):
    for path, text in [
        ("home", "The data you are looking at"),
        ("pairs", "Chosen pairs"),
        ("ratios", "Per-pair breakdown"),
        ("embeddings", "Real points"),
    ]:
        visit(tab, server, path, text)
        screenshot(tab, path)


def test_moving_delta_changes_the_candidate_count(server, tab):
    visit(tab, server, "pairs", "Chosen pairs")
    before = candidate_count(tab)
    thumb = tab.get_by_role("slider", name="Similarity threshold δ")  # matches [role=slider] and <input type=range>
    thumb.focus()
    for _ in range(5):
        tab.keyboard.press("ArrowRight")
    tab.wait_for_function(
        "before => { const card = [...document.querySelectorAll('[data-testid=stMetric]')]"
        ".find(e => e.innerText.includes('Candidate pairs'));"
        " return card && !card.innerText.trim().endsWith(String(before)); }",
        arg=before,
        timeout=PAGE_TIMEOUT_MS,
    )
    wait_idle(tab)
    assert candidate_count(tab) < before
    screenshot(tab, "pairs_delta")
