"""Links from the Runs page to the pages that compare stored runs, with the chosen runs in their URLs.

Ablation and Robustness keep the set of like runs they compare in the URL (``ab_set``, ``rb_set``:
the digest of the settings its runs share, the compared factor aside); a link names the set that
holds the chosen group, the group's run ids (``runs``) and the sidebar values of its data and
backbone, with :data:`ui.settings.LINK_KEY` so that the page takes them even in a session that had
other ones. Where the page still cannot compare the linked runs (data the sidebar does not offer,
a hand-made link), :func:`say_why_not` says in one line what differs. Training overlays the runs
its ``tr_overlay`` names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import streamlit as st

from msmix_core.data import MSADataset
from msmix_core.errors import MsmixError
from msmix_core.experiments.ablation import ABLATION_FACTOR, FULL_LABEL
from msmix_core.runs import Run, RunStatus, RunStore
from msmix_core.runs.identity import fields_key, settings_fields
from ui import page_state, settings

#: The factor each comparing page varies within a set (its runs share every other setting).
FACTORS: dict[str, tuple[str, ...]] = {"ablation": ABLATION_FACTOR, "robustness": ("method",)}
#: The URL parameter naming the linked runs.
RUNS_KEY = "runs"
#: The most run ids of a link that a page reads (a group of a large sweep has a few hundred).
MAX_LINKED_RUNS = 1000


def link_settings(config: Mapping[str, Any]) -> dict[str, str]:
    """The sidebar values (as URL text) that select the backbone and data a run was trained on, as far as the
    sidebar can say them: the synthetic data's seed and knobs, CMU-MOSI's split, share and subset seed (its
    folder is the server's own); an MMSA file's path never goes into a link."""
    values: dict[str, Any] = {"backbone": config.get("backbone")}
    info = config.get("dataset_info") or {}
    if info.get("source") == "synthetic":
        knobs = info.get("config") or {}
        values |= {"source": "synthetic", "data_seed": info.get("seed", 0)}
        values |= {name: knobs[name] for name in ("conflict_rate", "label_noise", "n_train") if name in knobs}
    elif info.get("source") == "mosi-utterance":
        values |= {"source": "mosi", "mosi_split": info.get("split"), "data_seed": info.get("seed")}
        values["mosi_fraction"] = info.get("train_fraction")
    return {name: page_state.encode(value) for name, value in values.items() if value is not None}


def ablation_runs(runs: Sequence[Run]) -> bool:
    """Whether Ablation can show ``runs``: it compares MS-Mix runs (its variants switch MS-Mix's parts off)."""
    return all(run.config.get("method") == FULL_LABEL for run in runs)


def robustness_runs(runs: Sequence[Run]) -> bool:
    """Whether Robustness can score some of ``runs``: finished runs that kept their weights."""
    return any(run.status == RunStatus.FINISHED and run.has_weights for run in runs)


def group_links(runs: Sequence[Run]) -> list[tuple[str, str, dict[str, str]]]:
    """``(page, label, query parameters)`` that open ``runs`` (one group or more; the sets of the first run's
    settings, its data and backbone in the sidebar) in Ablation (MS-Mix runs only), Robustness (runs with
    weights only) and Training."""
    ids = page_state.SEPARATOR.join(run.id for run in runs)
    config = runs[0].config
    shared = link_settings(config) | {settings.LINK_KEY: "1", RUNS_KEY: ids}
    sets = {page: fields_key(settings_fields(config, factor)) for page, factor in FACTORS.items()}
    links = []
    if ablation_runs(runs):
        links.append(("pages/ablation.py", "Ablation", {"ab_set": sets["ablation"], **shared}))
    if robustness_runs(runs):
        links.append(("pages/robustness.py", "Robustness", {"rb_set": sets["robustness"], **shared}))
    return [*links, ("pages/training.py", "Training", {"tr_overlay": ids})]


def why_not(page: str, runs: Sequence[Run], backbone: str, dataset: MSADataset) -> str | None:
    """One line saying why ``page`` (``"ablation"`` or ``"robustness"``) does not compare the linked ``runs`` under
    the sidebar's ``backbone`` and ``dataset``, and what to choose; None when it does."""
    if not runs:
        return "The linked runs are no longer in the run store: this page shows the sets it has."
    first = runs[0].config
    fixes = []
    if page == "ablation" and not ablation_runs(runs):
        methods = ", ".join(dict.fromkeys(str(run.config.get("method")) for run in runs))
        fixes.append(f"Ablation compares MS-Mix runs only, these are {methods}")
    if page == "robustness" and not robustness_runs(runs):
        fixes.append("Robustness scores saved models, and these runs kept no weights (trained with --no-weights?)")
    if first.get("backbone") != backbone:
        fixes.append(f"choose {first.get('backbone')} in the sidebar")
    if first.get("dataset") != dataset.name:
        fixes.append(f"choose their data ({first.get('dataset')}) in the sidebar")
    if not fixes:
        return None
    described = f"{first.get('label', first.get('method'))}, {first.get('epochs')} epochs, {first.get('backbone')}"
    return (
        f"The linked runs ({described} on {first.get('dataset')}) are not among this page's sets for {backbone} "
        f"on {dataset.name}: {'; '.join(fixes)}."
    )


def say_why_not(page: str, backbone: str, dataset: MSADataset, store: RunStore) -> None:
    """On a page opened by a link with ``runs=ID,ID``: a warning when it cannot compare them (:func:`why_not`)."""
    ids = [run_id for run_id in st.query_params.get(RUNS_KEY, "").split(page_state.SEPARATOR) if run_id]
    ids = ids[:MAX_LINKED_RUNS]  # a hand-made link may name any number
    if not ids:
        return
    runs = []
    for run_id in ids:
        try:
            runs.append(store.load(run_id))
        except MsmixError:  # deleted since, or a typo in a hand-made link
            continue
    line = why_not(page, runs, backbone, dataset)
    if line:
        st.warning(line)
