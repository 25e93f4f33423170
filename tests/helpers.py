"""What test files share besides fixtures (those live in ``conftest.py``): where things are, the command line on
tiny settings, and the app's pages under Streamlit's AppTest. The real browser's helpers are in ``app_driver.py``."""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from msmix_core.cli import main
from msmix_core.data.mosi_utterance import TRANSCRIPTS

if TYPE_CHECKING:
    from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
#: The real CMU-MOSI utterances, in the shared folder beside the checkout.
MOSI_DIR = ROOT.parent / "shared" / "data" / "mosi-utterance"
needs_mosi = pytest.mark.skipif(
    not (MOSI_DIR / TRANSCRIPTS).is_file(), reason=f"the CMU-MOSI utterance folder {MOSI_DIR} is absent"
)

# --- the command line ------------------------------------------------------------------------------------------

#: A training command's tiny settings but its epochs: small batches on the CPU, no progress lines.
QUICK = ["--batch-size", "16", "--device", "cpu", "--quiet"]
#: A training command's tiny settings: one epoch of :data:`QUICK`.
FAST = ["--epochs", "1", *QUICK]
#: :data:`FAST` for tests that never read the stored weights back.
FAST_NO_WEIGHTS = [*FAST, "--no-weights"]


def run_cli(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    """``msmix argv…`` in this process (each argument as text): its exit code, stdout and stderr."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# --- the app's pages under AppTest -----------------------------------------------------------------------------

#: AppTest's limit on one script run, and on a job the page started: a session's first run builds the data and
#: encodes a batch, and a job trains, on slow shared CPUs.
APP_TIMEOUT = 180


def app_test(name: str | None = None, **query: str) -> AppTest:
    """Page ``name`` (``pages/<name>.py``), or the whole app (``app.py``) when None, under AppTest with ``query``
    in its URL; not run yet, so that a test can set the session's state first."""
    from streamlit.testing.v1 import AppTest  # here: the tests that never open a page need not import streamlit

    script = ROOT / ("app.py" if name is None else f"pages/{name}.py")
    at = AppTest.from_file(str(script), default_timeout=APP_TIMEOUT)
    at.query_params.update(query)
    return at


def ran(at: AppTest) -> AppTest:
    """``at`` after one more script run, which must raise nothing."""
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def open_page(name: str, **query: str) -> AppTest:
    """Page ``name`` run once with ``query`` in its URL."""
    return ran(app_test(name, **query))


def page(name: str, **params: str) -> AppTest:
    """Page ``name`` run once with small settings (128 training samples) plus ``params`` in the URL."""
    return open_page(name, **{"n_train": "128", **params})


def start_training(at: AppTest, methods: list[str], epochs: int, seeds: int = 1, recipe: str | None = None):
    """Fill the Training page's form and press Run, as a user does; the job it started."""
    at.multiselect(key="tr_methods").set_value(methods)
    at.number_input(key="tr_epochs").set_value(epochs)
    at.number_input(key="tr_seeds").set_value(seeds)
    if recipe is not None:
        at.selectbox(key="tr_recipe").set_value(recipe)
    next(b for b in at.button if b.label == "Run").click()
    ran(at)
    return at.session_state["training_job"]


def wait_first_epoch(job, name: str) -> None:
    """Wait until the job's run ``name`` has logged its first epoch, as a user waits to see its first point."""
    deadline = time.monotonic() + APP_TIMEOUT
    while not job.progress().histories[name]:
        assert time.monotonic() < deadline, f"{name} logged no epoch within {APP_TIMEOUT} s"
        time.sleep(0.1)


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def traces(at: AppTest, key: str) -> list[dict]:
    """The traces of the plotly chart with widget key ``key``, as plain dicts."""
    chart = next(c for c in at.get("plotly_chart") if key in c.proto.id)
    return json.loads(chart.proto.spec)["data"]


def values(array: list | dict) -> np.ndarray:
    """A trace's array: plotly serialises numpy arrays as base64 typed arrays."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"])
    return np.asarray(array)


def live_data(at: AppTest) -> dict:
    """What the page sends its browser-drawn control (ui.live): the δ map, or the λ histograms."""
    (element,) = at.get("bidi_component")
    return json.loads(element.proto.json)


def set_live(at: AppTest, key: str, value: float) -> AppTest:
    """Move a browser-drawn slider as the browser does: its value lands in ``st.session_state[key]``."""
    at.session_state[key] = value
    return ran(at)


def set_delta(at: AppTest, delta: float) -> AppTest:
    return set_live(at, "pairs_delta", delta)


def chosen_pairs(at: AppTest):
    """The table of the pairs SASS drew (the first table with ``row_a``)."""
    return next(d.value for d in at.dataframe if "row_a" in d.value.columns)


def card_rows(at: AppTest) -> list[int]:
    """The train rows of the two samples the pair card shows."""
    return [int(m.group(1)) for c in at.caption if (m := re.search(r"train row (\d+)", c.value))]
