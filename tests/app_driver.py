"""Drive the real app in Debian's headless Chromium: start a server, open pages, wait on real signals.

Shared by the browser tests and ``bench/bench_app.py``. The one signal that a script run is over
is the server's own: every run (of the page or of a fragment) ends with a ``script_finished``
message on the app's websocket. :class:`RunWatcher` counts them, so a caller can act, then wait
until a run that started after the action has finished, and then for what it expects to see.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from helpers import ROOT

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
#: After choosing UMAP: a map is shown, UMAP's own or PCA's with the notice that UMAP is still compiling.
UMAP_OR_NOTICE = """() => [...document.querySelectorAll('.xtitle')].some(e => e.textContent.includes('UMAP 1'))
    || document.body.innerText.includes('UMAP is compiling')"""
XTITLE_HAS = "text => [...document.querySelectorAll('.xtitle')].some(e => e.textContent.includes(text))"
VISIBLE_CHARTS_DRAWN = """() => [...document.querySelectorAll('[data-testid=stPlotlyChart]')]
    .filter(e => e.offsetParent !== null).every(e => e.querySelector('.main-svg'))"""


#: Resolves once the tab's main thread has had a long idle period (a whole 50 ms idle callback): every chart,
#: table and text the last messages drew is done, not only started.
MAIN_THREAD_IDLE = """() => new Promise(resolve => {
    const check = deadline => (deadline.timeRemaining() > 45 ? resolve(true) : requestIdleCallback(check));
    requestIdleCallback(check);
})"""


def free_port() -> int:
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
            time.sleep(0.2)
    raise RuntimeError(f"streamlit did not become healthy within {STARTUP_TIMEOUT_S} s")


@contextmanager
def app_server(env: Mapping[str, str] | None = None) -> Iterator[str]:
    """The app as ``make run`` serves it (:mod:`ui.serve`) on a free local port with ``env`` added; yields its base
    URL and always stops it."""
    port = free_port()
    command = [sys.executable, "-m", "ui.serve", "--server.port", str(port)]
    command += ["--server.headless", "true", "--browser.gatherUsageStats", "false"]
    process = subprocess.Popen(
        command, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
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


class RunWatcher:
    """Counts the ``script_finished`` messages the server sends to one browser tab, and the bytes it sends."""

    def __init__(self, tab) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        self._message = ForwardMsg
        self.finished = 0
        self.received = 0  # bytes of every websocket frame from the server
        self.finished_at = 0.0  # time.perf_counter() when the last script_finished arrived
        self.tab = tab
        tab.on("websocket", self._attach)

    def _attach(self, ws) -> None:
        ws.on("framereceived", self._frame)

    def _frame(self, payload) -> None:
        self.received += len(payload)
        if isinstance(payload, str):
            return
        message = self._message()
        try:
            message.ParseFromString(payload)
        except Exception:  # not a ForwardMsg: ignore it
            return
        if message.WhichOneof("type") == "script_finished":
            self.finished += 1
            self.finished_at = time.perf_counter()

    def wait_finished(self, since: int, timeout_ms: float) -> None:
        """Wait until a run counted after ``since`` finished (Playwright delivers frames while it waits)."""
        deadline = time.monotonic() + timeout_ms / 1000
        while self.finished <= since:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no script run finished within {timeout_ms / 1000:.0f} s")
            self.tab.wait_for_timeout(20)


#: A tab's usual size; the lab's layout tests also use a laptop's or a projector's 1280 px (``wide_tab``).
VIEWPORT = (1400, 1000)
WIDE_VIEWPORT = (1280, 900)


def new_tab(browser, viewport: tuple[int, int] = VIEWPORT):
    """A tab in a fresh browser context (no cookies, no session), with a :class:`RunWatcher` as ``tab.watcher``."""
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    tab = context.new_page()
    tab.watcher = RunWatcher(tab)
    return context, tab


def open_tab(browser, url: str, timeout_ms: float, viewport: tuple[int, int] = VIEWPORT):
    """A new browser context and tab at ``url``, with a :class:`RunWatcher`; waits for the first run to finish."""
    context, tab = new_tab(browser, viewport)
    tab.goto(url, timeout=timeout_ms)
    tab.watcher.wait_finished(0, timeout_ms)
    return context, tab, tab.watcher


def wait_idle(tab) -> None:
    """Wait until the tab has drawn everything it was sent (its main thread idle, :data:`MAIN_THREAD_IDLE`)."""
    tab.evaluate(MAIN_THREAD_IDLE)


def wait_charts(tab, timeout_ms: float) -> None:
    """Wait until every visible plotly chart has drawn its SVG."""
    tab.wait_for_function(VISIBLE_CHARTS_DRAWN, timeout=timeout_ms)


def metric_text(tab, label: str) -> str:
    """The value shown by the ``st.metric`` whose label is ``label`` (empty when there is none)."""
    return tab.evaluate(
        """label => { const card = [...document.querySelectorAll('[data-testid=stMetric]')]
            .find(e => (e.querySelector('[data-testid=stMetricLabel]')?.innerText ?? '').trim() === label);
          return card ? card.querySelector('[data-testid=stMetricValue]').innerText.trim() : ''; }""",
        label,
    )


def wait_metric_change(tab, label: str, before: str, timeout_ms: float) -> str:
    """Wait until the metric ``label`` shows something other than ``before``; return it."""
    tab.wait_for_function(
        """([label, before]) => { const card = [...document.querySelectorAll('[data-testid=stMetric]')]
            .find(e => (e.querySelector('[data-testid=stMetricLabel]')?.innerText ?? '').trim() === label);
          const v = card?.querySelector('[data-testid=stMetricValue]')?.innerText.trim();
          return v !== undefined && v !== before; }""",
        arg=[label, before],
        timeout=timeout_ms,
    )
    return metric_text(tab, label)


def _readout(selector: str) -> str:
    """JavaScript for the element ``selector`` inside a live component's shadow root (``ui/live``)."""
    return f"""[...document.querySelectorAll('*')].map(e => e.shadowRoot).filter(Boolean)
    .map(root => root.querySelector('{selector}')).find(Boolean)"""


