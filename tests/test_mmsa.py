"""MMSA feature pickles: the restricted unpickler, cleaning, family detection and the .npz round trip."""

import io
import os
import pickle

import numpy as np
import pytest

from msmix_core.data import convert_to_npz, load_dataset, load_mmsa, load_npz, restricted_load, save_npz
from msmix_core.errors import MsmixError


def _mmsa_split(rng, n, dims, lens, label_scale, sims=False):
    mask = np.arange(lens[0])[None, :] < np.arange(1, n + 1)[:, None]  # sample i has i + 1 tokens
    data = {
        "raw_text": [f"utterance {i}" for i in range(n)],
        "id": [f"vid{i}$_${i}" for i in range(n)],
        "text": rng.normal(size=(n, lens[0], dims[0])).astype(np.float32),
        "text_bert": np.stack([np.ones((n, lens[0])), mask, np.zeros((n, lens[0]))], axis=1).astype(np.float32),
        "audio": rng.normal(size=(n, lens[1], dims[1])),
        "vision": rng.normal(size=(n, lens[2], dims[2])).astype(np.float32),
        "audio_lengths": [min(i + 1, lens[1]) for i in range(n)],
        "vision_lengths": [lens[2]] * n,
        "regression_labels": np.round(rng.uniform(-label_scale, label_scale, n), 1).astype(np.float32),
        "classification_labels": np.zeros(n),
    }
    data["audio"][0, -1, :] = -np.inf  # MMSA's audio padding
    data["vision"][1, 0, 0] = np.nan
    if sims:
        for t in "TAV":
            data[f"regression_labels_{t}"] = np.round(rng.uniform(-1, 1, n), 1).astype(np.float32)
    return data


def _write(path, sims=False):
    rng = np.random.default_rng(0)
    dims, lens, scale = ((768, 33, 709), (6, 8, 5), 1.0) if sims else ((768, 5, 20), (6, 6, 6), 3.0)
    raw = {s: _mmsa_split(rng, n, dims, lens, scale, sims) for s, n in (("train", 6), ("valid", 3), ("test", 3))}
    raw["train"]["regression_labels"][0] = 0.0
    if not sims:
        raw["train"]["regression_labels"][1] = 2.6  # beyond ±1: MOSI-like
    with open(path, "wb") as fh:
        pickle.dump(raw, fh)
    return raw


def test_mosi_like_file_loads_cleaned(tmp_path):
    raw = _write(tmp_path / "aligned_50.pkl")
    ds = load_mmsa(tmp_path / "aligned_50.pkl")
    assert ds.metrics == "mosi" and ds.label_range == (-3.0, 3.0)
    assert ds.dims == {"text": 768, "audio": 5, "vision": 20}
    assert np.isfinite(ds.train.audio).all() and ds.train.audio[0, -1].tolist() == [0.0] * 5
    assert ds.info["cleaned"] == {"text": 0, "audio": 5 * 3, "vision": 3}  # one -inf row and a NaN per split
    assert ds.train.audio.dtype == np.float32
    assert ds.train.audio_lengths.tolist() == [1, 2, 3, 4, 5, 6]
    assert ds.train.text_lengths.tolist() == [1, 2, 3, 4, 5, 6]
    assert ds.train.ids[0] == "vid0$_$0" and ds.train.raw_text[2] == "utterance 2"
    np.testing.assert_array_equal(ds.test.labels, raw["test"]["regression_labels"])


def test_sims_like_file_is_detected_with_unimodal_labels(tmp_path):
    _write(tmp_path / "unaligned_39.pkl", sims=True)
    ds = load_mmsa(tmp_path / "unaligned_39.pkl")
    assert ds.metrics == "sims" and ds.label_range == (-1.0, 1.0)
    assert ds.train.labels_T is not None and ds.train.labels_V.shape == (6,)


def test_explicit_dataset_overrides_detection_and_checks_range(tmp_path):
    _write(tmp_path / "f.pkl")
    assert load_mmsa(tmp_path / "f.pkl", dataset="mosei").metrics == "mosei"
    with pytest.raises(MsmixError, match=r"label 2.6 at index 1 is outside the range \[-1.0, 1.0\]"):
        load_mmsa(tmp_path / "f.pkl", dataset="sims")


