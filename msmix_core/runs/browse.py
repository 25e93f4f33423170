"""The run browser's tables (the Runs page and ``msmix runs``): one row per run, filters, groups, diffs.

:func:`browse_table` extends :func:`~msmix_core.runs.compare.runs_table` with what a researcher
scans a run list for (knobs, recipe, epoch cap, duration, experiment key, tags, note) and with every
config field flattened to a column (``method_kwargs.threshold``), so that any of them can be
filtered on (:func:`filter_table`), grouped by (:func:`group_table`) or set side by side
(:func:`config_diff`). Two families of stored fields stay out: the data's z-score statistics
(``dataset_info.zscore.*``: hundreds of numbers that would flood a diff) and, unless asked for
(``paths=True``: the operator's CLI), any field that names a place on the server
(:func:`server_path`: the CMU-MOSI folder in ``dataset_info.folder``, an MMSA file's path), which
a shared app must not show. :func:`knob_frame` gives the knobs that vary over some runs against a
metric (the parallel-coordinates view).
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from msmix_core.errors import MsmixError
from msmix_core.runs.annotations import read_note, read_tags
from msmix_core.runs.compare import compare_runs, format_table, runs_table
from msmix_core.runs.identity import EXPERIMENT_KEY_FIELD
from msmix_core.runs.status import RunStatus
from msmix_core.runs.store import HISTORY_FILE, Run

#: The columns of :func:`browse_table` before its metric and config columns.
BROWSE_COLUMNS: tuple[str, ...] = (
    "id",
    "status",
    "dataset",
    "backbone",
    "method",
    "label",
    "knobs",
    "recipe",
    "max_epochs",
    "epochs",
    "best_epoch",
    "seed",
    "created",
    "duration_s",
    "experiment",
    "tags",
    "note",
)
#: Config fields shown by a column of their own (or not at all) rather than as a config column.
_SHOWN = frozenset({"dataset", "backbone", "method", "label", "seed", "recipe", "epochs", EXPERIMENT_KEY_FIELD})
#: Config fields that say where or how a run was stored, not what was trained: no knob of a sweep.
_NOT_KNOBS = ("seed", "label", "device", "save_weights", "versions.", "dataset_summary.")
#: What grouping by ``experiment`` shows of each group besides its key (all runs of one key share them).
EXPERIMENT_COLUMNS: tuple[str, ...] = ("dataset", "backbone", "label", "knobs", "max_epochs", "experiment")
#: Stored fields no browser table shows: the data's z-score statistics (a list of numbers per modality).
_STATISTICS = ("dataset_info.zscore.",)
#: Field names (their last dotted part) that hold a place on the server whatever their value.
_PLACE_NAMES = frozenset({"folder", "path", "dir", "directory", "root", "file"})
#: An absolute path (POSIX, home, Windows drive or share) or a file URI anywhere in a text: "mosi:/data/x.pkl".
_SERVER_PATH = re.compile(r"(?:^|[\s:=(,'\"])(?:~?/|[A-Za-z]:[\\/]|\\\\)\S|file:", re.IGNORECASE)
#: ``KEY=VALUE``, ``KEY!=VALUE``, ``KEY<VALUE``, ``KEY<=VALUE``, ``KEY>VALUE``, ``KEY>=VALUE``.
_CONDITION = re.compile(r"^\s*([^=!<>]+?)\s*(!=|<=|>=|=|<|>)\s*(.*?)\s*$")
#: Shown for a config field a run does not have.
ABSENT = "(absent)"


def flat_config(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts flattened to dotted keys (``method_kwargs.alpha``); lists stay values, empty dicts go."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, Mapping):
            flat |= flat_config(value, f"{prefix}{key}.")  # an empty one ({} knobs) adds nothing
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def server_path(field: str, value: Any) -> bool:
    """Whether a stored field names a place on the server: by its name (``folder``, ``*_dir``, ``*_path``...)
    or by its value (text holding an absolute path or a ``file:`` URI)."""
    name = field.rsplit(".", 1)[-1].lower()
    if name in _PLACE_NAMES or name.endswith(("_dir", "_path", "_folder", "_file")):
        return True
    return isinstance(value, str) and bool(_SERVER_PATH.search(value))


def shown_config(config: Mapping[str, Any], paths: bool = False) -> dict[str, Any]:
    """A config flattened (:func:`flat_config`) less the data's z-score statistics and, unless ``paths``, the
    fields that name a place on the server (:func:`server_path`)."""
    flat = flat_config(config)
    return {k: v for k, v in flat.items() if not k.startswith(_STATISTICS) and (paths or not server_path(k, v))}


def value_text(value: Any) -> str:
    """A config value as the tables print it: numbers without trailing zeros, lists and dicts as JSON."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | dict | bool) or value is None:
        return json.dumps(value)
    return str(value)