def live_element(tab, selector: str, timeout_ms: float) -> str:
    """Wait until a live component has mounted the element ``selector``; the JavaScript that finds it.

    A component draws itself after the script run that sent it has finished, so a page being idle is not
    yet a sign that its buttons exist."""
    element = _readout(selector)
    tab.wait_for_function(f"() => !!{element}", timeout=timeout_ms)
    return element


#: The Pair selection map's readout (``ui/live/threshold_map.js``). Its data attributes: ``delta`` and ``kept``
#: as the browser drew them, ``serverDelta`` and ``serverKept`` as the server last computed them.
MAP_READOUT = _readout(".threshold-map .kept")
#: The Mixing ratios histograms' Beta legend (``ui/live/ratio_histograms.js``): ``alpha`` as drawn, ``serverAlpha``.
RATIOS_READOUT = _readout(".ratio-histograms .beta")


def live_readout(tab, readout: str = MAP_READOUT) -> dict[str, str]:
    """The data attributes (texts) of a live component's readout, e.g. :data:`MAP_READOUT`."""
    return tab.evaluate(f"() => {{ const k = {readout}; return k ? {{...k.dataset}} : {{}}; }}")


def wait_live(tab, field: str, value: float, timeout_ms: float, readout: str = MAP_READOUT) -> dict[str, str]:
    """Wait until the readout's ``field`` (e.g. ``delta``, ``serverDelta``) is ``value``; its data attributes."""
    tab.wait_for_function(
        f"([field, value]) => {{ const k = {readout};"
        " return k && Math.abs(Number(k.dataset[field]) - value) < 1e-9; }",
        arg=[field, value],
        timeout=timeout_ms,
    )
    return live_readout(tab, readout)


#: What a class at the back of the room cannot read, as a list of texts (empty when the page is fine): the page
#: scrolling sideways, an element sticking out of the main column, a label cut off (an ellipsis, or text wider
#: than its box), plotly axis text or a live component's SVG text smaller than 11 px as drawn.
LAYOUT_PROBLEMS = """() => {
  const problems = [];
  const doc = document.scrollingElement;
  if (doc.scrollWidth > doc.clientWidth + 1) problems.push(`the page scrolls sideways: ${doc.scrollWidth} px`);
  const main = document.querySelector('[data-testid=stMainBlockContainer]');
  const right = main.getBoundingClientRect().right;
  const name = e =>
    `${e.dataset.testid ?? e.tagName.toLowerCase()} "${(e.innerText ?? e.textContent).trim().slice(0, 60)}"`;
  const visible = e => e.offsetParent !== null && e.getClientRects().length;
  for (const e of main.querySelectorAll('[data-testid=stElementContainer]')) {
    if (visible(e) && e.getBoundingClientRect().right > right + 1) problems.push(`sticks out: ${name(e)}`);
  }
  const clipping = e => getComputedStyle(e).overflowX !== 'visible';
  const areas = [main, document.querySelector('[data-testid=stSidebarContent]')].filter(Boolean);
  for (const area of areas) {
    for (const e of area.querySelectorAll('p, span, div, label, a, h1, h2, h3, li')) {
      if (e.childElementCount || !e.textContent.trim() || !visible(e)) continue;
      if (e.closest('[data-testid=stCode], pre')) continue;  // code scrolls sideways by design
      const box = e.getBoundingClientRect();
      const style = getComputedStyle(e);
      let cut = e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1
        && (style.textOverflow === 'ellipsis' || style.overflowX !== 'visible');
      for (let a = e.parentElement; !cut && a && a !== area.parentElement; a = a.parentElement) {
        if (!clipping(a)) continue;
        const frame = a.getBoundingClientRect();
        cut = box.right > frame.right + 1 || box.left < frame.left - 1;
      }
      if (cut) problems.push(`cut off: ${name(e)}`);
    }
  }
  for (const e of document.querySelectorAll('[data-testid=stPlotlyChart] .main-svg text')) {
    const size = parseFloat(getComputedStyle(e).fontSize);
    if (visible(e.closest('[data-testid=stPlotlyChart]')) && e.textContent.trim() && size < 11)
      problems.push(`plotly text of ${size} px: "${e.textContent.trim().slice(0, 40)}"`);
  }
  const roots = [...document.querySelectorAll('*')].map(e => e.shadowRoot).filter(Boolean);
  for (const root of roots) {
    for (const svg of root.querySelectorAll('svg[viewBox]')) {
      const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
      for (const t of svg.querySelectorAll('text')) {
        const size = parseFloat(getComputedStyle(t).fontSize) * scale;
        if (t.textContent.trim() && size < 11)
          problems.push(`component text of ${size.toFixed(1)} px: "${t.textContent}"`);
      }
    }
    for (const t of root.querySelectorAll('label, output, button, select, div, span')) {
      const size = parseFloat(getComputedStyle(t).fontSize);
      if (t.childElementCount === 0 && t.textContent.trim() && size < 11)
        problems.push(`component text of ${size} px: "${t.textContent.trim().slice(0, 40)}"`);
    }
  }
  return problems;
}"""

#: The width of the page's main column, in px.
MAIN_WIDTH = "() => document.querySelector('[data-testid=stMainBlockContainer]').getBoundingClientRect().width"
