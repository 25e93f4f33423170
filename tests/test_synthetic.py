"""The synthetic default: reproducible, MOSI-shaped, and each knob changes what it claims to."""

import dataclasses
import math
import re

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from msmix_core import MODALITIES
from msmix_core.data import PRESETS, SPLITS, SyntheticConfig, make_synthetic, pool_time
from msmix_core.errors import MsmixError

EXTRAS = {
    "conflict": np.bool_,
    "conflict_modality": np.int8,
    "speaker": np.int64,
    "sentiment_text": np.float32,
    "sentiment_audio": np.float32,
    "sentiment_vision": np.float32,
}


def _probe(ds, modality: str):
    """Test-split predictions of a ridge probe fitted on one modality's pooled train features."""
    probe = Ridge(alpha=1.0).fit(pool_time(ds.train.modality(modality)), ds.train.labels)
    return probe.predict(pool_time(ds.test.modality(modality)))


def _corr(a, b) -> float:
    return float(np.corrcoef(a, b)[0, 1])


def _all(ds, field):
    return np.concatenate([getattr(ds.splits[s], field) for s in SPLITS])


@pytest.fixture(scope="module")
def default():
    return make_synthetic()


def test_default_is_mosi_shaped(default):
    assert {s: len(default.splits[s]) for s in SPLITS} == {"train": 1284, "valid": 229, "test": 686}
    assert (default.name, default.metrics, default.label_range) == ("synthetic:small", "mosi", (-3.0, 3.0))
    assert make_synthetic(seed=3, label_noise=1.0).name == "synthetic:small (seed=3, label_noise=1.0)"
    assert default.dims == {"text": 32, "audio": 16, "vision": 16}
    assert default.seq_lens == {"text": 16, "audio": 16, "vision": 16}
    labels = _all(default, "labels")
    assert labels.min() >= -3 and labels.max() <= 3
    assert 0.02 < (labels == 0).mean() < 0.1  # some exact zeros
    mild = ((labels != 0) & (np.abs(labels) <= 1.5)).mean()
    strong = (np.abs(labels) >= 2.5).mean()
    assert mild > 0.5 and 0 < strong < mild / 5  # many mildly polar, fewer strongly polar
    np.testing.assert_allclose(labels * 5, np.round(labels * 5), atol=1e-4)  # means of 5 integer votes
    assert 0.4 < (labels > 0).mean() < 0.6


def test_extras_have_the_names_and_types_the_app_reads(default):
    for split in default.splits.values():
        assert {k: v.dtype.type for k, v in split.extras.items()} == EXTRAS
        assert split.raw_text is not None and split.raw_text.dtype.kind == "U"
        assert all(len(t) > 5 for t in split.raw_text)


def test_conflicts_flip_exactly_the_recorded_modality(default):
    e = {k: np.concatenate([default.splits[s].extras[k] for s in SPLITS]) for k in EXTRAS}
    expressed = np.stack([e[f"sentiment_{m}"] for m in MODALITIES], axis=1)
    assert np.array_equal(e["conflict"], e["conflict_modality"] >= 0)
    assert set(np.unique(e["conflict_modality"])) == {-1, 0, 1, 2}
    calm = ~e["conflict"]
    assert (expressed[calm] == expressed[calm, :1]).all()  # no conflict: all modalities agree
    rows = np.flatnonzero(e["conflict"])
    flipped = expressed[rows, e["conflict_modality"][rows]]
    others = expressed[rows, (e["conflict_modality"][rows] + 1) % 3]
    assert (flipped == -others).all() and (flipped != 0).all()
    assert 0.07 < e["conflict"].mean() < 0.13  # conflict_rate 0.1 of the polar utterances


def test_conflict_modality_probs_pick_the_flipped_modality():
    ds = make_synthetic(n_train=200, n_valid=5, n_test=5, conflict_rate=1.0, conflict_modality_probs=(0, 1, 0))
    e = ds.train.extras
    assert np.array_equal(e["conflict"], e["sentiment_text"] != 0)  # every polar utterance conflicts
    assert set(e["conflict_modality"][e["conflict"]].tolist()) == {1}
    assert (e["sentiment_audio"] == -e["sentiment_text"]).all()


