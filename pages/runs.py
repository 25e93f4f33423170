"""Runs: every stored run in one table, to filter, group by experiment, compare side by side, tag, note and delete."""

from __future__ import annotations

import os

import pandas as pd
import streamlit as st

from msmix_core.errors import MsmixError
from msmix_core.experiments import history_frame
from msmix_core.experiments.tuning import OBJECTIVE, find_studies, load_studies, study_frame
from msmix_core.figures import training_curves
from msmix_core.figures.runs import knob_scatter, parallel_knobs
from msmix_core.runs import Run, RunStatus, RunStore
from msmix_core.runs.annotations import read_note, tag, write_note
from msmix_core.runs.browse import (
    browse_table,
    config_diff,
    filter_table,
    group_table,
    knob_frame,
    parse_conditions,
    sort_table,
    store_stamp,
)
from ui import comparison, data, jobs_view, navigation, page_state, paths, run_links, sidebar

#: The columns shown after the id until the user picks others.
DEFAULT_COLUMNS = ["status", "label", "knobs", "backbone", "dataset", "max_epochs", "seed", "created"]
DEFAULT_COLUMNS += ["duration_s", "experiment", "tags", "test_MAE", "test_Corr"]
DIFF_STYLE = "background-color: rgba(230, 159, 0, 0.25)"  #: a differing row: Okabe-Ito orange, light

sidebar.render()
st.title("Runs: every stored run, to find, compare and annotate")
st.markdown(
    "One row per run in the run store (`$MSMIX_RUNS_DIR` or `runs/`). Runs with the same **experiment** key were "
    "trained alike but for the seed; **group** them to see the mean ± std over seeds. **Select** two runs or more "
    "to set their configs side by side and overlay their learning curves. The link in the address bar keeps the "
    "filters and the selection."
)


@st.cache_resource(max_entries=2, ttl=30, show_spinner="Reading the run store…")
def listing(root: str, stamp: tuple) -> tuple[list[Run], list, pd.DataFrame, dict[str, str]]:
    """The store's runs, damaged folders, table and run captions, read again when a run folder changes
    (``stamp``) or after 30 s (a run whose process died shows as interrupted without a file changing)."""
    runs, damaged = RunStore(root).scan()
    table = browse_table(runs)
    when = table["created"].dt.strftime("%b %d %H:%M")
    parts = [table["label"], "seed " + table["seed"].astype(str), when, table["status"], table["id"].str[-4:]]
    captions = {row[0]: " · ".join(row[1:]) for row in zip(table["id"], *parts, strict=True)}
    return runs, damaged, table, captions


store = RunStore()
runs, damaged, table, captions = listing(str(store.root), store_stamp(store.root))
if damaged:
    st.error(f"**{len(damaged)} damaged run folder(s) skipped**: " + "; ".join(f"`{p.name}`: {r}" for p, r in damaged))
if not runs:
    where = paths.shown(store.root, store.root)
    st.info(f"No runs in `{where}` yet: train some on the Training page or with `msmix train`.")
    st.stop()
by_id = {run.id: run for run in runs}

c1, c2 = st.columns([1, 2])
search = c1.text_input("Search", key=page_state.bind("rn_q", "", str), placeholder="text in any column")
where_text = c2.text_input(
    "Where",
    key=page_state.bind("rn_where", "", str),
    placeholder="label=msmix*; max_epochs>=10; tags=paper",
    help="Conditions on any column, separated by ';': KEY=VALUE (* is a wildcard; tags=T holds for runs tagged T), "
    "KEY!=VALUE, and <, <=, >, >= for numbers and dates (created>=2026-12-01).",
)
c1, c2, c3 = st.columns([1.2, 0.6, 0.8])
columns = [c for c in table.columns if c != "id"]
sort = c1.selectbox("Sort by", columns, key=page_state.bind("rn_sort", "created", page_state.choice(columns)))
descending = c2.toggle("Descending", key=page_state.bind("rn_desc", True, page_state.flag))
grouped = c3.toggle("Group by experiment", key=page_state.bind("rn_group", False, page_state.flag))
shown_columns = st.multiselect(
    "Columns",
    columns,
    key=page_state.bind("rn_cols", [c for c in DEFAULT_COLUMNS if c in table], page_state.subset(columns)),
)

try:
    view = filter_table(table, parse_conditions(where_text), search)
except MsmixError as exc:
    st.error(f"**{exc}**")
    view = table.iloc[:0]
view = sort_table(view, sort, descending)
st.caption(f"{len(view)} of {len(table)} runs.")


def known(options: list[str]) -> page_state.Parser:
    """Items of a comma-separated URL value that are still ``options`` (a deleted run drops out of a shared link)."""
    return lambda text: [item for item in text.split(page_state.SEPARATOR) if item in options]