def test_malicious_pickle_is_refused_before_anything_runs(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"train": {"text": Payload()}}))
    with pytest.raises(MsmixError, match=r"refused to load: the pickle asks for '(posix|os)\.system'"):
        load_mmsa(path)
    assert not marker.exists()


def test_builtins_eval_is_refused():
    class Payload:
        def __reduce__(self):
            return (eval, ("1 + 1",))

    with pytest.raises(MsmixError, match=r"builtins\.eval"):
        restricted_load(pickle.dumps(Payload()))


def test_truncated_file_is_a_clear_error(tmp_path):
    _write(tmp_path / "f.pkl")
    data = (tmp_path / "f.pkl").read_bytes()
    (tmp_path / "cut.pkl").write_bytes(data[: len(data) // 2])
    with pytest.raises(MsmixError, match="not a complete pickle"):
        load_mmsa(tmp_path / "cut.pkl")


def test_missing_key_and_bad_shape_are_named(tmp_path):
    raw = _write(tmp_path / "f.pkl")
    del raw["valid"]["regression_labels"]
    with pytest.raises(MsmixError, match=r"split 'valid' has no 'regression_labels'"):
        load_mmsa(pickle.dumps(raw))
    raw = _write(tmp_path / "f.pkl")
    raw["test"]["audio"] = raw["test"]["audio"][:, :, 0]
    with pytest.raises(MsmixError, match=r"split 'test', field 'audio': expected 3 dimensions"):
        load_mmsa(pickle.dumps(raw))
    with pytest.raises(MsmixError, match="has no 'test' split"):
        load_mmsa(pickle.dumps({"train": {}, "valid": {}}))


def test_token_ids_only_file_explains_what_is_missing(tmp_path):
    raw = _write(tmp_path / "f.pkl")
    for split in raw.values():
        del split["text"]
    with pytest.raises(MsmixError, match="holds only 'text_bert'"):
        load_mmsa(pickle.dumps(raw))


def test_npz_round_trip_gives_identical_arrays(tmp_path):
    _write(tmp_path / "f.pkl", sims=True)
    original = convert_to_npz(tmp_path / "f.pkl", tmp_path / "f.npz")
    again = load_dataset(tmp_path / "f.npz")
    assert (again.name, again.metrics, again.label_range) == (original.name, original.metrics, original.label_range)
    for split in ("train", "valid", "test"):
        a, b = original.splits[split].arrays(), again.splits[split].arrays()
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
            assert a[key].dtype == b[key].dtype or a[key].dtype.kind in "OU"


def test_synthetic_npz_round_trip_keeps_extras(tmp_path):
    ds = load_dataset("synthetic", n_train=10, n_valid=4, n_test=4, seed=2)
    again = load_npz(save_npz(ds, tmp_path / "s.npz"))
    np.testing.assert_array_equal(again.train.extras["conflict_modality"], ds.train.extras["conflict_modality"])
    assert again.info["config"]["n_train"] == 10


def test_npz_loader_refuses_pickled_objects(tmp_path):
    path = tmp_path / "obj.npz"
    np.savez(path, __meta__=np.array("{}"), **{"train/text": np.array([{"a": 1}], dtype=object)})
    with pytest.raises(MsmixError, match="pickled objects"):
        load_npz(path)


def test_uploaded_bytes_load_like_a_file(tmp_path):
    _write(tmp_path / "f.pkl")
    upload = io.BytesIO((tmp_path / "f.pkl").read_bytes())
    assert len(load_mmsa(upload).train) == 6


@pytest.mark.parametrize(
    ("source", "message"),
    [("nope.pkl", "no such file"), ("synthetic:huge", "unknown synthetic preset")],
)
def test_load_dataset_errors(source, message):
    with pytest.raises(MsmixError, match=message):
        load_dataset(source)


def test_load_dataset_refuses_unknown_suffix(tmp_path):
    (tmp_path / "x.csv").write_text("a,b")
    with pytest.raises(MsmixError, match=r"unknown file type '\.csv'"):
        load_dataset(tmp_path / "x.csv")
