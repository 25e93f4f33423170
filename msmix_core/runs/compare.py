"""Tables over stored runs: one row per run, and mean ± std over seeds with paired tests.

:func:`compare_runs` turns :func:`runs_table` into the numbers papers print: mean ± std over seeds
in MMSA's style and a paired test against a baseline method on the seeds both share.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from msmix_core.errors import MsmixError
from msmix_core.metrics import METRIC_KEYS, higher_is_better, is_percent_metric
from msmix_core.runs.status import RunStatus

if TYPE_CHECKING:
    from msmix_core.runs.store import Run

#: The columns :func:`runs_table` always has, before the ``test_*`` and ``valid_*`` metric columns.
TABLE_COLUMNS: tuple[str, ...] = (
    "id",
    "status",
    "dataset",
    "backbone",
    "method",
    "label",
    "experiment",
    "seed",
    "epochs",
    "best_epoch",
    "created",
)

#: Tests need at least this many seeds shared with the baseline (a t-test on two pairs has one
#: degree of freedom: it calls 0.0006 MAE "significant" when the two seeds happen to agree); the
#: Wilcoxon test needs more.
MIN_PAIRED_SEEDS = 3
#: Below 6 pairs the two-sided exact Wilcoxon test cannot reach p < 0.05 (its smallest p is 2/2^n).
MIN_WILCOXON_SEEDS = 6

# Table order across families: MMSA's accuracies and F1 scores first, then MAE and Corr.
_METRIC_ORDER = [
    key for key in dict.fromkeys(k for keys in METRIC_KEYS.values() for k in keys) if key not in ("MAE", "Corr")
]
_METRIC_ORDER += ["MAE", "Corr"]


def _metric_rank(key: str) -> tuple[int, str]:
    return (_METRIC_ORDER.index(key) if key in _METRIC_ORDER else len(_METRIC_ORDER), key)


def runs_table(runs: Iterable[Run]) -> pd.DataFrame:
    """A tidy table, one row per run: :data:`TABLE_COLUMNS`, then ``test_<metric>`` and ``valid_<metric>``.

    ``experiment`` is the run's experiment key (:mod:`msmix_core.runs.identity`: runs that share it
    differ in their seed alone); ``epochs`` counts the epochs the run logged; ``created`` is a UTC
    timestamp; a metric a run does not have (another dataset family, a run that failed) is NaN.
    """
    rows, keys = [], {"test": {}, "valid": {}}
    for run in runs:
        config, metrics = run.config, run.metrics
        row = {column: config.get(column) for column in ("dataset", "backbone", "method", "seed")}
        row |= {"id": run.id, "status": run.status.value, "label": config.get("label", config["method"])}
        row["experiment"] = run.experiment_key
        row |= {"epochs": run.epochs, "best_epoch": run.best_epoch, "created": run.created}
        for split, seen in keys.items():
            for key, value in metrics.get(split, {}).items():
                row[f"{split}_{key}"] = value
                seen[key] = None
        rows.append(row)
    metric_columns = [f"{split}_{key}" for split, seen in keys.items() for key in sorted(seen, key=_metric_rank)]
    frame = pd.DataFrame(rows, columns=[*TABLE_COLUMNS, *metric_columns])
    frame = frame.astype({"seed": "Int64", "epochs": "Int64", "best_epoch": "Int64"})
    frame[metric_columns] = frame[metric_columns].astype(float)
    frame["created"] = pd.to_datetime(frame["created"], utc=True)
    return frame


#: The columns of :func:`compare_runs` after the grouping columns.
COMPARE_COLUMNS: tuple[str, ...] = (
    "metric",
    "n_seeds",
    "mean",
    "std",
    "baseline",
    "n_paired",
    "delta",
    "ci_low",
    "ci_high",
    "better",
    "p_value",
    "p_wilcoxon",
    "significant",
    "note",
)


def _display_scale(metric: str) -> tuple[float, int]:
    """Papers' scale and decimals: accuracies and F1 ×100 with 2 decimals, MAE and Corr as is with 4."""
    return (100.0, 2) if is_percent_metric(metric) else (1.0, 4)


def mean_interval(values: Sequence[float] | np.ndarray) -> tuple[float, float, float]:
    """The mean of ``values`` and its two-sided 95 % Student-t interval (NaN bounds below two values)."""
    from scipy import stats

    values = np.asarray(values, dtype=float)
    mean = float(values.mean()) if values.size else math.nan
    if values.size < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(0.975, values.size - 1) * values.std(ddof=1) / math.sqrt(values.size))
    return mean, mean - half, mean + half


