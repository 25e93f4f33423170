"""The chooser of which stored runs a page compares (Ablation, Robustness): one set of like runs.

The library finds the sets (:func:`msmix_core.runs.comparable_sets`), best first; this draws the
choice when there are several, says what the shown set leaves out, and keeps the choice in the URL.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from msmix_core.jobs import TrainingJob
from msmix_core.runs import MIN_PAIRED_SEEDS, ComparisonSet, left_out, varying_settings
from msmix_core.runs.sets import setting_text
from ui import page_state

HELP = (
    "Runs are compared only with runs trained with the same settings (data, backbone, epochs, lr, knobs...) "
    "but the compared factor, on the seeds both have; each set here is one such group. The default is the set "
    "of the runs this page is training (or just trained), else the newest set with a paired test to show: "
    f"the reference and another variant on at least {MIN_PAIRED_SEEDS} shared seeds."
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


def job_set(sets: Sequence[ComparisonSet], job: TrainingJob | None) -> ComparisonSet | None:
    """The set that holds most of ``job``'s stored runs (None before its first run has finished)."""
    own = set(job.progress().run_ids.values()) if job is not None else set()
    if not own or not sets:
        return None
    best = max(sets, key=lambda s: len(own & {run.id for run in s.runs}))  # the first of equals
    return best if own & {run.id for run in best.runs} else None


def choose_set(sets: Sequence[ComparisonSet], key: str, job: TrainingJob | None = None) -> ComparisonSet:
    """The set the user compares, with a caption per set left out.

    The default is the set of the page's ``job`` once one of its runs has finished (the chooser moves
    to it once per job; the user may then pick another), else the library's default, the first.
    """
    varying = varying_settings(sets)
    by_key = {s.settings_key: s for s in sets}
    if len(sets) > 1:
        options = list(by_key)
        forget_stale(key, options)  # a set that is gone (its runs deleted): back to the default
        followed = job_set(sets, job)
        if followed is not None and st.session_state.get(f"{key}_job") != job.id:
            st.session_state[key] = followed.settings_key  # the job's first finished run: show its set
            st.session_state[f"{key}_job"] = job.id
        default = options[0] if followed is None else followed.settings_key
        picked = st.selectbox(
            "Runs compared",
            options,
            key=page_state.bind(key, default, page_state.choice(options)),
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
