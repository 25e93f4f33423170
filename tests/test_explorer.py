"""The pair explorer's filter and names, and the encoder-training replay (msmix_core.analysis.explorer, .replay)."""

import numpy as np
import pandas as pd
import pytest
import torch
from test_analysis import polar_batch

from msmix_core.analysis import STRATEGIES, kept_share, modality_similarity, with_sources
from msmix_core.analysis.explorer import (
    PairFilter,
    available_kinds,
    first_words,
    pair_labels,
    readable_id,
    signed,
    with_conflicts,
)
from msmix_core.analysis.replay import replay_batches, replay_frames
from msmix_core.data import Split
from msmix_core.errors import MsmixError


def _split(raw_text=("GOOD FILM", "BAD", "A VERY LONG SENTENCE ABOUT A MOVIE", "fine")) -> Split:
    x = np.zeros((4, 1, 2), dtype=np.float32)
    labels = np.array([2.0, -1.0, 0.5, -0.6667], dtype=np.float32)
    extras = {
        "speaker": np.array([1, 1, 2, 3]),
        "conflict": np.array([False, True, False, True]),
        "conflict_modality": np.array([-1, 1, -1, 2], dtype=np.int8),
    }
    ids = np.array(["synth_spk01$_$0000", "synth_spk01$_$0001", "synth_spk02$_$0000", "synth_spk38$_$0020"])
    return Split(x, x, x, labels, ids, raw_text=None if raw_text is None else np.array(raw_text), extras=extras)


def _table(split: Split) -> pd.DataFrame:
    rows_a, rows_b = np.array([0, 1, 2, 0]), np.array([1, 0, 3, 2])
    table = pd.DataFrame(
        {"row_a": rows_a, "row_b": rows_b, "label_a": split.labels[rows_a], "label_b": split.labels[rows_b]}
    )
    table["contradictory"] = table.label_a * table.label_b < 0
    return with_conflicts(with_sources(table, split), split)


def test_conflicts_name_each_sides_modality():
    table = _table(_split())
    assert table.conflict.tolist() == ["b: audio", "a: audio", "b: vision", ""]
    assert available_kinds(table) == ["contradictory", "conflict", "same_speaker"]
    plain = pd.DataFrame({"row_a": [0], "row_b": [1], "label_a": [1.0], "label_b": [2.0]})
    assert with_conflicts(plain, Split(*([np.zeros((4, 1, 2))] * 3), np.zeros(4), np.array(list("abcd")))) is plain


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("", [0, 1, 2, 3]),
        ("contradictory", [0, 1, 2]),
        ("conflict", [0, 1, 2]),
        ("same_speaker", [0, 1]),
        ("conflict,contradictory", [0, 1, 2]),
        ("gap1.4", [0, 1, 3]),
        ("gap1.5", [0, 1]),  # above the gap, not at it
        ("gap2.5", [0, 1]),
        ("contradictory,gap1.1", [0, 1, 2]),
        ("contradictory,gap1.2", [0, 1]),
        ("same_speaker,conflict,gap3.5", []),
    ],
)
def test_a_filter_keeps_the_pairs_it_names(text, kept):
    table = _table(_split())
    shown = PairFilter.parse(text).apply(table)
    assert shown.index.tolist() == kept  # the index still numbers the drawn pairs


def test_a_filter_has_one_text_that_parses_back():
    parsed = PairFilter.parse("gap1.50,same_speaker,conflict,conflict")
    assert parsed == PairFilter(("conflict", "same_speaker"), 1.5)
    assert parsed.text() == "conflict,same_speaker,gap1.5" and PairFilter.parse(parsed.text()) == parsed
    assert PairFilter().text() == ""


@pytest.mark.parametrize(
    ("text", "message"),
    [("opposite", "unknown pair filter 'opposite'"), ("gapx", "gap<number>"), ("gap9", r"in \[0, 6\]")],
)
def test_a_bad_filter_says_what_is_wrong(text, message):
    with pytest.raises(MsmixError, match=message):
        PairFilter.parse(text)


def test_a_filter_the_data_cannot_answer_says_so():
    table = _table(_split()).drop(columns=["conflict"])
    with pytest.raises(MsmixError, match="no conflict information"):
        PairFilter(("conflict",)).apply(table)


def test_picker_entries_show_both_scores_and_first_words():
    split = _split()
    table = _table(split)
    entries = pair_labels(table, split, words=3, chars=14)
    assert entries[0] == "#0: +2.00 “GOOD FILM” × −1.00 “BAD”"
    assert entries[2] == "#2: +0.50 “A VERY LONG…” × −0.67 “fine”"
    coded = pair_labels(table, _split(raw_text=None))
    assert coded[2] == "#2: +0.50 spk02 clip 0 × −0.67 spk38 clip 20"


def test_names_read_as_a_person_writes_them():
    assert readable_id("synth_spk38$_$0020") == "spk38 clip 20"
    assert readable_id("03bSnISJMiM$_$11") == "03bSnISJMiM clip 11" and readable_id("plain") == "plain"
    assert first_words("one two three four", 4, 9) == "one two…" and first_words("one", 4) == "one"
    assert [signed(x) for x in (-0.6667, -1.6, 0.0, -0.001, 2)] == ["−0.67", "−1.60", "+0.00", "+0.00", "+2.00"]


def test_replay_frames_read_each_batch_at_delta():
    batches = [polar_batch(24, seed=s) for s in (0, 1)]
    frames = replay_frames(batches, 0.5, seed=3)
    assert [f.epoch for f in frames] == [0, 1]
    for frame, batch in zip(frames, batches, strict=True):
        similarity = modality_similarity(batch)["averaged"]
        assert (frame.kept, frame.share) == kept_share(similarity, 0.5)
        drawn = STRATEGIES["sass"](batch, torch.Generator().manual_seed(3), threshold=0.5).pairs.numpy()
        np.testing.assert_array_equal(frame.pairs, drawn)
        assert frame.opposite == pytest.approx(np.mean(batch.labels[drawn[:, 0]] * batch.labels[drawn[:, 1]] < 0))
        assert frame.mask.sum() == frame.kept and frame.xy.shape == (24, 2)
        assert np.all(np.diff(batch.labels[frame.order]) >= 0)
    # PCA's signs are arbitrary: each axis of a frame points the way of the frame before
    assert np.all(np.sum(frames[1].xy * frames[0].xy, axis=0) >= 0)


@pytest.mark.slow
def test_the_replay_encodes_the_same_batch_before_and_after_each_epoch(tiny):
    batches = replay_batches(tiny, seed=2, epochs=2, batch_size=16)
    assert len(batches) == 3  # before training, after epoch 1, after epoch 2
    assert all(np.array_equal(b.index, batches[0].index) for b in batches)
    assert not np.allclose(batches[0].latents["text"], batches[2].latents["text"])  # training moved the encoder
    again = replay_batches(tiny, seed=2, epochs=2, batch_size=16)
    np.testing.assert_array_equal(again[2].latents["audio"], batches[2].latents["audio"])  # seeded
    with pytest.raises(MsmixError, match="1 to 20 epochs"):
        replay_batches(tiny, epochs=0)
