"""Streamlit-side helpers shared by the pages: settings, the sidebar, caching, error display.

Only this package and ``app.py``/``pages/`` import streamlit; everything they show is computed
by ``msmix_core``.

The server's own torch work (encoding a batch, the pair statistics, scoring a stored model) is
small, and on a busy machine torch's intra-op threads spin against each other and against other
sessions: one thread per operation answers many times faster. Streamlit runs every script run in
a new thread, and a thread count set in one thread does not carry to the next, so the count is set
through ``OMP_NUM_THREADS`` before torch is first imported (``app.py`` imports this package first);
``MSMIX_APP_THREADS`` overrides it. Trainings run in their own processes.
"""

import os

THREADS = int(os.environ.get("MSMIX_APP_THREADS", "1"))
os.environ.setdefault("OMP_NUM_THREADS", str(THREADS))

import torch  # noqa: E402  (after the environment it reads when it loads)

torch.set_num_threads(THREADS)  # torch was imported earlier (a page run on its own): this thread at least
