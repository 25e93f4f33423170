"""Schema validation: every failure names the split, the field and (where it applies) the index."""

import numpy as np
import pytest

from msmix_core.data import MSADataset, Split
from msmix_core.errors import MsmixError


def _split(n=4, t=3, dims=(5, 2, 3)) -> Split:
    rng = np.random.default_rng(0)
    text, audio, vision = (rng.normal(size=(n, t, d)).astype(np.float32) for d in dims)
    labels = np.linspace(-2, 2, n).astype(np.float32)
    return Split(text=text, audio=audio, vision=vision, labels=labels, ids=np.array([f"s{i}" for i in range(n)]))


def _dataset(**splits) -> MSADataset:
    parts = {"train": _split(), "valid": _split(), "test": _split()} | splits
    return MSADataset(name="toy", splits=parts, label_range=(-3, 3))


def test_valid_dataset_exposes_dims_and_lengths():
    ds = _dataset()
    assert ds.dims == {"text": 5, "audio": 2, "vision": 3}
    assert ds.seq_lens == {"text": 3, "audio": 3, "vision": 3}
    assert ds.summary()["sizes"] == {"train": 4, "valid": 4, "test": 4}


def test_missing_split_is_named():
    with pytest.raises(MsmixError, match=r"no split \['test'\]"):
        MSADataset(name="toy", splits={"train": _split(), "valid": _split()}, label_range=(-3, 3))


def test_label_outside_range_names_split_field_and_index():
    bad = _split()
    bad.labels[2] = 3.5
    with pytest.raises(MsmixError, match=r"split 'valid', field 'labels': label 3.5 at index 2 is outside"):
        _dataset(valid=bad)


def test_non_finite_label_is_named():
    bad = _split()
    bad.labels[1] = np.nan
    with pytest.raises(MsmixError, match=r"split 'test', field 'labels': non-finite label at index 1"):
        _dataset(test=bad)


def test_shape_mismatch_is_named():
    bad = _split()
    bad.audio = bad.audio[:3]
    with pytest.raises(MsmixError, match=r"split 'train', field 'audio': expected shape \[4, T, D\]"):
        _dataset(train=bad)


def test_feature_sizes_must_agree_across_splits():
    with pytest.raises(MsmixError, match=r"split 'valid', field 'features'"):
        _dataset(valid=_split(dims=(5, 2, 4)))


def test_empty_split_is_refused():
    with pytest.raises(MsmixError, match=r"split 'test', field 'labels': no samples"):
        _dataset(test=_split().subset(slice(0, 0)))


def test_lengths_beyond_sequence_are_refused():
    bad = _split()
    bad.vision_lengths = np.array([1, 2, 3, 4])
    with pytest.raises(MsmixError, match=r"field 'vision_lengths': length 4 at index 3 is outside \[0, 3\]"):
        _dataset(train=bad)


def test_float64_features_are_refused_with_the_dtype():
    bad = _split()
    bad.text = bad.text.astype(np.float64)
    with pytest.raises(MsmixError, match=r"field 'text': expected float32, got float64"):
        _dataset(train=bad)


def test_extras_must_have_one_entry_per_sample():
    bad = _split()
    bad.extras["speaker"] = np.zeros(3)
    with pytest.raises(MsmixError, match=r"field 'extras/speaker': expected 4 entries"):
        _dataset(train=bad)


def test_subset_keeps_every_field_aligned():
    split = _split()
    split.extras["speaker"] = np.arange(4)
    part = split.subset(np.array([3, 1]))
    assert part.labels.tolist() == [split.labels[3], split.labels[1]]
    assert part.extras["speaker"].tolist() == [3, 1]
    assert part.ids.tolist() == ["s3", "s1"]
