"""The real CMU-MOSI utterance release: joins, splits, z-scoring, training fraction, errors, the .npz round trip.

Reads the shared copy beside the checkout; broken copies are built in a temporary folder at test time.
"""

import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from helpers import MOSI_DIR, needs_mosi

from msmix_core.cli import main
from msmix_core.data import SPLITS, load_dataset, load_npz
from msmix_core.data.mosi_utterance import (
    ENV_VAR,
    FEATURE_FILES,
    LABELS,
    TRANSCRIPTS,
    find_mosi_folder,
    load_mosi_utterance,
    parse_source,
    source_string,
)
from msmix_core.errors import MsmixError

pytestmark = needs_mosi


def _load(**kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the standard split's leak warning has its own test
        return load_mosi_utterance(MOSI_DIR, **kwargs)


@pytest.fixture(scope="module")
def speaker():
    return _load()


@pytest.fixture(scope="module")
def standard():
    return _load(split="standard")


def _videos(split):
    return set(split.extras["video"].tolist())


def test_all_utterances_and_videos_join(speaker):
    ids = np.concatenate([speaker.splits[s].ids for s in SPLITS])
    assert len(ids) == len(set(ids)) == 2199
    assert len(set().union(*(_videos(speaker.splits[s]) for s in SPLITS))) == 93
    assert speaker.dims == {"text": 100, "audio": 73, "vision": 100} and speaker.seq_lens == dict.fromkeys(
        ("text", "audio", "vision"), 1
    )
    assert speaker.metrics == "mosi" and speaker.label_range == (-3.0, 3.0)


def test_a_known_utterance_has_its_transcript_score_and_video(speaker):
    test = speaker.test  # a video of the feature authors' test part
    row = int(np.flatnonzero(test.ids == "03bSnISJMiM_1")[0])
    assert test.raw_text[row] == "ANYHOW IT WAS REALLY GOOD"
    assert test.labels[row] == np.float32(2.4)
    assert test.extras["video"][row] == "03bSnISJMiM"


@pytest.mark.parametrize(
    ("fixture", "sizes"), [("speaker", None), ("standard", {"train": 1284, "valid": 229, "test": 686})]
)
def test_split_sizes_and_no_video_in_two_splits(request, fixture, sizes):
    dataset = request.getfixturevalue(fixture)
    got = {s: len(dataset.splits[s]) for s in SPLITS}
    if sizes is None:
        assert got["train"] + got["valid"] == 1447 and got["test"] == 752
        assert len(_videos(dataset.valid)) == 8 and len(_videos(dataset.train)) == 54
    else:
        assert got == sizes
    for a, b in (("train", "valid"), ("train", "test"), ("valid", "test")):
        assert not _videos(dataset.splits[a]) & _videos(dataset.splits[b])
    speakers = {s: set(dataset.splits[s].extras["speaker"].tolist()) for s in SPLITS}
    assert not speakers["train"] & speakers["test"]
    assert dataset.info["sizes"] == got


def test_valid_is_the_same_whole_videos_for_every_seed_and_fraction(speaker):
    small = _load(train_fraction=0.3, seed=5)
    np.testing.assert_array_equal(small.valid.ids, speaker.valid.ids)
    np.testing.assert_array_equal(small.test.ids, speaker.test.ids)


def test_features_are_z_scored_with_train_statistics_only(speaker):
    for m in ("text", "audio", "vision"):
        x = speaker.train.modality(m)[:, 0].astype(np.float64)
        assert x.dtype.kind == "f" and speaker.train.modality(m).dtype == np.float32
        np.testing.assert_allclose(x.mean(axis=0), 0, atol=1e-4)
        std = x.std(axis=0)
        assert np.all((np.abs(std - 1) < 1e-3) | (std == 0))  # a constant feature is only centred
        stats = speaker.info["zscore"][m]
        assert len(stats["mean"]) == len(stats["std"]) == speaker.dims[m] and min(stats["std"]) > 0
    raw_pitch_mean = speaker.info["zscore"]["audio"]["mean"][0]
    assert raw_pitch_mean > 50  # audio's first column is pitch in Hz: the stored statistics are the raw ones
    assert abs(speaker.test.text[:, 0].mean()) > 1e-3  # test is scaled with train's numbers, not its own


def test_train_fraction_is_a_seeded_subset_of_whole_videos(speaker):
    a, b, c = _load(train_fraction=0.25, seed=3), _load(train_fraction=0.25, seed=3), _load(train_fraction=0.25, seed=4)
    np.testing.assert_array_equal(a.train.ids, b.train.ids)
    np.testing.assert_array_equal(a.train.text, b.train.text)
    assert _videos(a.train) != _videos(c.train)
    assert len(_videos(a.train)) == round(0.25 * 54) and _videos(a.train) <= _videos(speaker.train)
    full = speaker.train
    kept = np.isin(full.extras["video"], list(_videos(a.train)))
    assert kept.sum() == len(a.train)  # every utterance of a kept video stays
    np.testing.assert_allclose(a.train.text[:, 0].mean(axis=0), 0, atol=1e-4)  # statistics of the kept part
    assert a.name != speaker.name and a.info["train_fraction"] == 0.25 and a.info["seed"] == 3
    tiny = _load(train_fraction=0.1)
    assert len(_videos(tiny.train)) >= 1


def test_standard_split_warns_and_flags_the_leak(speaker):
    with pytest.warns(UserWarning, match="leak"):
        dataset = load_mosi_utterance(MOSI_DIR, split="standard")
    assert dataset.info["leaky_split"] is True and "leak" in dataset.info["split_note"]
    assert speaker.info["leaky_split"] is False
    assert "standard" in dataset.name and "speaker" in speaker.name


def test_source_spelling_with_options():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = load_dataset(f"mosi-utterance:{MOSI_DIR}?split=standard&train_fraction=0.5&seed=2")
    assert (dataset.info["split"], dataset.info["train_fraction"], dataset.info["seed"]) == ("standard", 0.5, 2)
    spelled = source_string(MOSI_DIR, "standard", 0.5, 2)
    assert parse_source(spelled) == (MOSI_DIR, {"split": "standard", "train_fraction": 0.5, "seed": 2})
    assert source_string(MOSI_DIR) == f"mosi-utterance:{MOSI_DIR}"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("mosi-utterance:{dir}?splt=standard", "valid options are"),
        ("mosi-utterance:{dir}?split=random", "unknown MOSI split"),
        ("mosi-utterance:{dir}?train_fraction=0.05", r"train_fraction must lie in \[0.1, 1.0\]"),
        ("mosi-utterance:{dir}?train_fraction=half", "not a float"),
        ("mosi-utterance:{dir}?seed=-1", "seed must be"),
        ("mosi-utterance:", "names no folder"),
        ("mosi-utterance:{dir}?split", "write options as"),
        ("mosi-utterance:{dir}?split=standard&split=speaker", "option 'split' is given twice"),
        ("mosi-utterance:{dir}?seed=1&train_fraction=0.5&seed=1", "option 'seed' is given twice"),
        ("mosi-utterance:/no/such/folder", "declare-lab/contextual-utterance-level"),
        ("{dir}", "give it as 'mosi-utterance:"),
    ],
)
def test_bad_sources_say_what_to_write(source, message):
    with pytest.raises(MsmixError, match=message):
        load_dataset(source.format(dir=MOSI_DIR))


