"""msmix: the Streamlit app. Run with ``streamlit run app.py`` (or ``make run``).

This file registers the pages, which live in ``pages/``; adding a page is one line in ``PAGES``.
Each page starts with ``settings = sidebar.render()`` so the shared sidebar is drawn by the page
itself (this keeps it testable with ``AppTest``, which does not redraw an entry point's sidebar).
"""

import streamlit as st

st.set_page_config(page_title="msmix: emotion-aware mixup lab", page_icon="🎭", layout="wide")

PAGES = {
    "Explore": [
        st.Page("pages/home.py", title="Home", icon="🏠", default=True, url_path="home"),
    ],
}

st.navigation(PAGES).run()
