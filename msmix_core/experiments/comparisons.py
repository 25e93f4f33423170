"""Which stored runs the Ablation and Robustness pages set against each other, and their scores over seeds.

Both pick a set of like runs with :func:`~msmix_core.runs.comparable_sets`: an ablation's variants
differ in MS-Mix's switches alone (:data:`~msmix_core.experiments.ablation.ABLATION_FACTOR`), the
methods of a robustness comparison in their method and its knobs alone. The robustness scores of
every seed's model are then averaged per method (:func:`seed_means`) and paired seed by seed with
the reference method's (:func:`seed_differences`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import pandas as pd

from msmix_core.data.schema import MSADataset
from msmix_core.experiments.ablation import ABLATION_FACTOR, FULL_LABEL, ablation_variant
from msmix_core.experiments.reports import fits
from msmix_core.metrics import is_percent_metric
from msmix_core.runs import ComparisonSet, Run, comparable_sets, mean_interval

#: The methods the Robustness page sets against each other by default, and the one they are measured from.
ROBUSTNESS_METHODS: tuple[str, ...] = ("msmix", "mixup", "none")
ROBUSTNESS_REFERENCE = "none"

#: The columns that name one robustness condition in :func:`~msmix_core.experiments.reports.robustness_table`.
CONDITION_COLUMNS: tuple[str, ...] = ("condition", "modality", "level")


def ablation_sets(runs: Iterable[Run], dataset: str, backbone: str) -> list[ComparisonSet]:
    """MS-Mix runs of ``dataset`` and ``backbone`` as ablation sets (variants named by their switches), best first."""
    mine = [r for r in runs if r.config.get("dataset") == dataset and r.config.get("backbone") == backbone]
    mine = [r for r in mine if r.config.get("method") == FULL_LABEL]
    return comparable_sets(mine, ABLATION_FACTOR, reference=FULL_LABEL, name=lambda run: ablation_variant(run.config))


def method_sets(
    runs: Iterable[Run],
    dataset: MSADataset,
    backbone: str,
    wanted: Sequence[str] = ROBUSTNESS_METHODS,
    reference: str = ROBUSTNESS_REFERENCE,
) -> list[ComparisonSet]:
    """Finished runs with weights that ``dataset`` can score, as sets of methods trained alike, best first."""
    usable = [run for run in runs if run.config.get("backbone") == backbone and fits(run, dataset)]
    return comparable_sets(usable, ["method"], reference=reference, wanted=wanted)


def _scale(metric: str) -> tuple[float, int]:
    return (100.0, 2) if is_percent_metric(metric) else (1.0, 4)


def seed_means(scores: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """Per method and condition: ``n_seeds`` and each metric as ``"mean ± std"`` over seeds (accuracies ×100).

    ``scores`` holds one row per (label, seed, condition); the std is MMSA's population std. A method's
    ``experiment`` key (when ``scores`` has the column) follows its label.
    """
    keys = ["label", *(["experiment"] if "experiment" in scores.columns else []), *CONDITION_COLUMNS]
    rows = []
    for key, group in scores.groupby(keys, sort=False, dropna=False):
        row = dict(zip(keys, key, strict=True)) | {"n_seeds": group["seed"].nunique()}
        for metric in metrics:
            scale, decimals = _scale(metric)
            values = group[metric].dropna() * scale
            row[metric] = f"{values.mean():.{decimals}f} ± {values.std(ddof=0):.{decimals}f}" if len(values) else ""
        rows.append(row)
    return pd.DataFrame(rows, columns=[*keys, "n_seeds", *metrics])


def seed_differences(scores: pd.DataFrame, reference: str, metric: str) -> pd.DataFrame:
    """Each method's difference from ``reference`` under each condition, paired seed by seed.

    Columns: ``label``, the condition columns, ``n_paired``, ``delta`` (the mean difference, method
    minus reference; accuracies ×100) and ``ci_low``/``ci_high`` (its 95 % t-interval; NaN below two
    shared seeds). Methods without a shared seed are left out.
    """
    keys, scale = [*CONDITION_COLUMNS, "seed"], _scale(metric)[0]
    base = scores[scores["label"] == reference][[*keys, metric]].rename(columns={metric: "reference"})
    paired = scores[scores["label"] != reference].merge(base, on=keys, how="inner")
    paired["difference"] = (paired[metric] - paired["reference"]) * scale
    rows = []
    for key, group in paired.groupby(["label", *CONDITION_COLUMNS], sort=False, dropna=False):
        differences = group["difference"].dropna().to_numpy()
        mean, low, high = mean_interval(differences) if len(differences) else (math.nan,) * 3
        rows.append(dict(zip(["label", *CONDITION_COLUMNS], key, strict=True)) | {"n_paired": len(differences)})
        rows[-1] |= {"delta": mean, "ci_low": low, "ci_high": high}
    return pd.DataFrame(rows, columns=["label", *CONDITION_COLUMNS, "n_paired", "delta", "ci_low", "ci_high"])
