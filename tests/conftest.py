"""What every test file shares: the tiny datasets, and the markers behind the fast inner loop.

Markers (registered in pyproject.toml):

- ``app``: every test in a ``tests/test_app*.py`` file (Streamlit's AppTest), marked here by file name;
- ``browser``: the real headless Chromium tests (``tests/test_browser*.py``);
- ``slow``: a test that takes more than about 2 s on the 2-core machine, marked where it is defined.

``make test-fast`` (``pytest -m "not slow and not app and not browser"``) runs the rest in under a
minute; ``make test`` runs everything.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from msmix_core.data import make_synthetic, save_npz
from msmix_core.data.schema import MSADataset

#: The tiny synthetic data most tests train on: small enough for a 1-epoch run in a second.
TINY_SIZES = {"n_train": 48, "n_valid": 24, "n_test": 24}


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
def tiny_npz(tiny: MSADataset, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The tiny dataset saved as .npz, for the command-line tests."""
    path = Path(tmp_path_factory.mktemp("data")) / "tiny.npz"
    save_npz(tiny, path)
    return str(path)
