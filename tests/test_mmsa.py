"""MMSA feature pickles (restricted unpickler, cleaning, family detection), the .npz format and load_dataset."""

import builtins
import io
import os
import pickle
import warnings
import zipfile

import numpy as np
import pytest

from msmix_core.data import (
    SPLITS,
    convert_to_npz,
    load_dataset,
    load_mmsa,
    load_npz,
    make_synthetic,
    restricted_load,
    save_npz,
)
from msmix_core.data.mmsa import DECLARED_SIZE_LIMIT
from msmix_core.errors import MsmixError, MsmixWarning

MOSI = {"dims": (768, 5, 20), "lens": (6, 6, 6), "scale": 3.0}
SIMS = {"dims": (768, 33, 709), "lens": (6, 8, 5), "scale": 1.0}


def _mmsa_split(rng, n, dims, lens, scale, sims):
    """One split as MMSA's processed files hold it: lists for ids/text/lengths, float64 audio, -inf padding."""
    mask = np.arange(lens[0])[None, :] < np.arange(1, n + 1)[:, None]  # sample i has i + 1 tokens
    data = {
        "raw_text": [f"utterance {i}" for i in range(n)],
        "id": np.array([f"vid{i}$_${i}" for i in range(n)], dtype=object),
        "text": rng.normal(size=(n, lens[0], dims[0])).astype(np.float32),
        "text_bert": np.stack([np.ones((n, lens[0])), mask, np.zeros((n, lens[0]))], axis=1).astype(np.float32),
        "audio": rng.normal(size=(n, lens[1], dims[1])),
        "vision": rng.normal(size=(n, lens[2], dims[2])).astype(np.float32),
        "audio_lengths": [min(i + 1, lens[1]) for i in range(n)],
        "vision_lengths": np.full(n, lens[2]),
        "regression_labels": np.round(rng.uniform(-scale, scale, n), 1).astype(np.float32),
        "classification_labels": np.zeros(n),
    }
    data["audio"][0, -1, :] = -np.inf  # MMSA pads audio with -inf
    data["vision"][1, 0, 0] = np.nan
    if sims:
        for t in "TAV":
            data[f"regression_labels_{t}"] = np.round(rng.uniform(-1, 1, (n, 1)), 1)  # [N, 1] float64
    return data


def _raw(kind=MOSI):
    rng = np.random.default_rng(0)
    sims = kind is SIMS
    sizes = {"train": 6, "valid": 3, "test": 3}
    raw = {s: _mmsa_split(rng, n, kind["dims"], kind["lens"], kind["scale"], sims) for s, n in sizes.items()}
    raw["train"]["regression_labels"][0] = 0.0
    if kind["scale"] > 1:
        raw["train"]["regression_labels"][1] = 2.6  # beyond ±1
    return raw


def _write(path, raw, protocol=pickle.DEFAULT_PROTOCOL):
    path.write_bytes(pickle.dumps(raw, protocol=protocol))
    return path


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_mosi_like_file_loads_cleaned_under_every_pickle_protocol(tmp_path, protocol):
    raw = _raw()
    ds = load_mmsa(_write(tmp_path / "aligned_50.pkl", raw, protocol))
    assert (ds.name, ds.metrics, ds.label_range) == ("mosi:aligned_50.pkl", "mosi", (-3.0, 3.0))
    assert ds.info["family_from"] == "feature sizes"
    assert ds.dims == {"text": 768, "audio": 5, "vision": 20}
    assert ds.info["cleaned"] == {"text": 0, "audio": 5 * 3, "vision": 3}  # a -inf row and a NaN per split
    assert ds.train.audio.dtype == np.float32 and np.isfinite(ds.train.audio).all()
    assert ds.train.audio[0, -1].tolist() == [0.0] * 5 and ds.train.vision[1, 0, 0] == 0.0
    np.testing.assert_array_equal(ds.train.audio[1], raw["train"]["audio"][1].astype(np.float32))
    assert ds.train.audio_lengths.tolist() == [1, 2, 3, 4, 5, 6] and ds.train.audio_lengths.dtype == np.int64
    assert ds.train.text_lengths.tolist() == [1, 2, 3, 4, 5, 6]  # from text_bert's attention mask
    assert ds.train.ids.tolist()[:2] == ["vid0$_$0", "vid1$_$1"] and ds.train.ids.dtype.kind == "U"
    assert ds.train.raw_text[2] == "utterance 2" and ds.train.labels_T is None
    np.testing.assert_array_equal(ds.test.labels, raw["test"]["regression_labels"])


