"""The app's pages, in one place: ``app.py`` registers them and the sidebar links to them.

Streamlit turns on its automatic file-list navigation whenever a ``pages/`` folder sits next to
the entry script, even under ``st.navigation``. The config hides that list
(``client.showSidebarNavigation = false``) and the sidebar draws these titled links instead.

In that mode a link to a page (``/pairs``) runs ``pages/pairs.py`` alone: ``app.py`` runs only
for ``/``. So whatever every page needs from the entry script, its page config above all (the
wide layout: without it every page sat in Streamlit's 736 px column), each page applies itself
through :func:`configure`, which :func:`ui.sidebar.render` calls first.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

#: The page config of every page: the wide layout uses the window (a projector's, a laptop's).
PAGE_CONFIG = {
    "page_title": "msmix: emotion-aware mixup lab",
    "page_icon": ":material/theater_comedy:",
    "layout": "wide",
}

#: Group -> pages as (file, title, icon, URL path). Adding a page is one line here.
PAGES: dict[str, list[tuple[str, str, str, str]]] = {
    "Explore": [
        ("pages/home.py", "Home", ":material/home:", "home"),
        ("pages/tour.py", "Guided tour", ":material/tour:", "tour"),
        ("pages/pairs.py", "Pair selection (SASS)", ":material/join_inner:", "pairs"),
        ("pages/ratios.py", "Mixing ratios (SIG)", ":material/balance:", "ratios"),
        ("pages/embeddings.py", "Embeddings (UMAP)", ":material/scatter_plot:", "embeddings"),
    ],
    "Experiment": [
        ("pages/training.py", "Training", ":material/show_chart:", "training"),
        ("pages/ablation.py", "Ablation", ":material/extension:", "ablation"),
        ("pages/sweeps.py", "Sweeps", ":material/tune:", "sweeps"),
        ("pages/robustness.py", "Robustness", ":material/shield:", "robustness"),
        ("pages/runs.py", "Runs", ":material/table_rows:", "runs"),
    ],
}


@cache
def _style() -> str:
    return (Path(__file__).parent / "style.css").read_text()


def configure() -> None:
    """Apply :data:`PAGE_CONFIG`; every page calls it (through the sidebar), ``app.py`` too."""
    st.set_page_config(**PAGE_CONFIG)


def style() -> None:
    """The app's style (``style.css``: labels wrap instead of being cut off), as the sidebar's last element.

    A markdown element, not ``st.html``: the browser loads ``st.html``'s code lazily and holds the page's
    first drawing until it has it.
    """
    st.sidebar.markdown(f"<style>{_style()}</style>", unsafe_allow_html=True)


def pages() -> dict[str, list[st.Page]]:
    """The ``st.Page`` objects for ``st.navigation``; the first page is the default."""
    return {
        group: [
            st.Page(path, title=title, icon=icon, url_path=url, default=(path == "pages/home.py"))
            for path, title, icon, url in entries
        ]
        for group, entries in PAGES.items()
    }


def page_link(
    path: str, label: str, icon: str | None = None, container=st, query_params: dict[str, str] | None = None
) -> None:
    """A link to a page of :data:`PAGES` (with ``query_params`` in its URL); a page run on its own (no
    navigation) shows the label in bold instead."""
    try:
        container.page_link(path, label=label, icon=icon, query_params=query_params)
    except StreamlitPageNotFoundError:
        container.markdown(f"**{label}**")


def entry(path: str) -> tuple[str, str]:
    """The title and icon of the page at ``path``."""
    return next((title, icon) for entries in PAGES.values() for file, title, icon, _ in entries if file == path)


def links() -> None:
    """Titled links to every page, grouped, at the top of the sidebar.

    A page script run on its own (``streamlit run pages/pairs.py``, or a test's
    ``AppTest.from_file``) has no navigation to link into; it then draws no links.
    """
    for group, entries in PAGES.items():
        st.sidebar.caption(group.upper())
        for path, title, icon, _ in entries:
            try:
                st.sidebar.page_link(path, label=title, icon=icon)
            except StreamlitPageNotFoundError:
                return
