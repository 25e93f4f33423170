"""The synthetic default: reproducible, MOSI-shaped, and its knobs change what they claim to."""

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from msmix_core import MODALITIES
from msmix_core.data import PRESETS, make_synthetic, pool_time
from msmix_core.errors import MsmixError


def _probe_corr(ds, modality: str) -> float:
    """Test correlation of a ridge probe on one modality's pooled features."""
    probe = Ridge(alpha=1.0).fit(pool_time(ds.train.modality(modality)), ds.train.labels)
    pred = probe.predict(pool_time(ds.test.modality(modality)))
    return float(np.corrcoef(pred, ds.test.labels)[0, 1])


@pytest.fixture(scope="module")
def default():
    return make_synthetic()


def test_default_is_mosi_shaped(default):
    assert {s: len(default.splits[s]) for s in ("train", "valid", "test")} == {"train": 1284, "valid": 229, "test": 686}
    labels = np.concatenate([default.splits[s].labels for s in ("train", "valid", "test")])
    assert labels.min() >= -3 and labels.max() <= 3
    assert 0.03 < (labels == 0).mean() < 0.2  # some exact zeros
    mild = ((np.abs(labels) > 0) & (np.abs(labels) <= 1.5)).mean()
    strong = (np.abs(labels) > 2.5).mean()
    assert mild > 2 * strong > 0  # many mildly polar, fewer strongly polar
    np.testing.assert_allclose(labels * 5, np.round(labels * 5), atol=1e-4)  # annotator-mean grid


def test_same_seed_same_bytes_and_other_seed_differs():
    a, b, c = make_synthetic(seed=3, n_train=50), make_synthetic(seed=3, n_train=50), make_synthetic(seed=4, n_train=50)
    for key, value in a.train.arrays().items():
        assert value.tobytes() == b.train.arrays()[key].tobytes(), key
    assert a.train.text.tobytes() != c.train.text.tobytes()


def test_mosi_preset_matches_mmsa_aligned_dims():
    ds = make_synthetic("mosi", n_train=8, n_valid=4, n_test=4)
    assert ds.dims == {"text": 768, "audio": 5, "vision": 20}
    assert ds.seq_lens == {"text": 50, "audio": 50, "vision": 50}
    assert set(PRESETS) >= {"small", "mosi"}


def test_default_is_small_in_memory(default):
    total = sum(a.nbytes for s in default.splits.values() for a in s.arrays().values())
    assert total < 200e6


def test_text_carries_much_more_sentiment_than_audio(default):
    text, audio, vision = (_probe_corr(default, m) for m in MODALITIES)
    assert text > 0.6
    assert text > audio + 0.3 and text > vision + 0.3


def test_conflict_rate_lowers_cross_modal_agreement():
    def agreement(rate):
        ds = make_synthetic(conflict_rate=rate, n_train=600, n_test=300)
        e = ds.train.extras
        return float(np.mean(np.sign(e["sentiment_text"]) == np.sign(e["sentiment_audio"]))), ds

    low, _ = agreement(0.0)
    high, ds = agreement(0.6)
    assert low == 1.0 and high < 0.9
    extras = ds.train.extras
    flipped = extras["conflict_modality"] >= 0
    assert np.array_equal(flipped, extras["conflict"])
    assert 0.5 < flipped.mean() < 0.7


def test_label_noise_knob_blurs_labels():
    def gap(noise):
        ds = make_synthetic(label_noise=noise, conflict_rate=0.0, n_train=800)
        return float(np.abs(ds.train.labels - ds.train.extras["sentiment_text"]).mean())

    assert gap(0.0) < 0.15 < gap(1.0)


def test_nuisance_dominates_raw_similarity(default):
    pooled = np.concatenate([pool_time(default.train.modality(m)) for m in MODALITIES], axis=1)
    pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
    sim = pooled @ pooled.T
    np.fill_diagonal(sim, -np.inf)
    nearest = sim.argmax(axis=1)
    speaker, y = default.train.extras["speaker"], default.train.labels
    assert (speaker == speaker[nearest]).mean() > 0.9
    assert (np.sign(y) == np.sign(y[nearest])).mean() < 0.75  # far from a sentiment neighbour


def test_raw_text_follows_text_sentiment(default):
    text, sentiment = default.train.raw_text, default.train.extras["sentiment_text"]
    positive = [t for t, s in zip(text, sentiment, strict=True) if s > 1]
    assert positive and all(isinstance(t, str) and t for t in text)
    assert not any("boring" in t or "waste" in t for t in positive)


@pytest.mark.parametrize(
    ("knobs", "message"),
    [({"conflict_rate": 1.5}, "probability"), ({"n_train": 0}, "n_train"), ({"sarcasm": 1}, "unknown synthetic knob")],
)
def test_bad_knobs_are_explained(knobs, message):
    with pytest.raises(MsmixError, match=message):
        make_synthetic(**knobs)


def test_unknown_preset_lists_presets():
    with pytest.raises(MsmixError, match="mosi"):
        make_synthetic("huge")
