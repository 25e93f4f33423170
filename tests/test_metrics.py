"""MMSA's regression metrics: hand-computed cases, edge cases, and a loop-for-loop MMSA reference."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, f1_score

from msmix_core.errors import MsmixError
from msmix_core.metrics import (
    METRIC_KEYS,
    PRIMARY_METRICS,
    higher_is_better,
    is_percent_metric,
    mmsa_metrics,
)


def mmsa_reference(pred: np.ndarray, true: np.ndarray, dataset: str) -> dict[str, float]:
    """MMSA's ``metricsTop`` transcribed literally (loops and all), for inputs where it does not crash."""
    if dataset == "sims":
        pred, true = np.clip(pred, -1.0, 1.0), np.clip(true, -1.0, 1.0)
        out = {}
        for name, edges in (
            ("Mult_acc_2", [-1.01, 0.0, 1.01]),
            ("Mult_acc_3", [-1.01, -0.1, 0.1, 1.01]),
            ("Mult_acc_5", [-1.01, -0.7, -0.1, 0.1, 0.7, 1.01]),
        ):
            p, t = pred.copy(), true.copy()
            for i in range(len(edges) - 1):
                p[np.logical_and(pred > edges[i], pred <= edges[i + 1])] = i
                t[np.logical_and(true > edges[i], true <= edges[i + 1])] = i
            out[name] = np.sum(np.round(p) == np.round(t)) / float(len(t))
            if name == "Mult_acc_2":
                out["F1_score"] = f1_score(t, p, average="weighted")
        out["MAE"] = np.mean(np.absolute(pred - true))
        out["Corr"] = np.corrcoef(pred, true)[0][1]
        return {k: round(float(v), 4) for k, v in out.items()}
    non_zeros = np.array([i for i, e in enumerate(true) if e != 0])
    return {
        "Has0_acc_2": round(accuracy_score(pred >= 0, true >= 0), 4),
        "Has0_F1_score": round(f1_score(true >= 0, pred >= 0, average="weighted"), 4),
        "Non0_acc_2": round(accuracy_score(pred[non_zeros] > 0, true[non_zeros] > 0), 4),
        "Non0_F1_score": round(f1_score(true[non_zeros] > 0, pred[non_zeros] > 0, average="weighted"), 4),
        "Mult_acc_5": round(np.sum(np.round(np.clip(pred, -2, 2)) == np.round(np.clip(true, -2, 2))) / len(true), 4),
        "Mult_acc_7": round(np.sum(np.round(np.clip(pred, -3, 3)) == np.round(np.clip(true, -3, 3))) / len(true), 4),
        "MAE": round(float(np.mean(np.absolute(pred - true))), 4),
        "Corr": round(float(np.corrcoef(pred, true)[0][1]), 4),
    }


