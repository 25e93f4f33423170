"""Robustness evaluation: the table's shape, its conditions acting as documented, and stored models."""

import math

import numpy as np
import pytest

from msmix_core import MODALITIES
from msmix_core.data.synthetic import make_synthetic
from msmix_core.errors import MsmixError
from msmix_core.metrics import METRIC_KEYS
from msmix_core.runs import RunStore
from msmix_core.training import TrainConfig, evaluate_robustness, feature_std, load_trained, train


@pytest.fixture(scope="module")
def data():
    return make_synthetic()


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    store = RunStore(tmp_path_factory.mktemp("runs"))
    result = train(data, TrainConfig(epochs=5, device="cpu"), store=store)
    return result, store.load(result.run_id)


def test_table_has_one_row_per_condition_and_the_dataset_metrics(data, trained):
    table = evaluate_robustness(trained[0].backbone, data, noise_levels=(0.0, 0.5, 1.0, 2.0), device="cpu")
    assert len(table) == 1 + len(MODALITIES) * (1 + 4)
    assert list(table.columns) == ["condition", "modality", "level", *METRIC_KEYS[data.metrics]]
    assert table["condition"].value_counts().to_dict() == {"noise": 12, "zeroed": 3, "clean": 1}
    assert table[table["condition"] == "zeroed"]["level"].isna().all()
    clean = table.iloc[0]
    level_zero = table[(table["condition"] == "noise") & (table["level"] == 0.0)]
    for _, row in level_zero.iterrows():  # noise of level 0 changes nothing
        keys = list(METRIC_KEYS[data.metrics])
        assert row[keys].tolist() == clean[keys].tolist()


def test_clean_scores_match_the_trained_test_metrics(data, trained):
    table = evaluate_robustness(trained[0].backbone, data, modalities=["audio"], noise_levels=(), device="cpu")
    assert table.iloc[0][list(trained[0].test_metrics)].to_dict() == trained[0].test_metrics


def test_removing_or_noising_text_hurts_most_on_the_synthetic_data(data, trained):
    table = evaluate_robustness(trained[0].backbone, data, noise_levels=(0.0, 2.0), device="cpu").set_index(
        ["condition", "modality", "level"]
    )
    clean_mae = table.loc[("clean", "none", 0.0), "MAE"]
    zeroed = table.xs("zeroed", level="condition")["MAE"].droplevel("level")
    assert zeroed["text"] > clean_mae + 0.2, "text carries most of the sentiment"
    assert zeroed["text"] > zeroed["audio"] and zeroed["text"] > zeroed["vision"]
    assert table.loc[("noise", "text", 2.0), "MAE"] > clean_mae


def test_same_seed_same_table_and_another_seed_other_noise(data, trained):
    backbone = trained[0].backbone
    kwargs = {"modalities": ["text"], "noise_levels": (1.0,), "device": "cpu"}
    first = evaluate_robustness(backbone, data, seed=3, **kwargs)
    assert first.equals(evaluate_robustness(backbone, data, seed=3, **kwargs))
    assert not first.equals(evaluate_robustness(backbone, data, seed=4, **kwargs))


def test_feature_std_matches_numpy_over_valid_steps(data):
    split = data.train.subset(np.arange(50))
    rng = np.random.default_rng(0)
    steps = split.audio.shape[1]
    split.audio_lengths = rng.integers(0, steps + 1, size=50)
    valid = np.concatenate([split.audio[i, : split.audio_lengths[i]] for i in range(50)])
    np.testing.assert_allclose(feature_std(split, "audio", chunk=7), valid.astype(np.float64).std(axis=0), rtol=1e-10)
    reference = split.text.reshape(-1, split.text.shape[2]).astype(np.float64).std(axis=0)
    np.testing.assert_allclose(feature_std(split, "text"), reference, rtol=1e-5)


def test_load_trained_rebuilds_the_stored_best_model(data, trained):
    result, run = trained
    loaded = load_trained(run, data, device="cpu")
    assert not loaded.training
    table = evaluate_robustness(loaded, data, modalities=["vision"], noise_levels=(), device="cpu")
    assert table.iloc[0][list(result.test_metrics)].to_dict() == result.test_metrics


def test_load_trained_refuses_data_of_other_shapes(trained):
    other = make_synthetic(preset="mosi", n_train=8, n_valid=4, n_test=4)
    with pytest.raises(MsmixError, match="trained on"):
        load_trained(trained[1], other, device="cpu")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"split": "dev"}, "split"),
        ({"modalities": ["smell"]}, "modalities"),
        ({"modalities": []}, "modalities"),
        ({"noise_levels": (-1.0,)}, "noise levels"),
        ({"noise_levels": (math.inf,)}, "noise levels"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_bad_arguments_are_user_errors(data, trained, kwargs, message):
    with pytest.raises(MsmixError, match=message):
        evaluate_robustness(trained[0].backbone, data, device="cpu", **kwargs)
