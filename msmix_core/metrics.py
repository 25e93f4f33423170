"""MMSA's regression metrics, with MMSA's key names, so numbers compare with published tables.

This re-implements ``MetricsTop`` of thuiar/MMSA (``src/MMSA/utils/metricsTop.py``,
``__eval_mosei_regression`` and ``__eval_sims_regression``) value for value:

- MOSI/MOSEI: ``Has0`` splits negative (``< 0``) from non-negative (``>= 0``) over all samples;
  ``Non0`` drops samples whose true label is exactly 0 and splits at ``> 0``; F1 is weighted F1;
  ``Mult_acc_5``/``Mult_acc_7`` clip predictions and labels to [-2, 2]/[-3, 3] and compare
  ``numpy.round`` (round half to even); ``MAE`` uses the unclipped values; ``Corr`` is Pearson's r.
- SIMS: both vectors are clipped to [-1, 1] first, then binned with left-open, right-closed bins;
  ``F1_score`` is the weighted F1 of the 2-class bins; ``MAE`` and ``Corr`` use the clipped values.

Every value is rounded to 4 decimals the way MMSA does (``numpy.round``). Where MMSA crashes or
returns NaN, this module returns a documented number instead: ``Corr`` is 0.0 when either vector
is constant (or has a single sample), and both ``Non0`` scores are 0.0 when every true label is
exactly 0. Bin edges and thresholds are compared in the inputs' own float precision, as MMSA's
numpy comparisons against Python floats are, so a float32 label of 0.1 falls in the same SIMS bin.
"""

from __future__ import annotations

import sys

import numpy as np

from msmix_core.errors import MsmixError

#: MMSA's metric keys per dataset family, in MMSA's order.
METRIC_KEYS: dict[str, tuple[str, ...]] = {
    "mosi": ("Has0_acc_2", "Has0_F1_score", "Non0_acc_2", "Non0_F1_score", "Mult_acc_5", "Mult_acc_7", "MAE", "Corr"),
    "mosei": ("Has0_acc_2", "Has0_F1_score", "Non0_acc_2", "Non0_F1_score", "Mult_acc_5", "Mult_acc_7", "MAE", "Corr"),
    "sims": ("Mult_acc_2", "Mult_acc_3", "Mult_acc_5", "F1_score", "MAE", "Corr"),
}

#: The headline metric of each family: papers' "Acc-2" on MOSI/MOSEI is the Non0 accuracy.
PRIMARY_METRICS: dict[str, str] = {"mosi": "Non0_acc_2", "mosei": "Non0_acc_2", "sims": "Mult_acc_2"}

#: Metrics where a smaller value is better; every other MMSA metric is better when larger.
LOWER_IS_BETTER: frozenset[str] = frozenset({"MAE"})

#: Metrics that papers print as percentages (×100, 2 decimals); MAE and Corr are printed as they are.
PERCENT_METRICS: frozenset[str] = frozenset(k for keys in METRIC_KEYS.values() for k in keys) - {"MAE", "Corr"}

#: Interior edges of CH-SIMS's left-open, right-closed bins (MMSA's outer edges are ±1.01).
SIMS_BIN_EDGES: dict[int, tuple[float, ...]] = {2: (0.0,), 3: (-0.1, 0.1), 5: (-0.7, -0.1, 0.1, 0.7)}


def _bare_name(metric: str) -> str:
    """``"test_MAE"`` and ``"valid_MAE"`` name the metric ``"MAE"``."""
    for prefix in ("test_", "valid_", "train_"):
        if metric.startswith(prefix):
            return metric[len(prefix) :]
    return metric


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of ``metric`` (bare or ``test_``/``valid_``-prefixed) is better."""
    return _bare_name(metric) not in LOWER_IS_BETTER


def is_percent_metric(metric: str) -> bool:
    """Whether papers report ``metric`` (bare or prefixed) ×100 with 2 decimals."""
    return _bare_name(metric) in PERCENT_METRICS


def _as_vector(values, name: str) -> np.ndarray:
    """A float numpy vector from a numpy array, list or torch tensor (any device) of shape [N] or [N, 1]."""
    torch = sys.modules.get("torch")  # a tensor exists only once torch is imported; the run browser never imports it
    if torch is not None and isinstance(values, torch.Tensor):
        values = values.detach().cpu()
        values = (values.float() if values.dtype in (torch.float16, torch.bfloat16) else values).numpy()
    array = np.asarray(values)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise MsmixError(f"{name} must have shape [N] or [N, 1], got {array.shape}")
    if not np.issubdtype(array.dtype, np.floating):
        if not np.issubdtype(array.dtype, np.number):
            raise MsmixError(f"{name} must hold numbers, got dtype {array.dtype}")
        array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise MsmixError(
            f"{name} holds NaN or infinite values at index {int(np.flatnonzero(~np.isfinite(array))[0])}: "
            "a model that diverged cannot be scored; lower the learning rate or clip gradients"
        )
    return array


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson's r, defined as 0.0 when either vector is constant (numpy would warn and return NaN)."""
    if x.size < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0
    x = x.astype(np.float64) - x.astype(np.float64).mean()
    y = y.astype(np.float64) - y.astype(np.float64).mean()
    return float(np.clip((x @ y) / np.sqrt((x @ x) * (y @ y)), -1.0, 1.0))