def _knobs(config: Mapping[str, Any]) -> str:
    knobs = {**(config.get("backbone_kwargs") or {}), **(config.get("method_kwargs") or {})}
    return " ".join(f"{key}={value_text(value)}" for key, value in knobs.items())


def _annotations(run: Run) -> tuple[str, str]:
    """A run's tags (comma-joined) and note; a damaged file is said in the note rather than hiding the run."""
    try:
        return ",".join(read_tags(run.path)), read_note(run.path)
    except (MsmixError, OSError) as exc:
        return "", f"(unreadable: {exc})"


def store_stamp(root: Path) -> tuple[tuple[str, int, int], ...]:
    """What changes when a run is added, deleted, ends, logs an epoch or is tagged: each run folder's name and
    the modification times of the folder (every file is replaced by a rename into it) and of its history
    (appended in place). Only stats, no file read: a cheap key for a cached listing."""
    stamp = []
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for entry in os.scandir(root):
            if entry.name.startswith(".") or not entry.is_dir():
                continue
            try:
                history = (Path(entry.path) / HISTORY_FILE).stat().st_mtime_ns
            except OSError:
                history = 0
            stamp.append((entry.name, entry.stat().st_mtime_ns, history))
    return tuple(sorted(stamp))


def browse_table(runs: Iterable[Run], paths: bool = False) -> pd.DataFrame:
    """One row per run: :data:`BROWSE_COLUMNS`, the ``test_``/``valid_`` metrics, then every other config field
    (:func:`shown_config`: server paths only with ``paths``, never the z-score lists).

    ``epochs`` counts the epochs trained, ``max_epochs`` is the configured cap, ``duration_s`` the
    seconds from start to end (NaN while a run trains), ``experiment`` the run's experiment key
    (:mod:`~msmix_core.runs.identity`: what it trained, the seed aside).
    """
    runs = list(runs)
    table = runs_table(runs)
    extra, configs = [], []
    for run in runs:
        config = run.config
        tags, note = _annotations(run)
        ended = run.ended
        extra.append(
            {
                "knobs": _knobs(config),
                "recipe": config.get("recipe"),
                "max_epochs": config.get("epochs"),
                "duration_s": (ended - run.created).total_seconds() if ended else math.nan,
                "tags": tags,
                "note": note,
            }
        )
        configs.append({k: v for k, v in shown_config(config, paths).items() if k not in _SHOWN})
    extra_frame = pd.DataFrame(extra, index=table.index, columns=[c for c in BROWSE_COLUMNS if c not in table])
    metrics = [c for c in table.columns if c not in BROWSE_COLUMNS]
    frame = pd.concat([table, extra_frame], axis=1)[[*BROWSE_COLUMNS, *metrics]]
    config_frame = pd.DataFrame(configs, index=table.index)
    config_frame = config_frame[[c for c in config_frame.columns if c not in frame.columns]]
    for column in config_frame.columns:  # lists and dicts as text, so that every column can be compared and grouped
        if config_frame[column].map(lambda v: isinstance(v, list | dict)).any():
            config_frame[column] = config_frame[column].map(lambda v: v if v is None else value_text(v))
    frame = pd.concat([frame, config_frame], axis=1)
    return frame.astype({"max_epochs": "Int64", "duration_s": float})


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def _compare(column: pd.Series, op: str, text: str) -> pd.Series:
    """Rows of ``column`` that satisfy ``op text``: numbers as numbers, times as times, text with ``*`` wildcards."""
    if column.name == "tags" and op in ("=", "!="):
        hit = column.fillna("").map(lambda tags: any(fnmatch.fnmatchcase(t, text) for t in tags.split(",") if t))
        return hit if op == "=" else ~hit
    timed = pd.api.types.is_datetime64_any_dtype(column)
    if not timed and (pd.api.types.is_bool_dtype(column) or not pd.api.types.is_numeric_dtype(column)):
        if op not in ("=", "!="):
            raise MsmixError(f"{column.name} holds text: compare it with = or != (wildcards: *), not {op}")
        hit = column.map(lambda v: not _missing(v) and fnmatch.fnmatchcase(value_text(v), text))
        return hit if op == "=" else ~hit
    try:
        value: Any = pd.Timestamp(text) if timed else float(text)
        if timed and value.tzinfo is None:
            value = value.tz_localize("UTC")
    except ValueError:
        kind = "times (e.g. 2026-12-06 or 2026-12-06T19:30)" if timed else "numbers"
        raise MsmixError(f"{column.name} holds {kind}: {text!r} is not one") from None
    result = {"=": column == value, "!=": column != value, "<": column < value}
    result |= {"<=": column <= value, ">": column > value, ">=": column >= value}
    return result[op].fillna(op == "!=").astype(bool)


