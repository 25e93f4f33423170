"""The chooser of which stored runs a page compares (Ablation, Robustness): one set of like runs.

The library finds the sets (:func:`msmix_core.runs.comparable_sets`), best first; this draws the
choice when there are several, says what the shown set leaves out, and keeps the choice in the URL.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from msmix_core.runs import ComparisonSet, left_out, varying_settings
from msmix_core.runs.sets import setting_text
from ui import page_state

HELP = (
    "Runs are compared only with runs trained with the same settings (data, backbone, epochs, lr, knobs...) "
    "but the compared factor, on the seeds both have; each set here is one such group. The default is the "
    "newest set that holds every variant."
)


#: The settings named in the caption of the compared set (all of them are the same in it).
SHOWN = ("recipe", "epochs", "lr")


def forget_stale(key: str, options: Sequence[object]) -> None:
    """Drop the widget ``key``'s values that are not among ``options`` (another set's): it starts from its default."""
    value = st.session_state.get(key)
    if value is not None and not set(value if isinstance(value, list) else [value]) <= set(options):
        del st.session_state[key]


def set_label(chosen: ComparisonSet, varying: Sequence[str]) -> str:
    """A set in the chooser: what tells it apart, its size, and what it lacks."""
    lacks = f" · no {', '.join(repr(n) for n in chosen.missing)}" if chosen.missing else ""
    return chosen.title(varying) + lacks


def choose_set(sets: Sequence[ComparisonSet], key: str) -> ComparisonSet:
    """The set the user compares (the first, best, one by default), with a caption per set left out."""
    varying = varying_settings(sets)
    by_key = {s.settings_key: s for s in sets}
    if len(sets) > 1:
        options = list(by_key)
        forget_stale(key, options)  # a set that is gone (its runs deleted): back to the default
        picked = st.selectbox(
            "Runs compared",
            options,
            key=page_state.bind(key, options[0], page_state.choice(options)),
            format_func=lambda settings_key: set_label(by_key[settings_key], varying),
            help=HELP,
        )
        chosen = by_key[picked]
    else:
        chosen = sets[0]
    shown = [f"{field}={setting_text(value)}" for field, value in chosen.settings.items() if field in SHOWN]
    st.caption(
        f"Compared: {', '.join(chosen.variants)}, trained alike ({', '.join([*shown, 'every other setting'])}); "
        "each variant's experiment key is in the table."
    )
    for line in left_out(sets, chosen):
        st.caption(f"Left out: {line}.")
    return chosen
