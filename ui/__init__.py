"""Streamlit-side helpers shared by the pages: settings, the sidebar, caching, error display.

Only this package and ``app.py``/``pages/`` import streamlit; everything they show is computed
by ``msmix_core``.
"""