def _cell_text(column: pd.Series) -> pd.Series:
    """A column's cells as the tables print them (numbers as :func:`value_text` does: 0.61 finds a MAE of 0.61),
    empty where missing; numbers are formatted by numpy, not one by one."""
    if pd.api.types.is_float_dtype(column) or pd.api.types.is_integer_dtype(column):
        present = column.notna().to_numpy()
        text = np.full(len(column), "", dtype=object)
        if present.any():
            text[present] = np.char.mod("%g", column.to_numpy()[present].astype(float))
        return pd.Series(text, index=column.index)
    if pd.api.types.is_string_dtype(column) and not pd.api.types.is_object_dtype(column):
        return column.fillna("").astype(str)
    return column.map(lambda v: "" if _missing(v) else value_text(v)).astype(str)


def parse_condition(condition: str) -> tuple[str, str, str]:
    """``KEY=VALUE`` (or ``!=``, ``<``, ``<=``, ``>``, ``>=``) as ``(key, operator, value)``."""
    match = _CONDITION.match(condition)
    if not match:
        raise MsmixError(f"{condition!r} is not a condition: write KEY=VALUE, e.g. label=msmix or test_MAE<0.9")
    return match.group(1), match.group(2), match.group(3)


def parse_conditions(text: str) -> list[str]:
    """Conditions written on one line, separated by ``;`` (the Runs page's Where box)."""
    return [part.strip() for part in text.split(";") if part.strip()]


def filter_table(frame: pd.DataFrame, where: Sequence[str] = (), search: str = "") -> pd.DataFrame:
    """The rows of a :func:`browse_table` that meet every ``where`` condition and contain ``search``.

    A condition is ``KEY=VALUE`` on any column (``*`` is a wildcard in text; ``tags=best`` holds
    for a run tagged ``best``), or ``!=``, ``<``, ``<=``, ``>``, ``>=`` on numbers and times.
    ``search`` is looked for, case-insensitively, in every cell of the run's row as the tables print it.
    """
    keep = pd.Series(True, index=frame.index)
    for condition in where:
        key, op, text = parse_condition(condition)
        if key not in frame.columns:
            raise MsmixError(f"no column {key!r} to filter on: use one of {', '.join(map(str, frame.columns))}")
        keep &= _compare(frame[key], op, text)
    if search.strip():
        haystack = pd.Series("", index=frame.index)
        for name in frame.columns:
            haystack += " " + _cell_text(frame[name])
        keep &= haystack.str.lower().str.contains(search.strip().lower(), regex=False)
    return frame[keep]