def one_of(label: str, options: list, key: str, default=None, **kwargs):
    """A selectbox kept in the URL (``default``: the first option), back at its default when its value is no
    longer among ``options`` (another filter, another study)."""
    comparison.forget_stale(key, options)
    start = options[0] if default is None else default
    return st.selectbox(label, options, key=page_state.bind(key, start, page_state.choice(options)), **kwargs)


def picked(key: str, options: list[str]) -> list[str]:
    """The value of the picker ``key`` before it is drawn: a button's pending value, else the session's (the
    URL's on a session's first run), less what is no longer among ``options``."""
    page_state.bind(key, [], known(options))
    if f"{key}_pending" in st.session_state:
        st.session_state[key] = st.session_state.pop(f"{key}_pending")
    st.session_state[key] = [item for item in st.session_state[key] if item in options]
    return st.session_state[key]


def ticked(table_key: str) -> list[int] | None:
    """The rows ticked in the table ``table_key`` when this run started; None before it was first drawn."""
    state = st.session_state.get(table_key)
    return None if state is None else list(state["selection"]["rows"])


def sync_ticks(table_key: str, ids: list[str], target: str, options: list[str]) -> None:
    """One selection, shown by the table's ticks and by the picker ``target`` drawn after it.

    A tick in the table adds its row's item to the picker's value and an untick takes it out; items
    filtered out of the table stay selected. The table then shows ticked the rows of every selected
    item, a link's (``rn_sel=a,b``) and the picker's included.
    """
    selection = picked(target, options)
    rows, last = ticked(table_key), st.session_state.get(f"{table_key}_shown")
    if rows is not None and last is not None and last[0] == tuple(ids):  # the same rows: a tick, if any, is new
        now, before = {ids[row] for row in rows if row < len(ids)}, set(last[1])
        selection = [item for item in selection if item not in before - now]
        selection += [item for item in ids if item in now - before and item not in selection]
        st.session_state[target] = selection
    want = [row for row, item in enumerate(ids) if item in selection]
    if rows != want:
        st.session_state[table_key] = {"selection": {"rows": want, "columns": [], "cells": []}}
    st.session_state[f"{table_key}_shown"] = (tuple(ids), tuple(ids[row] for row in want))


def choose(label: str, key: str, options: list[str], **kwargs) -> list[str]:
    """A multiselect kept in the URL whose value a table's ticks (:func:`sync_ticks`) or a button may set."""
    picked(key, options)
    return st.multiselect(label, options, key=page_state.bind(key, [], known(options)), **kwargs)


if grouped:
    st.subheader("Groups: runs trained alike, over seeds (finished runs; mean ± std)")
    groups = group_table(view, ["experiment"])
    sync_ticks("rn_groups", list(groups["experiment"]), "rn_exp", list(groups["experiment"]))
    st.dataframe(
        groups, hide_index=True, width="stretch", on_select="rerun", selection_mode="multi-row", key="rn_groups"
    )
    chosen = choose(
        "Groups to open",
        "rn_exp",
        list(groups["experiment"]),
        help="Tick groups in the table, or pick their experiment keys here.",
    )
    if chosen:
        ids = list(view[view["experiment"].isin(chosen)]["id"])
        st.markdown(f"**{len(chosen)} group(s), {len(ids)} runs.** Open them in:")
        st.caption(
            "Each page opens with the first group's data and backbone in the sidebar, on the set of like runs that "
            "holds it. Ablation is offered for MS-Mix groups, Robustness for runs saved with their weights."
        )
        cols = st.columns(4)
        for column, (path, label, params) in zip(cols, run_links.group_links([by_id[i] for i in ids]), strict=False):
            navigation.page_link(path, label, container=column, query_params=params)
        if cols[3].button("Select these runs", key="rn_take_group"):
            st.session_state["rn_sel_pending"] = ids
            st.rerun()
else:
    sync_ticks("rn_table", list(view["id"]), "rn_sel", list(by_id))
    st.dataframe(
        view[["id", *shown_columns]],
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="multi-row",
        key="rn_table",
        column_config={
            "created": st.column_config.DatetimeColumn("created", format="YYYY-MM-DD HH:mm"),
            "duration_s": st.column_config.NumberColumn("duration", format="%.0f s"),
        },
    )

selected_ids = choose(
    "Selected runs",
    "rn_sel",
    list(by_id),
    format_func=captions.get,
    help="Tick rows in the table, or pick runs here.",
)
selected = [by_id[run_id] for run_id in selected_ids]

if selected and paths.restricted():
    st.subheader(f"{len(selected)} selected run(s)")
    st.caption(
        "This server is shared: its run folders, tags, notes and deleting runs are for its operator "
        "(`msmix runs tag/note/delete` on the server). Tags and notes are shown in the table."
    )
