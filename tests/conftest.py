"""What every test file shares: the small datasets, the app's run store, the browser, and the markers behind the fast
inner loop. Plain helpers (no fixtures) are in ``helpers.py`` and, for the browser, ``app_driver.py``.

Markers (registered in pyproject.toml):

- ``app``: every test in a ``tests/test_app*.py`` file (Streamlit's AppTest), marked here by file name;
- ``browser``: the real headless Chromium tests (``tests/test_browser*.py``);
- ``slow``: a test that takes more than about 2 s on the 2-core machine, marked where it is defined.

``make test-fast`` (``pytest -m "not slow and not app and not browser"``) runs the rest in under a
minute; ``make test`` runs everything.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from app_driver import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, WIDE_VIEWPORT, app_server, new_tab

from msmix_core.data import make_synthetic, save_npz
from msmix_core.data.schema import MSADataset

#: The tiny synthetic data most tests train on: small enough for a 1-epoch run in a second.
TINY_SIZES = {"n_train": 48, "n_valid": 24, "n_test": 24}
#: A little more (64 training samples): for the trainer's and the command line's tests that need a few batches.
SMALL_SIZES = {"n_train": 64, "n_valid": 32, "n_test": 32}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        name = item.path.name
        if name.startswith("test_app"):
            item.add_marker(pytest.mark.app)
        elif name.startswith("test_browser"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def tiny() -> MSADataset:
    """The tiny synthetic dataset (seed 0); shared, so no test may change it."""
    return make_synthetic(seed=0, **TINY_SIZES)


@pytest.fixture()
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny: MSADataset):
    """A fresh run store for the app's pages (via $MSMIX_RUNS_DIR), and the tiny dataset behind every page.

    Test files of the library's store define their own ``store`` (a plain folder), which takes precedence.
    """
    import ui.data
    from msmix_core.runs import RunStore

    monkeypatch.setenv("MSMIX_RUNS_DIR", str(tmp_path))
    monkeypatch.setattr(ui.data, "dataset", lambda settings: tiny)
    return RunStore(tmp_path)


@pytest.fixture(scope="session")
def small() -> MSADataset:
    """The small synthetic dataset (seed 0); shared, so no test may change it."""
    return make_synthetic(seed=0, **SMALL_SIZES)


def _saved(dataset: MSADataset, factory: pytest.TempPathFactory, name: str) -> str:
    path = Path(factory.mktemp("data")) / f"{name}.npz"
    save_npz(dataset, path)
    return str(path)


@pytest.fixture(scope="session")
def tiny_npz(tiny: MSADataset, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The tiny dataset saved as .npz, for the command-line tests."""
    return _saved(tiny, tmp_path_factory, "tiny")


@pytest.fixture(scope="session")
def small_npz(small: MSADataset, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The small dataset saved as .npz, for the command-line tests."""
    return _saved(small, tmp_path_factory, "small")


# --- the real browser (tests/test_browser*.py) -----------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app on a free local port with its own run store; yields its base URL and always stops it."""
    with app_server({"MSMIX_RUNS_DIR": str(tmp_path_factory.mktemp("runs"))}) as url:
        yield url


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


def _tab_in_its_own_context(browser, viewport: tuple[int, int]) -> Iterator:
    context, tab = new_tab(browser, viewport)
    try:
        yield tab
    finally:
        context.close()


@pytest.fixture
def tab(browser):
    """A tab in a fresh browser context, with a ``RunWatcher`` as ``tab.watcher``."""
    yield from _tab_in_its_own_context(browser, VIEWPORT)


@pytest.fixture
def wide_tab(browser):
    """A tab 1280 px wide: a laptop, a projector's usual width."""
    yield from _tab_in_its_own_context(browser, WIDE_VIEWPORT)