def test_sims_like_file_is_detected_with_unimodal_labels(tmp_path):
    ds = load_mmsa(_write(tmp_path / "unaligned_39.pkl", _raw(SIMS)))
    assert (ds.metrics, ds.label_range) == ("sims", (-1.0, 1.0))
    assert ds.seq_lens == {"text": 6, "audio": 8, "vision": 5}
    assert ds.train.labels_V.shape == (6,) and ds.train.labels_T.dtype == np.float32
    assert ds.info["cleaned"]["audio"] == 33 * 3


def test_mosei_sizes_and_unknown_sizes_are_told_apart(tmp_path):
    raw = _raw({"dims": (768, 74, 35), "lens": (4, 4, 4), "scale": 3.0})
    assert load_mmsa(_write(tmp_path / "mosei.pkl", raw)).metrics == "mosei"
    odd = _raw({"dims": (16, 4, 4), "lens": (4, 4, 4), "scale": 3.0})
    ds = load_mmsa(_write(tmp_path / "odd.pkl", odd))
    assert (ds.metrics, ds.info["family_from"]) == ("mosi", "labels")  # labels beyond ±1
    sims_v2 = _raw({"dims": (768, 25, 177), "lens": (4, 4, 4), "scale": 1.0})
    for split in sims_v2.values():
        split["regression_labels_T"] = split["regression_labels"].copy()
    assert load_mmsa(_write(tmp_path / "sims2.pkl", sims_v2)).metrics == "sims"
    for split in sims_v2.values():
        del split["regression_labels_T"]
    with pytest.raises(MsmixError, match=r"cannot tell the dataset.*pass dataset="):
        load_mmsa(_write(tmp_path / "ambiguous.pkl", sims_v2))
    assert load_mmsa(tmp_path / "ambiguous.pkl", dataset="SIMS").info["family_from"] == "argument"


def test_explicit_dataset_overrides_detection_and_checks_the_range(tmp_path):
    path = _write(tmp_path / "f.pkl", _raw())
    assert load_mmsa(path, dataset="mosei").metrics == "mosei"
    with pytest.raises(MsmixError, match=r"split 'train', field 'labels': label 2.6 at index 1 is outside"):
        load_mmsa(path, dataset="sims")
    with pytest.raises(MsmixError, match=r"unknown dataset 'imdb'"):
        load_mmsa(path, dataset="imdb")


class _Shell:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _Open:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (builtins.open, (str(self.marker), "w"))


@pytest.mark.parametrize("payload", [_Shell, _Open])
@pytest.mark.parametrize("protocol", [2, 5])
def test_malicious_pickle_is_refused_before_anything_runs(tmp_path, payload, protocol):
    marker = tmp_path / "pwned"
    raw = _raw()
    raw["train"]["audio"] = payload(marker)  # deep inside an otherwise valid file
    path = _write(tmp_path / "evil.pkl", raw, protocol)
    with pytest.raises(MsmixError, match=r"refused to load: the pickle asks for '(posix|os|io|builtins)\."):
        load_mmsa(path)
    assert not marker.exists()


@pytest.mark.parametrize("value", [eval, getattr, np.load, pickle.loads, io.BytesIO])
def test_anything_but_numpy_data_is_refused(value):
    with pytest.raises(MsmixError, match="refused to load"):
        restricted_load(pickle.dumps({"x": value}))