def _paired_test(x: pd.Series, base: pd.Series, metric: str, alpha: float) -> dict[str, Any]:
    """Paired comparison of a group's per-seed values with the baseline's on the seeds both have."""
    x, base = x.align(base, join="inner")
    diff = (x - base).to_numpy(dtype=float)
    out = {"n_paired": len(diff)}
    if len(diff) < MIN_PAIRED_SEEDS:
        return out | {"note": f"fewer than {MIN_PAIRED_SEEDS} seeds shared with the baseline; train more seeds"}
    from scipy import stats  # here, not at the top: it is a second of every training process's start-up

    scale, decimals = _display_scale(metric)
    gain = diff.mean() if higher_is_better(metric) else -diff.mean()
    mean, low, high = (round(value * scale, decimals) for value in mean_interval(diff))
    out |= {"delta": mean, "ci_low": low, "ci_high": high, "better": bool(gain > 0)}
    if np.all(diff == 0):
        return out | {"p_value": 1.0, "p_wilcoxon": 1.0, "significant": False, "note": "identical on every seed"}

    with warnings.catch_warnings():
        # A constant non-zero difference gives t = ±inf and p = 0; scipy warns about its precision.
        warnings.simplefilter("ignore", RuntimeWarning)
        p_value = float(stats.ttest_rel(x.to_numpy(dtype=float), base.to_numpy(dtype=float)).pvalue)
        if len(diff) >= MIN_WILCOXON_SEEDS:
            out["p_wilcoxon"] = float(stats.wilcoxon(diff).pvalue)
    return out | {"p_value": p_value, "significant": p_value < alpha}


def compare_runs(
    table: pd.DataFrame,
    baseline: str | None = "none",
    metrics: Sequence[str] | None = None,
    split: str = "test",
    by: Sequence[str] = ("dataset", "backbone", "label"),
    *,
    alpha: float = 0.05,
    ddof: int = 0,
    statuses: Sequence[str] | None = (RunStatus.FINISHED,),
) -> pd.DataFrame:
    """Mean ± std over seeds per group and metric, and a paired test of each group against its baseline.

    Runs (rows of :func:`runs_table`) with a status in ``statuses`` (None: all) are grouped by
    ``by``; the last column of ``by`` names the compared variant and ``baseline`` is one of its
    values (None: no tests). Each group is paired with the baseline group that shares the other
    ``by`` values, seed by seed. A seed run twice in a group counts once, with its newest run; a group
    whose runs are of several experiments (``experiment`` column) is refused: choose one set of like
    runs first (:func:`~msmix_core.runs.comparable_sets`).

    Returns a long table, one row per (group, metric): the ``by`` columns, the group's ``experiment``
    key (when the table has one), then :data:`COMPARE_COLUMNS`: ``n_seeds``, ``mean``, ``std``
    (``ddof=0`` like MMSA's ``np.std``), ``baseline``, ``n_paired``, ``delta`` (mean paired
    difference, group minus baseline), ``ci_low`` and ``ci_high`` (its 95 % t-interval over the
    paired seeds), ``better`` (delta points the metric's good way), ``p_value`` (two-sided
    ``scipy.stats.ttest_rel``), ``p_wilcoxon`` (``scipy.stats.wilcoxon``, from 6 pairs on),
    ``significant`` (``p_value < alpha``) and ``note``. Accuracies and F1 are ×100 with 2
    decimals, MAE and Corr as they are with 4 decimals, as papers print them.
    """
    by = list(by)
    prefix = f"{split}_"
    available = [column[len(prefix) :] for column in table.columns if column.startswith(prefix)]
    metrics = available if metrics is None else list(metrics)
    unknown = [m for m in metrics if m not in available]
    if unknown:
        raise MsmixError(f"no {split} metric {unknown} in the table: choose from {available}")
    groups = _groups(table, by, statuses)
    keyed = ["experiment"] if "experiment" in table.columns and "experiment" not in by else []

    records = []
    for key, group in groups.items():
        base_key = (*key[:-1], baseline)
        for metric in metrics:
            values = group[prefix + metric].dropna()
            if values.empty:
                continue
            scale, decimals = _display_scale(metric)
            std = values.std(ddof=ddof) if len(values) > ddof else math.nan
            record = dict(zip(by, key, strict=True)) | {column: group[column].iloc[0] for column in keyed}
            record |= {"metric": metric, "n_seeds": len(values), "baseline": baseline}
            record |= {"mean": round(values.mean() * scale, decimals), "std": round(std * scale, decimals)}
            if baseline is None:
                record["note"] = "no baseline chosen"
            elif key[-1] == baseline:
                record["note"] = "baseline"
            elif base_key not in groups:
                record["note"] = f"no {baseline!r} runs with the same {', '.join(by[:-1]) or 'grouping'}"
            else:
                record |= _paired_test(values, groups[base_key][prefix + metric].dropna(), metric, alpha)
            records.append(record)
    frame = pd.DataFrame(records, columns=[*by, *keyed, *COMPARE_COLUMNS])
    frame = frame.fillna({"n_paired": 0, "note": ""})
    return frame.astype({"n_seeds": int, "n_paired": int, "better": "boolean", "significant": "boolean"})