def test_find_mosi_folder_prefers_explicit_then_environment(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert find_mosi_folder(MOSI_DIR) == MOSI_DIR.resolve()
    assert find_mosi_folder() == MOSI_DIR.resolve()  # beside the checkout
    copy = tmp_path / "mosi"
    (copy / TRANSCRIPTS).parent.mkdir(parents=True)
    (copy / TRANSCRIPTS).write_text('"a_1","HI","1","1"\n')
    monkeypatch.setenv(ENV_VAR, str(copy))
    assert find_mosi_folder() == copy.resolve()
    assert find_mosi_folder(tmp_path / "empty") is None  # a typed path is never silently replaced


# --- broken copies: each gives one clear error naming the file and the line ---------------------------------


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines(keepends=True)


def _drop_last(path):
    path.write_text("".join(_lines(path)[:-3]))


def _cut_mid_line(path):
    text = path.read_text()
    path.write_text(text[: len(text) - len(_lines(path)[-1]) // 2])


def _short_last_line(path):
    lines = _lines(path)
    lines[-1] = ",".join(lines[-1].split(",")[:-10]) + "\n"
    path.write_text("".join(lines))


def _garbage_cell(path):
    lines = _lines(path)
    fields = lines[6].split(",")
    fields[4] = '"abc"'
    lines[6] = ",".join(fields)
    path.write_text("".join(lines))


def _duplicate_id(path):
    lines = _lines(path)
    first = lines[3].split(",")[0]
    lines[4] = ",".join([first, *lines[4].split(",")[1:]])
    path.write_text("".join(lines))


def _flip_last_column(path):
    lines = _lines(path)
    fields = lines[9].rstrip("\n").split(",")
    fields[-1] = '"0"' if fields[-1].strip('"') == "1" else '"1"'
    lines[9] = ",".join(fields) + "\n"
    path.write_text("".join(lines))


def _remove_score_of_known(path):
    path.write_text("".join(line for line in _lines(path) if ",03bSnISJMiM,1," not in line))


def _huge_transcript(path):
    lines = _lines(path)
    fields = lines[11].split(",")
    fields[1] = "word " * 4_000_000  # 20 MB: padded to every row, 2,199 rows would ask for 164 GiB
    lines[11] = ",".join(fields)
    path.write_text("".join(lines))


def _huge_cell(path):
    lines = _lines(path)
    fields = lines[2].split(",")
    fields[3] = "1e308"  # finite, but z-scoring it overflows
    lines[2] = ",".join(fields)
    path.write_text("".join(lines))


def _binary_junk(path):
    path.write_bytes(bytes(range(256)) * 4)


def _empty(path):
    path.write_text("")


def _fifo(path):
    path.unlink()
    os.mkfifo(path)


def _folder(path):
    path.unlink()
    path.mkdir()


AUDIO_TRAIN = FEATURE_FILES[("train", "audio")]
VIDEO_TEST = FEATURE_FILES[("test", "vision")]
TEXT_TRAIN = FEATURE_FILES[("train", "text")]
TEXT_TEST = FEATURE_FILES[("test", "text")]


@pytest.mark.parametrize(
    ("relative", "damage", "message"),
    [
        (AUDIO_TRAIN, Path.unlink, r"missing file .*audio_train0\.csv.*declare-lab/contextual"),
        (AUDIO_TRAIN, _drop_last, r"audio_train0\.csv has 1444 rows but .*text_train\.csv has 1447"),
        (VIDEO_TEST, _cut_mid_line, r"video_test0\.csv is not a readable CSV, a truncated file\? .*at line 752"),
        (VIDEO_TEST, _short_last_line, r"video_test0\.csv, line 752, column 92: not a number \(or missing"),
        (TEXT_TRAIN, _garbage_cell, r"text_train\.csv, line 7, column 5: not a number"),
        (TEXT_TEST, _duplicate_id, r"appears twice: .*text_test\.csv line 4 and .*text_test\.csv line 5"),
        (TRANSCRIPTS, _duplicate_id, r"transcripts\.csv: id '.*' appears twice \(lines 4 and 5\)"),
        (LABELS, _remove_score_of_known, r"text_test\.csv, line \d+: utterance '03bSnISJMiM_1' has no score in"),
        (AUDIO_TRAIN, _flip_last_column, r"audio_train0\.csv, line 10: binary label \d of '.*' disagrees with"),
        (TRANSCRIPTS, _flip_last_column, r"transcripts\.csv, line 10: binary label \d of '.*' disagrees"),
        (LABELS, _binary_junk, r"OpinionLevelSentiment\.csv"),
        (TRANSCRIPTS, _huge_transcript, r"transcripts\.csv, line 12: a transcript of 20,000,000 characters, more than"),
        (AUDIO_TRAIN, _huge_cell, r"the audio features: feature 4 holds values so large \(up to 1e\+308\)"),
        (TEXT_TEST, _empty, r"text_test\.csv is empty"),
        ("standard_folds.json", _empty, r"standard_folds\.json is not valid JSON"),
        (TRANSCRIPTS, _fifo, r"transcripts\.csv is a FIFO, not a file: the CMU-MOSI"),  # named, never waited on
        (TRANSCRIPTS, _folder, r"transcripts\.csv is a folder, not a file"),
        ("standard_folds.json", _fifo, r"standard_folds\.json is a FIFO, not a file: it lists"),
    ],
)
def test_a_broken_folder_gives_one_clear_error(tmp_path, relative, damage, message):
    copy = tmp_path / "mosi"
    shutil.copytree(MOSI_DIR, copy)
    (copy / relative).chmod(0o644)
    damage(copy / relative)
    with pytest.raises(MsmixError, match=message) as caught, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        load_mosi_utterance(copy, split="standard" if relative.endswith(".json") else "speaker")
    assert "Traceback" not in str(caught.value)


# --- the safe .npz -------------------------------------------------------------------------------------------


def test_convert_writes_an_npz_with_identical_contents(tmp_path, capsys, speaker):
    destination = tmp_path / "mosi.npz"
    assert main(["convert", f"mosi-utterance:{MOSI_DIR}", str(destination)]) == 0
    assert "train 1185" in capsys.readouterr().out
    loaded = load_npz(destination)
    assert (loaded.name, loaded.info, loaded.label_range) == (speaker.name, speaker.info, speaker.label_range)
    for s in SPLITS:
        ours, theirs = speaker.splits[s].arrays(), loaded.splits[s].arrays()
        assert ours.keys() == theirs.keys()
        for key, value in ours.items():
            np.testing.assert_array_equal(theirs[key], value, err_msg=f"{s}/{key}")
            assert theirs[key].dtype == value.dtype, f"{s}/{key}"


def test_convert_of_a_bare_folder_suggests_the_prefix(tmp_path, capsys):
    assert main(["convert", str(MOSI_DIR), str(tmp_path / "x.npz")]) == 2
    assert f"give it as 'mosi-utterance:{MOSI_DIR}'" in capsys.readouterr().err
    assert not (tmp_path / "x.npz").exists()


def test_convert_of_the_standard_split_warns_on_one_line(tmp_path, capsys):
    assert main(["convert", f"mosi-utterance:{MOSI_DIR}?split=standard", str(tmp_path / "s.npz")]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("msmix: warning:") and "leak" in err[0]