elif selected:
    st.subheader(f"{len(selected)} selected run(s)")
    st.caption("Their folders (copy a path: a browser opens no file:// link from a page it got over http):")
    st.code("\n".join(str(run.path) for run in selected), language=None)
    c1, c2, c3, c4 = st.columns([2, 1, 1, 1.2])
    new_tags = c1.text_input("Tags", key="rn_tag_text", placeholder="paper, baseline", label_visibility="collapsed")
    with data.user_errors():
        names = [name.strip() for name in new_tags.split(",") if name.strip()]
        if c2.button("Add tags", key="rn_tag_add", disabled=not names):
            for run in selected:
                tag(run.path, add=names)
            st.rerun()
        if c3.button("Remove tags", key="rn_tag_remove", disabled=not names):
            for run in selected:
                tag(run.path, remove=names)
            st.rerun()
    if c4.button(f"Delete {len(selected)} run(s)…", key="rn_delete"):
        st.session_state["rn_confirm"] = selected_ids
    pending = [run_id for run_id in st.session_state.get("rn_confirm", []) if run_id in by_id]
    if pending:
        live = [run_id for run_id in pending if by_id[run_id].status == RunStatus.RUNNING]
        if live:
            st.error(f"{len(live)} of these runs still train: stop them first ({', '.join(live)}).")
        else:
            st.warning(f"Delete {len(pending)} run(s) and every file in their folders? This cannot be undone.")
            c1, c2 = st.columns(2)
            if c1.button("Yes, delete", type="primary", key="rn_delete_yes"):
                for run_id in pending:
                    store.delete(run_id)
                st.session_state.pop("rn_confirm")
                st.session_state["rn_sel_pending"] = [r for r in selected_ids if r not in pending]
                st.rerun()
            if c2.button("Cancel", key="rn_delete_no"):
                st.session_state.pop("rn_confirm")
                st.rerun()
    focus = st.selectbox("Note of", selected_ids, key="rn_focus", format_func=captions.get)
    note = st.text_area("Note", value=read_note(by_id[focus].path), key=f"rn_note_{focus}", height=80)
    if st.button("Save note", key="rn_note_save"):
        with data.user_errors():
            write_note(by_id[focus].path, note)
        st.rerun()

if len(selected) >= 2:
    st.subheader("Side by side: configs (differing fields highlighted) and learning curves")
    diff = config_diff(selected)
    only = st.toggle("Only the fields that differ", key=page_state.bind("rn_diff_only", True, page_state.flag))
    diff = diff[diff["differs"]] if only else diff
    names = {run.id: jobs_view.run_caption(run, selected) for run in selected}
    styled = diff.rename(columns=names).style.apply(
        lambda row: [DIFF_STYLE if row["differs"] else ""] * len(row), axis=1
    )
    st.dataframe(styled, width="stretch")
    frame = history_frame({names[run.id]: run.history for run in selected})
    metrics = list(dict.fromkeys(frame["metric"])) or ["MAE"]
    metric = one_of("Curve", metrics, "rn_metric", "MAE" if "MAE" in metrics else None)
    st.plotly_chart(training_curves(frame, metric), width="stretch", key="rn_curves")

st.subheader("Knobs against a metric: a sweep or a tuning study")
source = st.radio(
    "From",
    ["the runs listed above", "a tuning study"],
    horizontal=True,
    key=page_state.bind(
        "rn_pc_source", "the runs listed above", page_state.choice(["the runs listed above", "a tuning study"])
    ),
    help="Filter the table to one sweep (e.g. Where label=msmix threshold=*) to see what its knobs did.",
)
try:
    if source == "a tuning study":
        studies = {os.path.relpath(path, store.root): path for path in find_studies(store.root)}  # the URL's text
        if not studies:
            raise MsmixError(
                "no Optuna study file (*.db) in the run store: msmix tune --storage sqlite:///<store>/tune.db"
            )
        path = studies[one_of("Study file", list(studies), "rn_pc_study")]
        found = {study.study_name: study for study in load_studies(str(path))}
        name = one_of("Study", list(found), "rn_pc_study_name")
        knobs, metric = study_frame(found[name]), OBJECTIVE
    else:
        metric_columns = [c for c in view.columns if c.startswith(("test_", "valid_"))]
        if not metric_columns:
            raise MsmixError("no listed run has metrics yet")
        metric = one_of("Metric", metric_columns, "rn_pc_metric", "test_MAE" if "test_MAE" in metric_columns else None)
        knobs = knob_frame(view, metric)
    st.plotly_chart(parallel_knobs(knobs, metric), width="stretch", key="rn_parcoords")
    knob_names = [c for c in knobs.columns if c != metric]
    knob = one_of("Knob", knob_names, "rn_pc_knob")
    st.plotly_chart(knob_scatter(knobs, knob, metric), width="stretch", key="rn_scatter")
except MsmixError as exc:
    st.info(str(exc))