def test_splits_are_speaker_independent_and_ids_name_the_speaker(default):
    speakers = [set(default.splits[s].extras["speaker"].tolist()) for s in SPLITS]
    assert not (speakers[0] & speakers[1]) and not (speakers[0] & speakers[2]) and not (speakers[1] & speakers[2])
    assert sum(map(len, speakers)) == 93
    ids = _all(default, "ids")
    assert len(set(ids.tolist())) == len(ids)
    speaker = np.concatenate([default.splits[s].extras["speaker"] for s in SPLITS])
    parsed = [re.fullmatch(r"synth_spk(\d+)\$_\$(\d{4})", i) for i in ids]
    assert all(parsed) and [int(p.group(1)) for p in parsed] == speaker.tolist()


def test_same_seed_same_bytes_and_other_seed_differs():
    kwargs = {"n_train": 60, "n_valid": 20, "n_test": 20, "min_valid_frac": 0.5}
    a, b, c = make_synthetic(seed=3, **kwargs), make_synthetic(seed=3, **kwargs), make_synthetic(seed=4, **kwargs)
    for split in SPLITS:
        arrays_a, arrays_b = a.splits[split].arrays(), b.splits[split].arrays()
        assert arrays_a.keys() == arrays_b.keys()
        for key, value in arrays_a.items():
            assert value.dtype == arrays_b[key].dtype and value.tobytes() == arrays_b[key].tobytes(), key
    assert a.train.text.tobytes() != c.train.text.tobytes()
    assert a.info == b.info and a.info["config"]["min_valid_frac"] == 0.5


def test_mosi_preset_matches_mmsa_aligned_dims():
    ds = make_synthetic("mosi", n_train=8, n_valid=4, n_test=4)
    assert ds.dims == {"text": 768, "audio": 5, "vision": 20}
    assert ds.seq_lens == {"text": 50, "audio": 50, "vision": 50}
    assert {len(ds.splits[s]) for s in SPLITS} == {8, 4}
    assert PRESETS["mosi"].n_train == 1284 and PRESETS["small"] == SyntheticConfig()


def test_default_is_small_in_memory(default):
    total = sum(a.nbytes for s in default.splits.values() for a in s.arrays().values())
    assert total < 200e6


def test_text_carries_much_more_sentiment_than_audio_and_vision(default):
    text, audio, vision = (_corr(_probe(default, m), default.test.labels) for m in MODALITIES)
    assert text > 0.7
    assert text > audio + 0.3 and text > vision + 0.3
    assert audio > 0.1 and vision > 0.1  # weak, not absent


def test_conflict_rate_lowers_cross_modal_agreement():
    def agreement(rate):
        ds = make_synthetic(conflict_rate=rate)
        preds = {m: _probe(ds, m) for m in MODALITIES}
        return np.mean([_corr(preds["text"], preds[m]) for m in ("audio", "vision")])

    assert agreement(0.6) < agreement(0.0) - 0.1


def test_label_noise_knob_blurs_labels():
    def gap(ds):
        """Mean |label - sentiment| where the text shows the true (latent) sentiment."""
        honest = ds.train.extras["conflict_modality"] != 0
        return float(np.abs(ds.train.labels - ds.train.extras["sentiment_text"])[honest].mean())

    sizes = {"n_train": 400, "n_valid": 50, "n_test": 400}
    calm, noisy = make_synthetic(label_noise=0.0, **sizes), make_synthetic(label_noise=2.0, **sizes)
    # Without noise the five annotators all vote the rounded latent sentiment.
    honest = calm.train.extras["conflict_modality"] != 0
    text = calm.train.extras["sentiment_text"]
    np.testing.assert_array_equal(calm.train.labels[honest], np.rint(text[honest]))
    assert gap(noisy) > gap(calm) + 0.1
    assert _corr(_probe(noisy, "text"), noisy.test.labels) < _corr(_probe(calm, "text"), calm.test.labels) - 0.1


def test_nuisance_dominates_raw_similarity(default):
    pooled = np.concatenate([pool_time(default.train.modality(m)) for m in MODALITIES], axis=1)
    squared = (pooled**2).sum(axis=1)
    distance = squared[:, None] + squared[None, :] - 2 * pooled @ pooled.T
    np.fill_diagonal(distance, np.inf)
    nearest = distance.argmin(axis=1)
    speaker, sign = default.train.extras["speaker"], np.sign(default.train.labels)
    assert (speaker == speaker[nearest]).mean() > 0.9
    chance = np.mean([(sign == np.roll(sign, k)).mean() for k in range(1, 30)])  # random pairs
    assert (sign == sign[nearest]).mean() < chance + 0.1
    # The same features hold the sentiment linearly: neighbours along the text probe agree in sign.
    probe = Ridge(alpha=1.0).fit(pool_time(default.train.text), default.train.labels)
    score = probe.predict(pool_time(default.train.text))
    order = np.argsort(score)
    along = np.empty_like(nearest)
    along[order[1:]], along[order[0]] = order[:-1], order[1]
    assert (sign == sign[along]).mean() > chance + 0.2