class _Call:
    """Pickles as ``function(*args)``: how a crafted file calls an allowed global with arguments of its choice."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(1))[0]
BOMBS = {
    "bytes": _Call(bytes, 10**15),
    "bytearray": _Call(bytearray, 10**12),
    "ndarray": _Call(np.ndarray, (10**13,)),
    "ndarray float64": _Call(np.ndarray, (10**6, 10**6), np.dtype("f8")),
    "_reconstruct": _Call(_RECONSTRUCT, np.ndarray, (10**13,), b"b"),
    "just above the limit": _Call(bytes, DECLARED_SIZE_LIMIT + 1),
}


@pytest.mark.parametrize("protocol", [2, 5])
@pytest.mark.parametrize("bomb", BOMBS, ids=str)
def test_memory_bombs_are_refused_before_they_allocate(tmp_path, bomb, protocol):
    raw = _raw()
    raw["train"]["audio"] = BOMBS[bomb]  # a file of a few kB that would ask for terabytes
    path = _write(tmp_path / "bomb.pkl", raw, protocol)
    with pytest.raises(MsmixError, match=r"declares .* bytes, an impossible size") as error:
        load_mmsa(path)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("size", [2**62, 2**63 + 5])
def test_a_declared_length_beyond_memory_is_one_line(tmp_path, size):
    path = tmp_path / "long.pkl"
    path.write_bytes(b"\x80\x04\x8e" + size.to_bytes(8, "little") + b"abc.")  # BINBYTES8 of `size` bytes
    for source in (path, path.read_bytes()):
        with pytest.raises(MsmixError, match=r"declares an impossible size|is not a complete pickle") as error:
            load_mmsa(source)
        assert "\n" not in str(error.value)


def test_a_huge_memo_index_costs_nothing():
    # LONG_BINPUT 2**31 - 1: the C unpickler would grow its memo array to that index and zero gigabytes
    memo_bomb = b"\x80\x04]r\xff\xff\xff\x7f."
    assert restricted_load(memo_bomb) == []


@pytest.mark.parametrize(
    "state",
    [
        (1, (105,), np.dtype("O"), False, ["a", "b"]),  # fewer objects than the shape: numpy would crash
        (1, (4,), np.dtype("f4"), False, b"\x00" * 3),
        (1, (-2, -2), np.dtype("f4"), False, b"\x00" * 16),
        (1, (1,), np.dtype([("x", "O")]), False, [None]),
    ],
)
def test_array_states_numpy_never_writes_are_refused(state):
    class _Built:
        def __reduce__(self):
            return _RECONSTRUCT, (np.ndarray, (0,), b"b"), state

    with pytest.raises(MsmixError, match="refused to load"):
        restricted_load(pickle.dumps(_Built(), protocol=2))


def test_dtype_flags_from_a_pickle_are_refused():
    class _Flagged:  # float32 flagged as holding Python objects corrupts memory when used
        def __reduce__(self):
            return np.dtype, ("f4", False, True), (3, "<", None, None, None, -1, -1, 63)

    with pytest.raises(MsmixError, match="a state numpy never writes"):
        restricted_load(pickle.dumps(_Flagged(), protocol=2))


def test_allowed_globals_still_rebuild_what_numpy_and_python_pickle():
    value = {"b": b"abc", "ba": bytearray(b"xy"), "s": {1, 2}, "f": frozenset({3}), "c": 1j, "a": np.arange(4.0)}
    for protocol in (2, 3, 4, 5):
        loaded = restricted_load(pickle.dumps(value, protocol=protocol))
        assert {k: v for k, v in loaded.items() if k != "a"} == {k: v for k, v in value.items() if k != "a"}
        np.testing.assert_array_equal(loaded["a"], value["a"])
    assert restricted_load(pickle.dumps(_Call(bytes, 8), protocol=2)) == bytes(8)  # a small declared size is fine
    with pytest.raises(MsmixError, match=r"numpy\.matrix"):
        restricted_load(pickle.dumps(_Call(_RECONSTRUCT, np.matrix, (1,), b"b")))


def test_a_modality_that_is_all_nan_is_zeroed_with_a_warning(tmp_path):
    raw = _raw()
    raw["test"]["vision"] = np.full_like(raw["test"]["vision"], np.nan)
    with pytest.warns(MsmixWarning, match="split 'test': every vision value was NaN or infinite and is now 0"):
        ds = load_mmsa(_write(tmp_path / "f.pkl", raw))
    assert not ds.test.vision.any() and len(ds.info["warnings"]) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a few NaN (MMSA's usual padding) are cleaned without a word
        assert "warnings" not in load_mmsa(_write(tmp_path / "g.pkl", _raw())).info


def test_truncated_file_is_a_clear_error(tmp_path):
    data = _write(tmp_path / "f.pkl", _raw()).read_bytes()
    (tmp_path / "cut.pkl").write_bytes(data[: len(data) // 2])
    with pytest.raises(MsmixError, match=r"cut\.pkl is not a complete pickle"):
        load_mmsa(tmp_path / "cut.pkl")
    with pytest.raises(MsmixError, match="not a complete pickle"):
        load_mmsa(b"")


def _without(split, key):
    raw = _raw()
    del raw[split][key]
    return raw


def _replaced(split, key, value):
    raw = _raw()
    raw[split][key] = value(raw[split][key])
    return raw


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (_without("valid", "regression_labels"), r"split 'valid' has no 'regression_labels'"),
        (_without("test", "vision"), r"split 'test' has no 'vision'"),
        (_replaced("test", "audio", lambda a: a[:, :, 0]), r"split 'test', field 'audio': expected 3-d numbers"),
        (_replaced("train", "text", lambda a: a.astype(str)), r"split 'train', field 'text': expected 3-d numbers"),
        (_replaced("valid", "regression_labels", lambda y: y[:2]), r"'regression_labels' has 2 entries but 'text' has"),
        (_replaced("valid", "audio_lengths", lambda n: [99] * 3), r"split 'valid', field 'audio_lengths': length 99"),
        (_replaced("train", "id", lambda i: i[:1]), r"split 'train': 'id' has 1 entries but 'text' has 6"),
        (_replaced("test", "raw_text", lambda t: [["a", "b"]] * 3), r"field 'raw_text': expected 1-d entries"),
        (_replaced("train", "audio", lambda a: [[1.0], [1.0, 2.0]]), r"field 'audio': not a rectangular"),
        ({"train": {}, "valid": {}}, r"has no 'test' split \(top-level keys: \['train', 'valid'\]\)"),
        ([1, 2, 3], r"holds a list, not an MMSA feature file"),
    ],
)
def test_wrong_schema_names_the_key_or_shape(raw, message):
    with pytest.raises(MsmixError, match=message):
        load_mmsa(pickle.dumps(raw))


def test_token_ids_only_file_explains_what_is_missing():
    raw = _raw()
    for split in raw.values():
        del split["text"]
    with pytest.raises(MsmixError, match="has only 'text_bert', which holds BERT token ids, not features"):
        load_mmsa(pickle.dumps(raw))


def test_optional_fields_may_be_absent():
    raw = _raw()
    for split in raw.values():
        for key in ("id", "raw_text", "text_bert", "audio_lengths", "vision_lengths"):
            del split[key]
    ds = load_mmsa(pickle.dumps(raw))
    assert ds.valid.ids.tolist() == ["valid_0", "valid_1", "valid_2"]
    assert ds.train.raw_text is None and ds.train.text_lengths is None and ds.train.audio_lengths is None


def test_uploaded_bytes_and_file_objects_load_like_a_path(tmp_path):
    data = pickle.dumps(_raw())
    upload = io.BytesIO(data)
    upload.name = "aligned_50.pkl"
    from_file = load_mmsa(upload)
    assert from_file.name == "mosi:aligned_50.pkl" and len(from_file.train) == 6
    np.testing.assert_array_equal(load_mmsa(data).train.audio, from_file.train.audio)


def _assert_identical(a, b):
    assert (a.name, a.metrics, a.label_range, a.info) == (b.name, b.metrics, b.label_range, b.info)
    for split in SPLITS:
        arrays_a, arrays_b = a.splits[split].arrays(), b.splits[split].arrays()
        assert arrays_a.keys() == arrays_b.keys()
        for key, value in arrays_a.items():
            assert value.dtype == arrays_b[key].dtype, key
            np.testing.assert_array_equal(value, arrays_b[key], err_msg=key)


@pytest.mark.parametrize("kind", [MOSI, SIMS])
def test_converted_npz_gives_identical_arrays(tmp_path, kind):
    original = convert_to_npz(_write(tmp_path / "f.pkl", _raw(kind)), tmp_path / "out" / "f.npz")
    _assert_identical(original, load_dataset(tmp_path / "out" / "f.npz"))
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["f.npz"]  # no temporary file left behind


def test_synthetic_npz_round_trip_keeps_extras_lengths_and_config(tmp_path):
    ds = make_synthetic(n_train=10, n_valid=4, n_test=4, seed=2, min_valid_frac=0.5)
    written = save_npz(ds, tmp_path / "s.data")  # the path is kept exactly as given
    assert written == tmp_path / "s.data" and written.is_file()
    again = load_npz(written)
    _assert_identical(ds, again)
    assert load_npz(io.BytesIO(written.read_bytes())).train.extras.keys() == ds.train.extras.keys()


def test_npz_loader_refuses_pickled_objects(tmp_path):
    path = tmp_path / "obj.npz"
    np.savez(path, __meta__=np.array("{}"), **{"train/text": np.array([{"a": 1}], dtype=object)})
    with pytest.raises(MsmixError, match="holds pickled objects"):
        load_npz(path)


def _npz(tmp_path, edit):
    ds = make_synthetic(n_train=4, n_valid=2, n_test=2)
    path = save_npz(ds, tmp_path / "d.npz")
    with np.load(path) as data:
        contents = {k: data[k] for k in data.files}
    edit(contents)
    np.savez(path, **contents)
    return path


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c.pop("__meta__"), "is not an msmix dataset"),
        (lambda c: c.update(__meta__=np.array("{oops")), "is not valid JSON"),
        (lambda c: c.update(__meta__=np.array('{"format": "other"}')), "has format 'other'"),
        (lambda c: c.pop("valid/labels"), r"split 'valid' lacks \['labels'\]"),
        (lambda c: c.update({"test/colour": c["test/labels"]}), "split 'test' has an unknown field"),
        (lambda c: c.update({"test/labels": c["test/labels"] * 9}), "split 'test', field 'labels': label"),
    ],
)
def test_npz_errors_say_what_is_wrong(tmp_path, edit, message):
    with pytest.raises(MsmixError, match=message):
        load_npz(_npz(tmp_path, edit))


def test_npz_entry_declaring_more_than_it_holds_is_refused_before_numpy_allocates(tmp_path):
    path = tmp_path / "d.npz"
    save_npz(make_synthetic(n_train=4, n_valid=2, n_test=2), path)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (10**12,)})
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("train/extras/huge.npy", header.getvalue() + bytes(64))  # 4 TB declared, 64 bytes held
    with pytest.raises(MsmixError, match=r"'train/extras/huge\.npy' declares an impossible size"):
        load_npz(path)


def test_npz_loader_refuses_non_zip_files(tmp_path):
    (tmp_path / "x.npz").write_bytes(b"not a zip")
    with pytest.raises(MsmixError, match=r"is not a readable \.npz file"):
        load_npz(tmp_path / "x.npz")


def test_save_npz_refuses_info_that_is_not_json(tmp_path):
    ds = make_synthetic(n_train=4, n_valid=2, n_test=2)
    ds.info["when"] = object()
    with pytest.raises(MsmixError, match="JSON"):
        save_npz(ds, tmp_path / "d.npz")
    assert not list(tmp_path.iterdir())


def test_load_dataset_dispatches_on_the_source(tmp_path):
    ds = load_dataset("synthetic:mosi", seed=1, n_train=4, n_valid=2, n_test=2)
    assert ds.name.startswith("synthetic:mosi (seed=1,") and ds.info["seed"] == 1 and ds.dims["text"] == 768
    assert (
        load_dataset("synthetic", n_train=4, n_valid=2, n_test=2).name
        == "synthetic:small (n_train=4, n_valid=2, n_test=2)"
    )
    path = _write(tmp_path / "F.PICKLE", _raw())
    assert load_dataset(str(path), dataset="mosei").metrics == "mosei"


@pytest.mark.parametrize(
    ("source", "kwargs", "message"),
    [
        ("nope.pkl", {}, "no such file: nope.pkl"),
        ("synthetic:huge", {}, "unknown synthetic preset"),
        ("synthetic", {"colour": 1}, "unknown synthetic knob"),
    ],
)
def test_load_dataset_errors(source, kwargs, message):
    with pytest.raises(MsmixError, match=message):
        load_dataset(source, **kwargs)


def test_a_folder_is_a_folder_not_a_missing_file(tmp_path):
    folder = tmp_path / "MOSI.pkl"
    folder.mkdir()
    for load in (load_dataset, load_mmsa, load_npz):
        with pytest.raises(MsmixError, match=r"MOSI\.pkl is a folder, not a file"):
            load(folder)


def test_load_dataset_refuses_unknown_suffixes_and_options(tmp_path):
    (tmp_path / "x.csv").write_text("a,b")
    with pytest.raises(MsmixError, match=r"unknown file type '\.csv'"):
        load_dataset(tmp_path / "x.csv")
    save_npz(make_synthetic(n_train=4, n_valid=2, n_test=2), tmp_path / "d.npz")
    with pytest.raises(MsmixError, match="takes no options"):
        load_dataset(tmp_path / "d.npz", seed=3)
    with pytest.raises(MsmixError, match="only the option 'dataset'"):
        load_dataset(_write(tmp_path / "f.pkl", _raw()), seed=3)