def sort_table(frame: pd.DataFrame, column: str, descending: bool = False) -> pd.DataFrame:
    """``frame`` ordered by ``column`` (empty cells last); a column of mixed numbers and text is ordered as text."""
    try:
        return frame.sort_values(column, ascending=not descending, kind="stable", na_position="last")
    except TypeError:  # a config field that is a number in some runs and text in others
        missing = frame[column].map(_missing)
        text = frame[~missing].sort_values(column, ascending=not descending, kind="stable", key=lambda v: v.map(str))
        return pd.concat([text, frame[missing]])


def group_table(
    frame: pd.DataFrame, by: Sequence[str] = ("experiment",), metrics: Sequence[str] | None = None
) -> pd.DataFrame:
    """Mean ± std over seeds of the finished runs of each group (``experiment``: runs trained alike but for the seed).

    One row per group: the grouping columns (for ``experiment``, :data:`EXPERIMENT_COLUMNS` taken
    from the group's newest run), ``n_seeds`` and a ``mean ± std`` text per test metric (as
    :func:`~msmix_core.runs.format_table`). A seed run twice in a group counts once, with its newest run.
    """
    by = list(dict.fromkeys(by))
    missing = [column for column in by if column not in frame.columns]
    if not by or missing:
        raise MsmixError(f"cannot group by {missing or by}: use columns of the table, e.g. experiment, label, backbone")
    shown = list(dict.fromkeys([c for c in EXPERIMENT_COLUMNS if "experiment" in by and c not in by] + by))
    if frame.empty or not any(column.startswith("test_") for column in frame.columns):
        return pd.DataFrame(columns=[*shown, "n_seeds"])
    table = frame.astype({column: object for column in by}).fillna({column: "" for column in by})
    grouped = format_table(compare_runs(table, baseline=None, metrics=metrics, by=by))
    if "experiment" not in by:
        return grouped
    described = table.drop_duplicates("experiment")[[c for c in shown if c not in by] + ["experiment"]]
    return grouped.merge(described, on="experiment", how="left")[[*shown, *grouped.columns[len(by) :]]]


def config_diff(runs: Sequence[Run], paths: bool = False) -> pd.DataFrame:
    """Two or more runs side by side: one row per config field (plus status, epochs and test metrics), one
    column per run id holding the value as text, and ``differs`` (not the same in every run). The fields
    are :func:`shown_config`'s: server paths only with ``paths``."""
    if len(runs) < 2:
        raise MsmixError(f"a diff needs two runs or more, got {len(runs)}")
    table = browse_table(runs).set_index("id")
    columns: dict[str, dict[str, str]] = {}
    for run in runs:
        row = table.loc[run.id]
        fields = {"status": row["status"], "experiment": row["experiment"], "epochs trained": row["epochs"]}
        fields |= {"tags": row["tags"], "note": row["note"]}
        fields |= dict(sorted((k, v) for k, v in shown_config(run.config, paths).items() if k != EXPERIMENT_KEY_FIELD))
        fields |= {f"test.{metric}": value for metric, value in sorted(run.metrics.get("test", {}).items())}
        columns[run.id] = {field: value_text(value) for field, value in fields.items()}
    if len(columns) < len(runs):
        raise MsmixError("the same run is given twice: give distinct run ids")
    frame = pd.DataFrame(columns).fillna(ABSENT)
    frame.index.name = "field"
    frame["differs"] = frame.nunique(axis=1) > 1
    return frame


def knob_frame(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The config fields that vary over the finished runs of ``frame`` (a :func:`browse_table`), and ``metric``.

    One row per run with ``metric``; the columns are the varying knobs (method and backbone knobs,
    training fields such as ``lr`` or ``max_epochs``), then ``metric``. What a sweep or a study changed.
    """
    if metric not in frame.columns:
        raise MsmixError(f"no metric {metric!r} in the runs: choose a test_ or valid_ column")
    rows = frame[(frame["status"] == RunStatus.FINISHED) & frame[metric].notna()]
    fixed = {*BROWSE_COLUMNS, *(c for c in frame.columns if c.startswith(("test_", "valid_")))} - {"max_epochs"}
    candidates = [c for c in frame.columns if c not in fixed and not c.startswith(_NOT_KNOBS)]
    varying = [c for c in candidates if rows[c].map(value_text).nunique() > 1]
    return rows[[*varying, metric]].reset_index(drop=True)
