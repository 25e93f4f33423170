"""msmix: the Streamlit app. Run with ``make run`` (``python -m ui.serve``, which preloads it) or
``streamlit run app.py``.

The pages live in ``pages/`` and are listed once, in ``ui/navigation.py``. Each page starts with
``settings = sidebar.render()``, so the shared sidebar (page links, data, model) is drawn by the
page itself: that keeps it testable with ``AppTest``, which does not redraw an entry point's sidebar.
"""

import streamlit as st

from ui import navigation, warmup

navigation.configure()
warmup.start()  # UMAP's numba compile and an idle training worker, in the background, once per server
st.navigation(navigation.pages(), position="hidden").run()