def _binary_scores(pred: np.ndarray, true: np.ndarray) -> tuple[float, float]:
    """Accuracy and weighted F1 of two boolean vectors; (0.0, 0.0) when there are no samples."""
    if true.size == 0:
        return 0.0, 0.0
    # sklearn's f1_score(average="weighted", zero_division=0), in numpy: its argument checks cost more
    # than the scores when a page scores a model under dozens of conditions, and importing sklearn
    # is over a second of every training process's start-up (the tests compare with sklearn).
    pred, true = pred.astype(bool), true.astype(bool)
    f1 = 0.0
    for cls in (False, True):
        tp = np.count_nonzero(pred & true) if cls else np.count_nonzero(~pred & ~true)
        support = np.count_nonzero(true == cls)
        predicted = np.count_nonzero(pred == cls)
        if support + predicted:
            f1 += support / true.size * (2 * tp / (support + predicted))
    return float(np.mean(pred == true)), float(f1)


def _rounded_accuracy(pred: np.ndarray, true: np.ndarray) -> float:
    """MMSA's ``__multiclass_acc``: share of samples whose rounded values match (round half to even)."""
    return float(np.mean(np.round(pred) == np.round(true)))


def _mosi_metrics(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    zero = true.dtype.type(0)
    has0_acc, has0_f1 = _binary_scores(pred >= zero, true >= zero)
    nonzero = true != zero
    non0_acc, non0_f1 = _binary_scores(pred[nonzero] > zero, true[nonzero] > zero)
    return {
        "Has0_acc_2": has0_acc,
        "Has0_F1_score": has0_f1,
        "Non0_acc_2": non0_acc,
        "Non0_F1_score": non0_f1,
        "Mult_acc_5": _rounded_accuracy(np.clip(pred, -2.0, 2.0), np.clip(true, -2.0, 2.0)),
        "Mult_acc_7": _rounded_accuracy(np.clip(pred, -3.0, 3.0), np.clip(true, -3.0, 3.0)),
        "MAE": float(np.mean(np.abs(pred.astype(np.float64) - true.astype(np.float64)))),
        "Corr": _pearson(pred, true),
    }


def _sims_bins(values: np.ndarray, classes: int) -> np.ndarray:
    """Class index of each value: the number of interior edges strictly below it (right-closed bins)."""
    edges = np.asarray(SIMS_BIN_EDGES[classes], dtype=values.dtype)
    return np.searchsorted(edges, values, side="left")


def _sims_metrics(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    pred, true = np.clip(pred, -1.0, 1.0), np.clip(true, -1.0, 1.0)
    bins = {c: (_sims_bins(pred, c), _sims_bins(true, c)) for c in SIMS_BIN_EDGES}
    _, f1 = _binary_scores(bins[2][0] == 1, bins[2][1] == 1)
    return {
        "Mult_acc_2": float(np.mean(bins[2][0] == bins[2][1])),
        "Mult_acc_3": float(np.mean(bins[3][0] == bins[3][1])),
        "Mult_acc_5": float(np.mean(bins[5][0] == bins[5][1])),
        "F1_score": f1,
        "MAE": float(np.mean(np.abs(pred.astype(np.float64) - true.astype(np.float64)))),
        "Corr": _pearson(pred, true),
    }


def mmsa_metrics(y_pred, y_true, dataset: str = "mosi") -> dict[str, float]:
    """MMSA's regression metrics of ``y_pred`` against ``y_true`` (see the module docstring).

    ``y_pred`` and ``y_true`` are numpy arrays, lists or torch tensors on any device, of shape
    ``[N]`` or ``[N, 1]``. ``dataset`` is the metric family: ``"mosi"``, ``"mosei"`` or ``"sims"``
    (case-insensitive). Returns a dict with the keys ``METRIC_KEYS[dataset]``, in that order, as
    Python floats rounded to 4 decimals.
    """
    family = str(dataset).lower()
    if family not in METRIC_KEYS:
        raise MsmixError(f"unknown metrics dataset {dataset!r}: use one of {sorted(METRIC_KEYS)}")
    pred, true = _as_vector(y_pred, "y_pred"), _as_vector(y_true, "y_true")
    if pred.shape != true.shape:
        raise MsmixError(
            f"y_pred has {pred.shape[0]} values but y_true has {true.shape[0]}: pass one prediction per label"
        )
    if true.size == 0:
        raise MsmixError("no samples to score: y_pred and y_true are empty")
    dtype = np.result_type(pred.dtype, true.dtype)
    pred, true = pred.astype(dtype, copy=False), true.astype(dtype, copy=False)
    scores = _sims_metrics(pred, true) if family == "sims" else _mosi_metrics(pred, true)
    return {key: float(np.round(np.float64(scores[key]), 4)) for key in METRIC_KEYS[family]}
