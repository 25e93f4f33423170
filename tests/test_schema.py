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


def _with(**changes) -> Split:
    split = _split()
    for name, value in changes.items():
        setattr(split, name, value)
    return split


def test_valid_dataset_exposes_dims_and_lengths():
    ds = _dataset()
    assert ds.dims == {"text": 5, "audio": 2, "vision": 3}
    assert ds.seq_lens == {"text": 3, "audio": 3, "vision": 3}
    assert ds.summary()["sizes"] == {"train": 4, "valid": 4, "test": 4}
    assert ds.label_range == (-3.0, 3.0)


def test_missing_split_is_named():
    with pytest.raises(MsmixError, match=r"no split \['test'\]"):
        MSADataset(name="toy", splits={"train": _split(), "valid": _split()}, label_range=(-3, 3))


@pytest.mark.parametrize(
    ("label_range", "metrics", "message"),
    [
        ((3, -3), "mosi", r"label range .* must be .* low < high"),
        ((-1e308, 1e308), "mosi", r"label range .* must be \[low, high\], two numbers that float32 holds"),
        ((0, 10**400), "mosi", r"label range .* must be"),
        (("a", 3), "mosi", r"label range .* must be"),
        ((-3, 3), "imdb", r"unknown metrics family 'imdb'"),
    ],
)
def test_dataset_level_settings_are_checked(label_range, metrics, message):
    parts = {"train": _split(), "valid": _split(), "test": _split()}
    with pytest.raises(MsmixError, match=message):
        MSADataset(name="toy", splits=parts, label_range=label_range, metrics=metrics)


@pytest.mark.parametrize(
    ("split", "changes", "message"),
    [
        ("valid", {"labels": np.array([0, 0, 3.5, 0], np.float32)}, r"field 'labels': label 3.5 at index 2 is outside"),
        ("test", {"labels": np.array([0, np.nan, 0, 0], np.float32)}, r"field 'labels': non-finite label at index 1"),
        ("train", {"labels": np.zeros((4, 1), np.float32)}, r"field 'labels': expected shape \[N\]"),
        ("train", {"labels": np.zeros(4)}, r"field 'labels': expected float32, got float64"),
        ("valid", {"labels_T": np.array([0, 0, 0, -9], np.float32)}, r"field 'labels_T': label -9 at index 3"),
        ("valid", {"labels_A": np.zeros(3, np.float32)}, r"field 'labels_A': expected shape \(4,\)"),
        ("test", {"labels_V": np.zeros(4)}, r"field 'labels_V': expected float32"),
        ("train", {"audio": np.zeros((3, 3, 2), np.float32)}, r"field 'audio': expected shape \[4, T, D\]"),
        ("train", {"text": np.zeros((4, 5), np.float32)}, r"field 'text': expected shape \[4, T, D\], got \(4, 5\)"),
        ("train", {"text": np.zeros((4, 3, 5))}, r"field 'text': expected float32, got float64"),
        ("train", {"vision_lengths": np.array([1, 2, 3, 4])}, r"'vision_lengths': length 4 at index 3 is outside"),
        ("valid", {"audio_lengths": np.array([1, -1, 3, 3])}, r"'audio_lengths': length -1 at index 1"),
        ("valid", {"text_lengths": np.array([1.0, 2, 3, 3])}, r"'text_lengths': expected integers, got float64"),
        ("test", {"text_lengths": np.array([1, 2])}, r"'text_lengths': expected shape \(4,\)"),
        ("valid", {"vision": np.zeros((4, 3, 4), np.float32)}, r"field 'vision': \(T, D\) = \(3, 4\), but splits"),
        ("test", {"audio": np.zeros((4, 7, 2), np.float32)}, r"field 'audio': \(T, D\) = \(7, 2\)"),
        ("train", {"text": np.zeros((4, 6, 5), np.float32)}, r"field 'text': \(T, D\) = \(6, 5\), but splits 'valid'"),
        ("test", {"ids": np.array(["a"])}, r"field 'ids': expected 4 ids, got 1"),
        ("train", {"raw_text": np.array(["a", "b"])}, r"field 'raw_text': expected 4 entries, got 2"),
        ("valid", {"extras": {"speaker": np.zeros(3)}}, r"field 'extras/speaker': expected 4 entries, got 3"),
    ],
)
def test_each_bad_field_is_named(split, changes, message):
    with pytest.raises(MsmixError, match=rf"^split '{split}', .*{message}"):
        _dataset(**{split: _with(**changes)})


def test_a_shape_mismatch_names_the_split_that_differs_and_the_two_that_agree():
    with pytest.raises(MsmixError) as error:
        _dataset(train=_with(audio=np.zeros((4, 9, 2), np.float32)))
    assert str(error.value) == (
        "split 'train', field 'audio': (T, D) = (9, 2), but splits 'valid' and 'test' have (3, 2): "
        "every split needs the same time steps and feature size"
    )
    with pytest.raises(MsmixError, match=r"field 'audio': \(T, D\) differs in every split: train \(9, 2\), valid"):
        _dataset(train=_with(audio=np.zeros((4, 9, 2), np.float32)), valid=_with(audio=np.zeros((4, 8, 2), np.float32)))


def test_empty_split_is_refused():
    with pytest.raises(MsmixError, match=r"split 'test', field 'labels': no samples"):
        _dataset(test=_split().subset(slice(0, 0)))


def test_subset_keeps_every_field_aligned():
    split = _with(raw_text=np.array(["a", "b", "c", "d"]), audio_lengths=np.array([3, 2, 1, 0]))
    split.extras["speaker"] = np.arange(4)
    part = split.subset(np.array([3, 1]))
    assert part.labels.tolist() == [split.labels[3], split.labels[1]]
    assert part.extras["speaker"].tolist() == [3, 1]
    assert part.ids.tolist() == ["s3", "s1"] and part.raw_text.tolist() == ["d", "b"]
    assert part.audio_lengths.tolist() == [0, 2] and part.text_lengths is None
    np.testing.assert_array_equal(part.vision, split.vision[[3, 1]])


def test_arrays_lists_every_present_field_and_extras():
    split = _with(audio_lengths=np.array([3, 2, 1, 0]))
    split.extras["conflict"] = np.zeros(4, bool)
    assert set(split.arrays()) == {"text", "audio", "vision", "labels", "ids", "audio_lengths", "extras/conflict"}