def test_sentiment_is_expressed_in_a_window_of_steps():
    """Sentiment lives in ``expressive_frac`` of the steps: spreading it over all steps helps a pooled probe."""
    narrow = make_synthetic(n_valid=50, expressive_frac=0.2)
    wide = make_synthetic(n_valid=50, expressive_frac=1.0)
    assert _corr(_probe(wide, "audio"), wide.test.labels) > _corr(_probe(narrow, "audio"), narrow.test.labels) + 0.2


def test_temporal_corr_is_the_lag_one_autocorrelation_of_the_noise():
    quiet = {f"{m}_strength": 0.0 for m in MODALITIES} | {"speaker_scale": 0.0, "topic_scale": 0.0}
    for rho in (0.0, 0.8):
        x = make_synthetic(n_train=300, n_valid=5, n_test=5, utterance_scale=0.0, temporal_corr=rho, **quiet).train.text
        lag = float((x[:, 1:] * x[:, :-1]).mean() / (x**2).mean())
        assert abs(lag - rho) < 0.05
        assert abs(float(x.std()) - 1.0) < 0.05  # stationary, unit variance


def test_min_valid_frac_gives_lengths_and_zero_padding():
    ds = make_synthetic(n_train=200, n_valid=5, n_test=5, min_valid_frac=0.5, text_len=10)
    lengths = ds.train.text_lengths
    assert lengths.dtype == np.int64 and lengths.min() >= 5 and lengths.max() == 10
    assert ds.train.audio_lengths is not None and ds.train.vision_lengths is not None
    padding = np.arange(10)[None, :] >= lengths[:, None]
    assert (ds.train.text[padding] == 0).all() and (ds.train.text[~padding] != 0).all()
    assert make_synthetic(n_train=5, n_valid=5, n_test=5).train.text_lengths is None


def test_raw_text_follows_text_sentiment(default):
    text, sentiment = default.train.raw_text, default.train.extras["sentiment_text"]
    negative_words, positive_words = ("boring", "waste", "hated", "terrible", "didn't"), ("loved", "amazing", "best")
    positive = text[sentiment >= 1.5]
    negative = text[sentiment <= -1.5]
    assert len(positive) and len(negative)
    assert not any(w in t for t in positive for w in negative_words)
    assert all(any(w in t for w in positive_words) for t in positive)
    assert not any(w in t for t in negative for w in positive_words)


def test_tiny_configurations_still_validate():
    ds = make_synthetic(n_train=1, n_valid=1, n_test=1, n_speakers=500, text_dim=2, audio_len=1)
    assert {len(ds.splits[s]) for s in SPLITS} == {1}
    assert ds.dims["text"] == 2 and ds.seq_lens["audio"] == 1


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        ({"conflict_rate": 1.5}, r"conflict_rate must be a number in \[0.0, 1.0\]"),
        ({"label_noise": -0.1}, "label_noise"),
        ({"expressive_frac": 0.0}, r"expressive_frac must be a number in \(0.0, 1.0\]"),
        ({"text_strength": math.nan}, "text_strength"),
        ({"n_train": 0}, "n_train must be an integer >= 1"),
        ({"n_valid": 2.0}, "n_valid must be an integer"),
        ({"n_test": True}, "n_test must be an integer"),
        ({"audio_dim": 1}, "audio_dim must be an integer >= 2"),
        ({"conflict_modality_probs": (0.5, 0.5)}, "conflict_modality_probs"),
        ({"conflict_modality_probs": (0.5, 0.6, -0.1)}, "conflict_modality_probs"),
        ({"sarcasm": 1}, r"unknown synthetic knob\(s\) \['sarcasm'\]"),
        ({"seed": -1}, "seed must be an integer >= 0"),
        ({"seed": 1.5}, "seed must be an integer >= 0"),
    ],
)
def test_bad_knobs_are_explained(knobs, message):
    with pytest.raises(MsmixError, match=message):
        make_synthetic(**knobs)


def test_config_is_validated_on_its_own_and_presets_are_listed():
    with pytest.raises(MsmixError, match="n_topics"):
        dataclasses.replace(SyntheticConfig(), n_topics=0)
    with pytest.raises(MsmixError, match=r"unknown synthetic preset 'huge': use one of \['mosi', 'small'\]"):
        make_synthetic("huge")