@pytest.fixture(autouse=True)
def no_warnings():
    """No numpy/sklearn warning may leak out of the metrics."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def test_exact_zeros_split_has0_from_non0():
    true = np.array([0.0, 0.0, 1.0, -1.0])
    pred = np.array([0.5, -0.5, 2.0, -2.0])
    m = mmsa_metrics(pred, true, "mosi")
    assert list(m) == list(METRIC_KEYS["mosi"])
    # Has0: truth >= 0 is [T, T, T, F], prediction >= 0 is [T, F, T, F].
    assert m["Has0_acc_2"] == 0.75
    # F1(True) = 2·1·(2/3)/(1 + 2/3) = 0.8 on 3 samples, F1(False) = 2/3 on 1 sample.
    assert m["Has0_F1_score"] == round((3 * 0.8 + 2 / 3) / 4, 4) == 0.7667
    # Non0 drops the two true zeros; the rest are right.
    assert m["Non0_acc_2"] == 1.0
    assert m["Non0_F1_score"] == 1.0
    # round([0.5, -0.5, 2, -2]) = [0, -0, 2, -2] against [0, 0, 1, -1]: the two zeros match.
    assert m["Mult_acc_5"] == m["Mult_acc_7"] == 0.5
    assert m["MAE"] == 0.75
    assert m["Corr"] == round(4 / np.sqrt(8.5 * 2), 4) == 0.9701


def test_half_values_round_to_even():
    true = np.array([0.0, 2.0, -2.0, 2.0])
    pred = np.array([0.5, 1.5, -2.5, 2.5])  # half to even: 0, 2, -2, 2 (half up would give 1, 2, -2, 3)
    m = mmsa_metrics(pred, true, "mosei")
    assert m["Mult_acc_7"] == 1.0
    assert m["Mult_acc_5"] == 1.0  # -2.5 and 2.5 are clipped to ±2 first


def test_out_of_range_predictions_are_clipped_for_accuracy_but_not_for_mae():
    true = np.array([3.0, -3.0, 2.0])
    pred = np.array([5.0, -4.0, 2.6])
    m = mmsa_metrics(pred, true, "mosi")
    assert m["Mult_acc_7"] == 0.6667  # clipped to [3, -3, 2.6], rounded to [3, -3, 3]
    assert m["Mult_acc_5"] == 1.0  # everything clipped to [2, -2, 2]
    assert m["MAE"] == 1.2  # (2 + 1 + 0.6) / 3 on the raw values


def test_sims_bin_edges_are_left_open_right_closed():
    true = np.array([-0.1, 0.1, 0.7, 0.0, -0.7])  # 5 bins: 1, 2, 3, 2, 0   3 bins: 0, 1, 2, 1, 0
    pred = np.array([-0.09, 0.11, 0.7, 0.0, -1.5])  # 5 bins: 2, 3, 3, 2, 0   3 bins: 1, 2, 2, 1, 0
    m = mmsa_metrics(pred, true, "sims")
    assert list(m) == list(METRIC_KEYS["sims"])
    assert m["Mult_acc_5"] == 0.6
    assert m["Mult_acc_3"] == 0.6
    assert m["Mult_acc_2"] == 1.0  # 0.0 and below is the negative class
    assert m["F1_score"] == 1.0
    assert m["MAE"] == 0.064  # on clipped values: (0.01 + 0.01 + 0 + 0 + 0.3) / 5


def test_sims_edges_compare_in_the_inputs_precision():
    """A float32 0.1 lies in (-0.1, 0.1] as in MMSA, although float64(float32(0.1)) > 0.1."""
    pred = torch.tensor([0.1, 0.5])
    true = torch.tensor([0.0, 0.5])
    assert mmsa_metrics(pred, true, "sims")["Mult_acc_5"] == 1.0
    assert mmsa_metrics(pred.double(), true.double(), "sims")["Mult_acc_5"] == 0.5


def test_constant_predictions_do_not_crash():
    true = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    m = mmsa_metrics(np.zeros(5), true, "mosi")
    assert m["Corr"] == 0.0
    assert m["Has0_acc_2"] == 0.6  # every prediction is "non-negative"
    assert m["Non0_acc_2"] == 0.5
    # Not predicting the negative class counts as F1 0 for it (sklearn's value, without its warning).
    assert m["Non0_F1_score"] == round(0.5 * (2 * 0.5 * 1 / 1.5), 4)
    s = mmsa_metrics(np.full(5, 0.3), true / 2, "sims")
    assert s["Corr"] == 0.0


def test_single_class_and_all_zero_labels():
    m = mmsa_metrics(np.array([1.0, 2.0]), np.array([1.0, 2.0]), "mosi")
    assert m["Has0_F1_score"] == m["Non0_F1_score"] == 1.0
    zeros = mmsa_metrics(np.array([0.2, -0.3]), np.zeros(2), "mosi")
    assert zeros["Non0_acc_2"] == zeros["Non0_F1_score"] == 0.0  # no non-zero label: documented 0.0
    assert zeros["Corr"] == 0.0
    single = mmsa_metrics(np.array([0.4]), np.array([0.5]), "mosi")
    assert single["Corr"] == 0.0
    assert single["Mult_acc_7"] == 1.0  # round(0.4) == round(0.5) == 0


@pytest.mark.parametrize("dataset", ["mosi", "sims"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_mmsa_on_random_data(dataset, dtype):
    rng = np.random.default_rng(7)
    scale = 1.0 if dataset == "sims" else 3.0
    # Labels on MMSA's grids (including exact zeros and bin edges), predictions off range and on x.5.
    true = (rng.integers(-15, 16, size=300) / 5 * scale / 3).astype(dtype)
    pred = np.concatenate([rng.normal(0, 1.4 * scale, 280), np.arange(-5, 5) + 0.5, [0.1, -0.1] * 5]).astype(dtype)
    assert mmsa_metrics(pred, true, dataset) == mmsa_reference(pred, true, dataset)


def test_accepts_tensors_lists_and_column_vectors():
    true = np.array([-1.2, 0.3, 2.2, -0.4])
    pred = np.array([-0.9, 0.1, 1.7, 0.2])
    expected = mmsa_metrics(pred, true)
    assert mmsa_metrics(torch.tensor(pred).reshape(-1, 1), torch.tensor(true), "MOSI") == expected
    assert mmsa_metrics(list(pred), true.reshape(-1, 1)) == expected
    assert mmsa_metrics(torch.tensor(pred, requires_grad=True), true) == expected
    assert all(type(v) is float for v in expected.values())


@pytest.mark.parametrize(
    ("pred", "true", "dataset", "message"),
    [
        (np.zeros(3), np.zeros(3), "iemocap", "unknown metrics dataset"),
        (np.zeros(3), np.zeros(4), "mosi", "3 values but y_true has 4"),
        (np.zeros((2, 3)), np.zeros(6), "mosi", r"shape \[N\] or \[N, 1\]"),
        (np.array([0.0, np.nan]), np.zeros(2), "mosi", "NaN or infinite values at index 1"),
        (np.zeros(0), np.zeros(0), "sims", "no samples"),
        (np.array(["a"]), np.zeros(1), "mosi", "must hold numbers"),
    ],
)
def test_bad_inputs_raise_msmix_error(pred, true, dataset, message):
    with pytest.raises(MsmixError, match=message):
        mmsa_metrics(pred, true, dataset)


def test_directions_and_display_scale():
    assert higher_is_better("Non0_acc_2") and higher_is_better("test_Corr")
    assert not higher_is_better("MAE") and not higher_is_better("valid_MAE")
    assert is_percent_metric("test_Has0_F1_score") and is_percent_metric("Mult_acc_3")
    assert not is_percent_metric("MAE") and not is_percent_metric("test_Corr")
    assert all(PRIMARY_METRICS[d] in METRIC_KEYS[d] for d in METRIC_KEYS)


def test_binary_scores_match_sklearns_weighted_f1():
    from msmix_core.metrics import _binary_scores

    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 100):
        for p_true, p_pred in ((0.5, 0.5), (1.0, 0.3), (0.0, 1.0), (0.9, 0.0)):
            true, pred = rng.random(n) < p_true, rng.random(n) < p_pred
            acc, f1 = _binary_scores(pred, true)
            assert acc == pytest.approx(accuracy_score(true, pred))
            assert f1 == pytest.approx(f1_score(true, pred, average="weighted", zero_division=0))