def _groups(table: pd.DataFrame, by: list[str], statuses: Sequence[str] | None) -> dict[tuple, pd.DataFrame]:
    """The table's rows per ``by`` group, indexed by seed (a seed run twice counts once, with its newest run).

    A group that holds runs of several experiments (the table's ``experiment`` keys) is refused: its
    runs differ in more than the seed, and the newest of them is not a newer version of the others.
    """
    missing = [column for column in [*by, "seed"] if column not in table.columns]
    if not by or missing:
        raise MsmixError(f"cannot group runs by {by}: the table lacks {missing or 'a grouping column'}")
    rows = table if statuses is None or "status" not in table.columns else table[table["status"].isin(statuses)]
    if "experiment" in rows.columns:
        keys = rows.groupby(by, sort=True, dropna=False)["experiment"].unique()
        mixed = keys[keys.map(len) > 1]
        if not mixed.empty:
            group, found = mixed.index[0], list(mixed.iloc[0])
            value = group[-1] if isinstance(group, tuple) else group
            value = value.item() if isinstance(value, np.generic) else value  # 2, not np.int64(2)
            raise MsmixError(
                f"{by[-1]} {value!r} holds runs of {len(found)} "
                f"experiments ({', '.join(map(str, found))}) trained differently: group by experiment too, or "
                "compare one set of like runs (msmix_core.runs.comparable_sets)"
            )
    if "created" in rows.columns:
        rows = rows.sort_values("created", kind="stable")
    rows = rows.drop_duplicates([*by, "seed"], keep="last")
    return {key: group.set_index("seed") for key, group in rows.groupby(by, sort=True, dropna=False)}


def paired_differences(
    table: pd.DataFrame,
    baseline: str,
    metric: str,
    split: str = "test",
    by: Sequence[str] = ("dataset", "backbone", "label"),
    *,
    statuses: Sequence[str] | None = (RunStatus.FINISHED,),
) -> pd.DataFrame:
    """Each group's per-seed difference from its baseline on ``metric``, on the seeds both have.

    The points behind :func:`compare_runs`' ``delta`` (same pairing, same scale: accuracies ×100):
    the ``by`` columns, ``seed`` and ``difference`` (group minus baseline).
    """
    by, column = list(by), f"{split}_{metric}"
    if column not in table.columns:
        raise MsmixError(f"no {split} metric {metric!r} in the table")
    groups, scale = _groups(table, by, statuses), _display_scale(metric)[0]
    rows = []
    for key, group in groups.items():
        base = groups.get((*key[:-1], baseline))
        if key[-1] == baseline or base is None:
            continue
        x, y = group[column].dropna().align(base[column].dropna(), join="inner")
        for seed, difference in (x - y).items():
            rows.append(dict(zip(by, key, strict=True)) | {"seed": seed, "difference": difference * scale})
    return pd.DataFrame(rows, columns=[*by, "seed", "difference"])


def _cell(row: pd.Series) -> str:
    decimals = 2 if is_percent_metric(row["metric"]) else 4
    text = f"{row['mean']:.{decimals}f}"
    if not math.isnan(row["std"]):
        text += f" ± {row['std']:.{decimals}f}"
    if pd.notna(row["significant"]) and row["significant"]:
        text += " *" if row["better"] else " †"
    return text


def format_table(compared: pd.DataFrame, p_values: bool = False) -> pd.DataFrame:
    """One row per group, one ``"mean ± std"`` string column per metric, for display and export.

    ``*`` marks a significant gain over the baseline and ``†`` a significant loss (p < alpha of
    :func:`compare_runs`). With ``p_values``, a ``<metric> p`` column follows each metric. The
    result holds strings and integers only, ready for ``to_csv`` or :func:`to_markdown`.
    """
    by = [column for column in compared.columns if column not in COMPARE_COLUMNS]
    if compared.empty:
        return pd.DataFrame(columns=[*by, "n_seeds"])
    metrics = list(dict.fromkeys(compared["metric"]))
    rows = []
    for key, group in compared.groupby(by, sort=False, dropna=False):
        row = dict(zip(by, key, strict=True)) | {"n_seeds": int(group["n_seeds"].max())}
        for _, entry in group.iterrows():
            row[entry["metric"]] = _cell(entry)
            if p_values:
                row[f"{entry['metric']} p"] = "" if math.isnan(entry["p_value"]) else f"{entry['p_value']:.3g}"
        rows.append(row)
    columns = [*by, "n_seeds", *(c for m in metrics for c in ([m, f"{m} p"] if p_values else [m]))]
    return pd.DataFrame(rows, columns=columns).fillna("")


def to_markdown(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table of ``frame`` (no ``tabulate`` needed); ``|`` in cells is escaped."""

    def cell(value: Any) -> str:
        return "" if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)) else str(value)

    def line(values: Iterable[Any]) -> str:
        return "| " + " | ".join(cell(v).replace("|", r"\|") for v in values) + " |"

    lines = [line(frame.columns), "|" + "---|" * len(frame.columns)]
    lines += [line(row) for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"
