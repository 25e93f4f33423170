"""``python -m ui.serve [streamlit options]``: ``streamlit run app.py``, with the app's imports done before it listens.

Streamlit runs a page's script, and so imports what the page needs, when the first visitor opens it: on a
server just started, the first visitor would wait for torch, scikit-learn, plotly, UMAP's compiled code and
the app's own modules, seconds on a small machine, while a second process (the idle training worker) and
the UMAP warm-up thread compete for the same cores. This launcher does all of that first, then hands over
to Streamlit in the same process, so the first page costs what any later one does. ``make run`` uses it;
``streamlit run app.py`` works as well and warms up in the background instead (:mod:`ui.warmup`).
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from ui.paths import DATA_DIRS_ENV

APP = Path(__file__).resolve().parent.parent / "app.py"
#: Seconds the launcher waits for UMAP's cached code to load before it serves anyway.
UMAP_WAIT = 15.0


def preload() -> None:
    """Import every module of the app (:mod:`ui` and what it imports), start the idle worker, and load UMAP.

    UMAP's compiled code is waited for only when numba's cache has it (after ``make setup``), and for at most
    :data:`UMAP_WAIT` seconds (a cache left half-written compiles the rest); otherwise the compile goes on in
    the background as under ``streamlit run app.py``, and the Embeddings page shows PCA until it is done."""
    import ui
    from ui import warmup

    with warmup.no_runtime_warnings():
        for module in pkgutil.iter_modules(ui.__path__):
            if module.name != "serve":
                importlib.import_module(f"ui.{module.name}")
    warmup.start()
    if not (warmup.cached() and warmup.wait(UMAP_WAIT)):
        print("msmix: UMAP compiles in the background (make setup compiles it ahead)", file=sys.stderr)


#: Addresses only this machine reaches.
LOOPBACK = ("localhost", "127.0.0.1", "::1")


def exposure_warning(argv: Sequence[str], environ: Mapping[str, str]) -> str | None:
    """A warning when ``argv`` serves on an address others reach (``--server.address``) while
    ``$MSMIX_DATA_DIRS`` is unset: every visitor could then open any file the server can read."""
    address = None
    for i, arg in enumerate(argv):
        if arg.startswith("--server.address="):
            address = arg.split("=", 1)[1]
        elif arg == "--server.address" and i + 1 < len(argv):
            address = argv[i + 1]
    address = address or environ.get("STREAMLIT_SERVER_ADDRESS")
    if not address or address in LOOPBACK or environ.get(DATA_DIRS_ENV, "").strip():
        return None
    return (
        f"msmix: serving on {address} without ${DATA_DIRS_ENV}: a visitor may open any file this server can read; "
        "set it to the folders a class may use (docs/app.md, Serving the app to a class)"
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Preload, then run ``streamlit run app.py`` with ``argv`` (Streamlit's own options) in this process."""
    from streamlit.web import cli

    argv = sys.argv[1:] if argv is None else list(argv)
    warning = exposure_warning(argv, os.environ)
    if warning:
        print(warning, file=sys.stderr)
    start = time.perf_counter()
    print("msmix: loading the app before serving (imports, UMAP's compiled code, a training worker)…", file=sys.stderr)
    preload()
    print(f"msmix: ready in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    sys.argv = ["streamlit", "run", str(APP), *argv]
    cli.main()


if __name__ == "__main__":
    main()
