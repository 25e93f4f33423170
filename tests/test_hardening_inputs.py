"""What a careless or hostile input may cost: uploads that inflate, crafted metadata, pickles that build one object
many times, addresses where nothing listens (issue 21, points 8 to 10)."""

import io
import json
import os
import pickle
import tempfile
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from helpers import ROOT

from msmix_core.cli import main
from msmix_core.data import load_dataset, load_mmsa, load_npz, make_synthetic, save_npz
from msmix_core.errors import MsmixError
from msmix_core.limits import MEMORY_LIMIT_ENV, memory_limit
from msmix_core.training.ray_executor import ray_head


def test_the_memory_limit_comes_from_the_environment_or_the_machine(monkeypatch):
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "512M")
    assert memory_limit() == 512 << 20
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "2.5G")
    assert memory_limit() == int(2.5 * (1 << 30))
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "lots")
    with pytest.raises(MsmixError, match="give bytes, or a size such as 512M"):
        memory_limit()
    monkeypatch.delenv(MEMORY_LIMIT_ENV)
    assert memory_limit() > 0


def _saved(dataset) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        return save_npz(dataset, Path(folder) / "data.npz").read_bytes()


def _zeros_npz(megabytes: int) -> bytes:
    """A valid msmix .npz whose train text is all zeros: a few hundred KB that inflate to ``megabytes`` MB."""
    buffer = io.BytesIO()
    source = io.BytesIO(_saved(make_synthetic(seed=0, n_train=16, n_valid=8, n_test=8)))
    with zipfile.ZipFile(source) as source, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bomb:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "train/text.npy":
                array = np.zeros((16, megabytes << 14, 1), np.float32)  # 16 × 2^14 × 4 bytes = 1 MiB per MB asked
                out = io.BytesIO()
                np.save(out, array)
                data = out.getvalue()
            bomb.writestr(info.filename, data)
    return buffer.getvalue()


def test_an_npz_that_would_inflate_beyond_the_limit_is_refused_before_it_is_read(monkeypatch):
    payload = _zeros_npz(64)
    assert len(payload) < 1 << 20  # under a megabyte on the wire
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "32M")
    tracemalloc.start()
    try:
        with pytest.raises(MsmixError, match=r"the uploaded file's arrays would take 0\.1 GiB, more than the 0\.0 GiB"):
            load_npz(payload)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20  # nothing was inflated
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "1G")
    with pytest.raises(MsmixError, match="every split needs the same time steps"):  # within the limit: read, checked
        load_npz(payload)


def _with_meta(meta) -> bytes:
    with np.load(io.BytesIO(_saved(make_synthetic(seed=0, n_train=16, n_valid=8, n_test=8)))) as data:
        arrays = {key: data[key] for key in data.files}
    arrays["__meta__"] = meta if isinstance(meta, np.ndarray) else np.array(json.dumps(meta))
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


GOOD_META = {"format": "msmix-npz-1", "name": "x", "label_range": [-3, 3], "metrics": "mosi", "info": {}}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"label_range": ["a", "b"]}, "'label_range' must be [low, high], two numbers that float32 holds"),
        ({"label_range": [-1e308, 1e308]}, "'label_range' must be [low, high], two numbers that float32 holds"),
        ({"label_range": [0, 10**400]}, "'label_range' must be"),
        ({"label_range": [1.0, 1.00000001]}, "'label_range' must be"),  # one float32: an empty range
        ({"label_range": [3, -3]}, "'label_range' must be"),
        ({"label_range": [0, float("inf")]}, "'label_range' must be"),
        ({"label_range": [True, 2]}, "'label_range' must be"),
        ({"label_range": {"low": 0}}, "'label_range' must be"),
        ({"name": 5}, "'name' must be a string"),
        ({"name": ""}, "'name' must be a string"),
        ({"metrics": ["mosi"]}, "'metrics' must be one of"),
        ({"metrics": "imdb"}, "'metrics' must be one of"),
        ({"info": [1]}, "'info' must be a dict"),
        ({"info": {"a": json.loads("[" * 100 + "]" * 100)}}, "nests deeper than 32 levels"),
    ],
)
def test_crafted_npz_metadata_is_one_error_naming_the_field(change, message):
    with pytest.raises(MsmixError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_npz(_with_meta(GOOD_META | change))


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        (np.array("[" * 100_000 + "]" * 100_000), "nests deeper than 32 levels"),  # beyond Python's recursion limit
        (np.zeros(3), "is a float64 array, not a JSON string"),
        (np.array('{"format": "msmix-npz-1", "x": 1' + "0" * 5000 + "}"), "is not valid JSON"),
    ],
)
def test_a_meta_entry_that_is_not_a_json_object_is_one_error(meta, message):
    with pytest.raises(MsmixError, match=message):
        load_npz(_with_meta(meta))


@pytest.mark.parametrize("suffix", [".npz", ".pkl", ""])
def test_a_dataset_path_that_is_a_fifo_is_named_not_missing(tmp_path, suffix):
    fifo = tmp_path / f"data{suffix}"
    os.mkfifo(fifo)
    with pytest.raises(MsmixError, match=r"data(\.npz|\.pkl)? is a FIFO, not a file"):
        load_dataset(str(fifo))


def test_a_crafted_npz_through_the_cli_is_one_line(tmp_path, capsys):
    path = tmp_path / "crafted.npz"
    path.write_bytes(_with_meta(GOOD_META | {"label_range": ["a", "b"]}))
    assert main(["train", "--dataset", str(path), "--runs-dir", str(tmp_path / "runs"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'label_range' must be" in err


def _memo_bomb(copies: int, size: int) -> bytes:
    """A pickle that spells ``size`` bytes out once and then builds ``copies`` arrays from them through its memo."""
    data = pickle.dumps(np.zeros(size // 8), protocol=2)
    one = pickle.loads(data)
    return pickle.dumps(
        {"train": {"text": [one] * copies}, "valid": {}, "test": {}}, protocol=2
    )  # pickle memoises: one copy on disk


def test_a_pickle_that_builds_one_array_many_times_is_refused_within_the_limit(monkeypatch):
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "64M")
    payload = _memo_bomb(copies=1000, size=1 << 20)  # 1 MiB on disk, 1 GiB once np.asarray stacks the copies
    assert len(payload) < 2 << 20
    with pytest.raises(MsmixError, match=r"field 'text' holds more than 8,388,608 numbers, more than one input"):
        load_mmsa(payload)


def test_nested_lists_shared_through_the_memo_are_refused_before_numpy_stacks_them(monkeypatch):
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "64M")
    nested: list = [0.0, 0.0]
    for _ in range(40):  # 2^40 numbers from a pickle of a few hundred bytes
        nested = [nested, nested]
    payload = pickle.dumps({"train": {"text": nested}, "valid": {}, "test": {}}, protocol=2)
    assert len(payload) < 1000
    start = time.monotonic()
    with pytest.raises(MsmixError, match=r"split 'train', field 'text' holds more than"):
        load_mmsa(payload)
    assert time.monotonic() - start < 10


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("ray://head:10001", r"Ray Client \(ray://\) is not supported"),
        ("head", "give auto or the HOST:PORT"),
        ("head:0", "give auto or the HOST:PORT"),
        ("head:99999", "give auto or the HOST:PORT"),
        (":6379", "give auto or the HOST:PORT"),
        ("a b:1", "give auto or the HOST:PORT"),
        ("-head:6379", "give auto or the HOST:PORT"),
        ("head..lan:6379", "give auto or the HOST:PORT"),
        ("[head]:6379", "give auto or the HOST:PORT"),
    ],
)
def test_a_ray_address_is_checked_before_anything_runs(address, message):
    with pytest.raises(MsmixError, match=message):
        ray_head(address)
    assert ray_head("auto") is None and ray_head(None) is None and ray_head("[::1]:6379") == ("::1", 6379)
    assert ray_head("head-1.lan:6379") == ("head-1.lan", 6379) and ray_head("10.0.0.5:6379") == ("10.0.0.5", 6379)


def test_a_ray_address_where_nothing_listens_is_one_line_at_once(tmp_path, capsys):
    start = time.monotonic()
    argv = ["train", "--ray", "127.0.0.1:1", "--epochs", "1", "--runs-dir", str(tmp_path), "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert time.monotonic() - start < 30
    assert err.count("\n") == 1 and err.startswith("msmix: error: --ray 127.0.0.1:1: no Ray head answers there")


def test_the_upload_limit_is_where_streamlit_reads_it():
    """Under [runner] Streamlit warned at every start and kept its 200 MB default."""
    import tomllib

    from streamlit import config

    text = (ROOT / ".streamlit" / "config.toml").read_text()
    settings = tomllib.loads(text)
    assert settings["server"]["maxUploadSize"] == 2000
    for section, options in settings.items():
        for option in options:
            assert f"{section}.{option}" in config._config_options_template, f"[{section}] {option} is not Streamlit's"


# --- numbers that pass a range check and then crash or allocate; outputs checked before training (point 12) --


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "tiny.npz"
    save_npz(make_synthetic(seed=0, n_train=32, n_valid=16, n_test=16), path)
    return str(path)


SLOW = pytest.mark.slow  # the partners command imports UMAP and the encoder first
MANY = str(4 * (os.cpu_count() or 1) + 1)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--threads", "100000000"], "threads must be an integer >= 1 and at most"),
        (["train", "--threads", MANY], "per core on this machine"),
        (["train", "--workers", "100000", "--seeds", "1", "2"], "workers must be an integer >= 1 and at most"),
        (["tune", "--threads", "100000000", "--trials", "1"], "threads must be an integer >= 1 and at most"),
        (["sweep", "--knob", "msmix.alpha=1:2:100000000"], "COUNT must be an integer from 2 to 1000"),
        (
            ["sweep", "--knob", "msmix.alpha=1:2:1000", "--knob", "msmix.threshold=0.1:0.9:1000"],
            "1,000,000 combinations",
        ),
        (["sweep", "--knob", "msmix.alpha=1:2:1000", "--seeds", *map(str, range(11))], "11,000 runs"),
        (["train", "--backbone-set", "text_hidden=1000000000"], "must be an integer >= 1 and at most 16,777,216"),
        (["train", "--method", "msmix", "--set", "alpha=1e308"], "knob alpha must be a number in [0.001, 10000]"),
        (["train", "--method", "mixup", "--set", "alpha=1e300"], "knob alpha must be a number in [0.001, 10000]"),
        (["train", "--backbone", "misa", "--backbone-set", "sim_weight=1e300"], "must be a number in [0, 1000]"),
        (["train", "--lr", "1e300"], "TrainConfig.lr must be a number in (0, 10]"),
        (
            ["train", "--method", "multimix", "--set", "num_mix=1000000000000"],
            "num_mix must be an integer in [1, 10000]",
        ),
        (["train", "--method", "msmix", "--set", "num_heads=1000000000"], "num_heads must be an integer in [1, 1024]"),
        (["sweep", "--knob", "msmix.alpha=1,1e300"], "msmix.alpha must be a number in [0.001, 10000]"),
        (
            [
                "train",
                "--backbone",
                "tfn",
                "--backbone-set",
                "text_out=100000",
                "--backbone-set",
                "post_fusion_dim=100000",
            ],
            "parameters) would take",
        ),
        pytest.param(
            ["partners", "--top-k", "1000"], "--top-k 1000: the train split has 32 samples, so at most 31", marks=SLOW
        ),
        (["partners", "--seed", str(2**63)], "is not a seed: give an integer from 0 to"),
        (["robustness", "x", "--seed", "-1"], "is not a seed"),
        (["train", "--seeds", "1", "100000000000000000000000"], "is not a seed"),
        (["tune", "--trial-seed", "1e3"], "is not a seed"),
        (["train", "--out", "{tmp}/folder.csv"], "there is a folder or a device of that name"),
        (["train", "--out", "{tmp}/fifo.md"], "there is a folder or a device of that name"),
        (["train", "--out", "/proc/table.csv"], "cannot write in /proc"),
        (["train", "--out", "{tmp}/file.csv/table.csv"], "is a file, so no folder can be made there"),
        (["train", "--out", "{tmp}/t.csv", "{tmp}/./t.csv"], "a file is given more than once"),
        (["sweep", "--knob", "msmix.alpha=1,2", "--plot", "{tmp}/folder.html"], "--plot"),
        (["partners", "--out", "{tmp}/folder.csv"], "there is a folder or a device of that name"),
        (["robustness", "x", "--out", "{tmp}/folder.csv"], "there is a folder or a device of that name"),
    ],
)
def test_sizes_and_outputs_are_refused_before_any_training(capsys, tmp_path, tiny_file, argv, message):
    (tmp_path / "file.csv").write_text("")
    for folder in ("folder.csv", "folder.html"):
        (tmp_path / folder).mkdir()
    os.mkfifo(tmp_path / "fifo.md")
    argv = [a.format(tmp=tmp_path) for a in argv]
    common = ["--dataset", tiny_file, "--device", "cpu"]
    if argv[0] != "partners":
        common += ["--runs-dir", str(tmp_path / "runs")]
    if argv[0] not in ("partners", "robustness"):
        common += ["--epochs", "1", "--quiet"]
    start = time.monotonic()
    try:
        code = main([*argv, *common])
    except SystemExit as usage:  # argparse's own errors: one line too
        code = usage.code
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "runs").exists()  # nothing trained
    assert time.monotonic() - start < 30


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "sizes"), [("tfn", {"text_out": 100_000, "post_fusion_dim": 100_000}), ("glomo", {"d_model": 1_000_000})]
)
def test_backbone_sizes_beyond_memory_are_refused_before_anything_is_allocated(name, sizes):
    """TFN is weighed on the meta device; GLoMo's constructor reads a value, so each size knob counts as a square."""
    from msmix_core.models.registry import build_backbone

    tracemalloc.start()
    try:
        with pytest.raises(MsmixError, match=f"backbone '{name}' with .* parameters\\) would take"):
            build_backbone(name, {"text": 6, "audio": 5, "vision": 4}, {"text": 7, "audio": 9, "vision": 6}, **sizes)
        assert tracemalloc.get_traced_memory()[1] < 64 << 20
    finally:
        tracemalloc.stop()
