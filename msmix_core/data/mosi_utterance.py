"""Real data: CMU-MOSI at utterance level, from the feature authors' public CSV release.

The folder holds the files of two public repositories (see :data:`MOSI_SOURCES`) in this layout::

    declare-lab/data/transcripts.csv            id VIDEO_SEGMENT, transcript, video number, binary label
    declare-lab/data/text_{train,test}.csv      row number in transcripts.csv, then 100 text features
    declare-lab/data/audio/audio_{train,test}0.csv   73 audio features, then the binary label
    declare-lab/data/video/video_{train,test}0.csv   100 vision features, then the binary label
    asa-mosi/OpinionLevelSentiment.csv          start, end, video id, segment number, score in [-3, 3]
    standard_folds.json                         the CMU standard folds as lists of video ids

Within a split, row k of the text, audio and video files is the same utterance; its id is row
``text[k, 0]`` of ``transcripts.csv``; its score is the label-file row whose ``video_segment``
equals that id. Every join is checked and every failure names the file and the line.

Splits (``split=``):

- ``"speaker"`` (default): the feature authors' train/test (their extractors saw only train).
  Valid holds out whole train videos: every 7th video of the train part in sorted id order
  (the 7th, 14th, ...: 8 of 62 videos), the same for every seed and training fraction.
- ``"standard"``: the CMU folds (1,284 / 229 / 686). With these features it leaks (about a third
  of its test videos were in the extractors' training set), so ``info["leaky_split"]`` is True and
  loading warns.

``train_fraction`` keeps a seeded share of the train *videos* (valid and test stay whole), and the
features are z-scored per feature with the mean and std of the train samples actually kept.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from pathlib import Path
from urllib.parse import parse_qsl

import numpy as np
import pandas as pd

from msmix_core import MODALITIES
from msmix_core.data.schema import LABEL_RANGES, SPLITS, MSADataset, Split
from msmix_core.errors import MsmixError, not_a_file

PREFIX = "mosi-utterance:"
ENV_VAR = "MSMIX_MOSI_DIR"
SPLIT_NAMES = ("speaker", "standard")
VALID_EVERY = 7  #: speaker split: every 7th train video (sorted ids) goes to valid

#: The two public repositories the files come from, with their addresses.
MOSI_REPOSITORIES = {
    "declare-lab/contextual-utterance-level-multimodal-sentiment-analysis": (
        "https://github.com/declare-lab/contextual-utterance-level-multimodal-sentiment-analysis"
    ),
    "ASA-MOSI/Audio-Sentiment-Analysis": "https://github.com/ASA-MOSI/Audio-Sentiment-Analysis",
}
MOSI_SOURCES = (
    "the CMU-MOSI utterance files come from two public GitHub repositories: "
    "declare-lab/contextual-utterance-level-multimodal-sentiment-analysis (data/transcripts.csv, "
    "data/text_*.csv, data/audio/, data/video/ -> DIR/declare-lab/data/) and ASA-MOSI/Audio-Sentiment-Analysis "
    "(OpinionLevelSentiment.csv -> DIR/asa-mosi/), plus standard_folds.json (the CMU SDK's standard folds); "
    "see docs/data.md"
)
LEAK_NOTE = (
    "The CMU standard folds leak with these features: about a third of the standard test videos were in the "
    "feature authors' training set (ridge regression on text alone reaches 94% Acc-2 here against 77% on the "
    "speaker split). Use split=speaker for honest numbers."
)

_SPEAKER_NOTE = (
    f"Speaker-independent: the feature authors' train/test; valid = every {VALID_EVERY}th train video in sorted id "
    "order; features z-scored with the kept train samples' statistics."
)

TRANSCRIPTS = "declare-lab/data/transcripts.csv"
LABELS = "asa-mosi/OpinionLevelSentiment.csv"
FOLDS = "standard_folds.json"
#: The longest transcript and id msmix reads (CMU-MOSI's longest transcript has 581 characters, its ids 14).
MAX_TRANSCRIPT_CHARS, MAX_ID_CHARS = 5_000, 200
#: Feature file of each (part, modality), and how many feature columns it holds.
FEATURE_FILES: dict[tuple[str, str], str] = {
    (part, m): path.format(part=part)
    for part in ("train", "test")
    for m, path in {
        "text": "declare-lab/data/text_{part}.csv",
        "audio": "declare-lab/data/audio/audio_{part}0.csv",
        "vision": "declare-lab/data/video/video_{part}0.csv",
    }.items()
}
DIMS = {"text": 100, "audio": 73, "vision": 100}
OPTIONS = {"split": str, "train_fraction": float, "seed": int}


def load_mosi_utterance(
    folder: str | Path, *, split: str = "speaker", train_fraction: float = 1.0, seed: int = 0
) -> MSADataset:
    """Load the CMU-MOSI utterance release from ``folder`` (see the module docstring for layout and splits)."""
    folder = Path(folder)
    split = str(split)
    if split not in SPLIT_NAMES:
        raise MsmixError(f"unknown MOSI split {split!r}: use one of {list(SPLIT_NAMES)}")
    train_fraction = float(train_fraction)
    if not 0.1 <= train_fraction <= 1.0:
        raise MsmixError(f"train_fraction must lie in [0.1, 1.0], got {train_fraction:g}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise MsmixError(f"seed must be an integer >= 0, got {seed!r}")
    if not folder.is_dir():
        raise MsmixError(f"no such folder: {folder}: {MOSI_SOURCES}")

    ids, text, labels = _transcripts(folder)
    scores = _scores(folder)
    parts = {part: _part(folder, part, ids, labels, scores) for part in ("train", "test")}
    pooled = {key: np.concatenate([parts["train"][key], parts["test"][key]]) for key in parts["train"]}
    _no_double_use(folder, pooled["index"], len(parts["train"]["ids"]), ids)
    video = np.array([i.rpartition("_")[0] for i in pooled["ids"]])
    is_train_part = np.arange(len(video)) < len(parts["train"]["ids"])

    if split == "speaker":
        train_videos = sorted(set(video[is_train_part]))
        valid_videos = set(train_videos[VALID_EVERY - 1 :: VALID_EVERY])
        member = {
            "train": is_train_part & ~np.isin(video, list(valid_videos)),
            "valid": np.isin(video, list(valid_videos)),
            "test": ~is_train_part,
        }
    else:
        member = _standard_members(folder, video)
    kept = _train_subset(video[member["train"]], train_fraction, seed)
    member["train"] &= np.isin(video, kept)

    speakers = {v: k for k, v in enumerate(sorted(set(video)))}
    speaker = np.array([speakers[v] for v in video], dtype=np.int64)
    stats = {m: _stats(pooled[m][member["train"]]) for m in MODALITIES}
    splits = {}
    for name in SPLITS:
        rows = np.flatnonzero(member[name])
        splits[name] = Split(
            **{m: _standardised(pooled[m][rows], stats[m], m) for m in MODALITIES},
            labels=pooled["labels"][rows],
            ids=pooled["ids"][rows],
            raw_text=text[pooled["index"][rows]],
            extras={"video": video[rows], "speaker": speaker[rows]},
        )
    info = {
        "source": "mosi-utterance",
        "folder": str(folder),
        "split": split,
        "train_fraction": train_fraction,
        "seed": int(seed),
        "leaky_split": split == "standard",
        "split_note": LEAK_NOTE if split == "standard" else _SPEAKER_NOTE,
        "sizes": {name: len(splits[name]) for name in SPLITS},
        "videos": {name: len(set(splits[name].extras["video"])) for name in SPLITS},
        "zscore": {m: {"mean": stats[m][0].tolist(), "std": stats[m][1].tolist()} for m in MODALITIES},
    }
    if split == "standard":
        warnings.warn(LEAK_NOTE, stacklevel=2)
    return MSADataset(_name(split, train_fraction, seed), splits, LABEL_RANGES["mosi"], metrics="mosi", info=info)


def parse_source(text: str) -> tuple[Path, dict]:
    """``"mosi-utterance:DIR?split=standard&train_fraction=0.25&seed=3"`` as (DIR, keyword arguments)."""
    body = text[len(PREFIX) :] if text.startswith(PREFIX) else text
    folder, _, query = body.partition("?")
    if not folder:
        raise MsmixError(f"'{text}' names no folder: write mosi-utterance:DIR (e.g. mosi-utterance:data/mosi)")
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise MsmixError(f"'{text}': write options as ?key=value&key=value, valid keys are {list(OPTIONS)}") from None
    options = {}
    for key, value in pairs:
        if key not in OPTIONS:
            raise MsmixError(f"unknown option {key!r} in '{text}': valid options are {list(OPTIONS)}")
        if key in options:
            raise MsmixError(f"option {key!r} is given twice in '{text}': give each option once")
        try:
            options[key] = OPTIONS[key](value)
        except ValueError:
            kind = OPTIONS[key].__name__
            raise MsmixError(f"option {key}={value!r} in '{text}' is not a {kind}") from None
    return Path(folder), options


def source_string(folder: str | Path, split: str = "speaker", train_fraction: float = 1.0, seed: int = 0) -> str:
    """The one-string spelling of a MOSI source (defaults left out), for the CLI, URLs and run records."""
    options = {"split": split, "train_fraction": train_fraction, "seed": seed}
    defaults = {"split": "speaker", "train_fraction": 1.0, "seed": 0}
    query = "&".join(
        f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in options.items() if v != defaults[k]
    )
    return f"{PREFIX}{folder}" + (f"?{query}" if query else "")


def looks_like_mosi_folder(path: str | Path) -> bool:
    """True for a folder laid out like the MOSI utterance release (used to suggest the ``mosi-utterance:`` prefix)."""
    path = Path(path)
    return path.is_dir() and ((path / TRANSCRIPTS).is_file() or (path / "declare-lab").is_dir())


def find_mosi_folder(explicit: str | Path | None = None) -> Path | None:
    """The MOSI folder: ``explicit`` when given, else ``$MSMIX_MOSI_DIR``, else ``../shared/data/mosi-utterance``.

    The last is looked for beside the repository (the checkout holding ``msmix_core``) and beside the
    current directory. An explicit path is never replaced by another folder: a typo must not open other
    data silently. Returns None when no candidate holds ``transcripts.csv``.
    """
    if explicit:
        candidates = [explicit]
    else:
        relative = Path("..") / "shared" / "data" / "mosi-utterance"
        candidates = [os.environ.get(ENV_VAR), Path(__file__).resolve().parents[2] / relative, Path.cwd() / relative]
    for candidate in candidates:
        if candidate and (Path(candidate) / TRANSCRIPTS).is_file():
            return Path(candidate).resolve()
    return None


def _name(split: str, train_fraction: float, seed: int) -> str:
    if train_fraction == 1.0:
        return f"mosi-utterance ({split} split)"
    return f"mosi-utterance ({split} split, {train_fraction:.0%} of train videos, seed {seed})"


def _missing(path: Path, problem: str) -> str:
    """A file of the release that cannot be read, named with why (:func:`~msmix_core.errors.not_a_file`)."""
    return f"missing file {path}" if problem == "is missing" else f"{path} {problem}"


def _read(folder: Path, relative: str, **kwargs) -> pd.DataFrame:
    """One header-less CSV as a frame, or an error naming the file; never a pandas traceback."""
    path = folder / relative
    problem = not_a_file(path)
    if problem is not None:
        raise MsmixError(f"{_missing(path, problem)}: {MOSI_SOURCES}")
    try:
        frame = pd.read_csv(path, header=None, **kwargs)
    except pd.errors.EmptyDataError:
        raise MsmixError(f"{path} is empty: download it again ({MOSI_SOURCES})") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        detail = re.sub(r"at row (\d+)", lambda m: f"at line {int(m[1]) + 1}", " ".join(str(exc).split()))
        raise MsmixError(f"{path} is not a readable CSV, a truncated file? ({detail}): download it again") from None
    if frame.empty:
        raise MsmixError(f"{path} is empty: download it again ({MOSI_SOURCES})")
    return frame


def _numeric(frame: pd.DataFrame, path: Path, columns: int) -> np.ndarray:
    """The frame as float64 ``[N, columns]``; a wrong width, a non-numeric or an empty cell names its line."""
    if frame.shape[1] != columns:
        raise MsmixError(f"{path} has {frame.shape[1]} columns, expected {columns}: is it the right file?")
    if any(dtype.kind not in "iuf" for dtype in frame.dtypes):
        frame = frame.apply(pd.to_numeric, errors="coerce")
    values = frame.to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise MsmixError(
            f"{path}, line {row + 1}, column {col + 1}: not a number (or missing: a truncated file?); "
            "download the file again"
        )
    return values


def _transcripts(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Utterance ids, transcripts and binary labels, row for row; duplicate ids are an error."""
    path = folder / TRANSCRIPTS
    frame = _read(folder, TRANSCRIPTS, dtype=str, keep_default_na=False)  # a transcript "NA" stays text
    if frame.shape[1] != 4:
        raise MsmixError(f"{path} has {frame.shape[1]} columns, expected 4 (id, transcript, video number, label)")
    ids = _strings(frame[0], path, "an id", MAX_ID_CHARS)
    _no_duplicates(ids, path)
    binary = _strings(frame[3], path, "a label", MAX_ID_CHARS)
    bad = ~np.isin(binary, ["0", "1"])
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise MsmixError(f"{path}, line {row + 1}: label {binary[row]!r} is not 0 or 1")
    return ids, _strings(frame[1], path, "a transcript", MAX_TRANSCRIPT_CHARS), binary.astype(np.int64)


def _strings(column: pd.Series, path: Path, what: str, limit: int) -> np.ndarray:
    """A column of text as a fixed-width array, whose every cell takes the width of the longest: a cell longer
    than ``limit`` characters is refused first (one 20 MB line would make every row cost 80 MB)."""
    lengths = column.str.len()
    if len(lengths) and lengths.max() > limit:
        row = int(lengths.to_numpy().argmax())
        raise MsmixError(
            f"{path}, line {row + 1}: {what} of {lengths.iloc[row]:,} characters, more than the {limit:,} a CMU-MOSI "
            "file holds: the file is damaged or not CMU-MOSI's; download it again"
        )
    return column.to_numpy(dtype=str)


def _scores(folder: Path) -> dict[str, float]:
    """``video_segment`` -> score from the official label file."""
    path = folder / LABELS
    frame = _read(folder, LABELS, dtype={2: str, 3: str}, keep_default_na=False)
    if frame.shape[1] != 5:
        raise MsmixError(f"{path} has {frame.shape[1]} columns, expected 5 (start, end, video, segment, score)")
    score = _numeric(frame[[4]], path, 1)[:, 0]
    low, high = LABEL_RANGES["mosi"]
    outside = (score < low) | (score > high)
    if outside.any():
        row = int(np.flatnonzero(outside)[0])
        raise MsmixError(f"{path}, line {row + 1}: score {score[row]:g} is outside [{low:g}, {high:g}]")
    keys = _strings(frame[2] + "_" + frame[3], path, "a video and segment id", MAX_ID_CHARS)
    _no_duplicates(keys, path)
    return dict(zip(keys.tolist(), score.tolist(), strict=True))


def _no_duplicates(keys: np.ndarray, path: Path) -> None:
    unique, counts = np.unique(keys, return_counts=True)
    if (counts > 1).any():
        key = str(unique[counts > 1][0])
        lines = (np.flatnonzero(keys == key)[:2] + 1).tolist()
        raise MsmixError(f"{path}: id {key!r} appears twice (lines {lines[0]} and {lines[1]}): download it again")


def _part(folder: Path, part: str, ids: np.ndarray, binary: np.ndarray, scores: dict[str, float]) -> dict:
    """One of the authors' parts (train/test): aligned features, ids, scores, transcript rows; every join checked."""
    text_path = folder / FEATURE_FILES[(part, "text")]
    text = _numeric(_read(folder, FEATURE_FILES[(part, "text")]), text_path, DIMS["text"] + 1)
    out = {"text": text[:, 1:]}
    for m in ("audio", "vision"):
        path = folder / FEATURE_FILES[(part, m)]
        values = _numeric(_read(folder, FEATURE_FILES[(part, m)]), path, DIMS[m] + 1)
        if len(values) != len(text):
            raise MsmixError(
                f"{path} has {len(values)} rows but {text_path} has {len(text)}: row k of both must be the same "
                "utterance (a truncated file?); download them again"
            )
        out[m] = values
    index = text[:, 0]
    bad = (index != np.round(index)) | (index < 0) | (index >= len(ids))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise MsmixError(
            f"{text_path}, line {row + 1}: column 1 is {index[row]:g}, not a row of {folder / TRANSCRIPTS} "
            f"(0 to {len(ids) - 1})"
        )
    index = index.astype(np.int64)
    utterances = ids[index]
    missing = [k for k, u in enumerate(utterances.tolist()) if u not in scores]
    if missing:
        row = missing[0]
        raise MsmixError(
            f"{text_path}, line {row + 1}: utterance {str(utterances[row])!r} has no score in {folder / LABELS}"
        )
    labels = np.array([scores[u] for u in utterances.tolist()], dtype=np.float32)
    positive = (labels >= 0).astype(np.int64)
    checks = [(folder / TRANSCRIPTS, binary[index], index)] + [
        (folder / FEATURE_FILES[(part, m)], out[m][:, -1], np.arange(len(text))) for m in ("audio", "vision")
    ]
    for path, given, lines in checks:
        wrong = given != positive
        if wrong.any():
            row = int(np.flatnonzero(wrong)[0])
            raise MsmixError(
                f"{path}, line {lines[row] + 1}: binary label {given[row]:g} of {str(utterances[row])!r} "
                f"disagrees with its score {labels[row]:g} (1 means score >= 0): download the files again"
            )
    for m in ("audio", "vision"):
        out[m] = out[m][:, :-1]
    return {**out, "labels": labels, "ids": utterances, "index": index}


def _no_double_use(folder: Path, index: np.ndarray, n_train: int, ids: np.ndarray) -> None:
    """Each transcript row may be used once over both parts: a second use is a duplicated utterance."""
    unique, counts = np.unique(index, return_counts=True)
    if (counts > 1).any():
        places = []
        for k in np.flatnonzero(index == unique[counts > 1][0])[:2].tolist():
            part, line = ("train", k + 1) if k < n_train else ("test", k - n_train + 1)
            places.append(f"{folder / FEATURE_FILES[(part, 'text')]} line {line}")
        raise MsmixError(f"utterance {str(ids[unique[counts > 1][0]])!r} appears twice: {places[0]} and {places[1]}")


def _standard_members(folder: Path, video: np.ndarray) -> dict[str, np.ndarray]:
    """Split membership of every pooled utterance by the CMU standard folds."""
    path = folder / FOLDS
    problem = not_a_file(path)
    if problem is not None:
        raise MsmixError(f"{_missing(path, problem)}: it lists the standard folds' video ids ({MOSI_SOURCES})")
    try:
        folds = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MsmixError(f"{path} is not valid JSON ({exc}): download it again") from None
    if not isinstance(folds, dict) or not all(isinstance(folds.get(s), list) for s in SPLITS):
        raise MsmixError(f"{path} must be a JSON object with lists 'train', 'valid' and 'test' of video ids")
    member = {s: np.isin(video, [str(v) for v in folds[s]]) for s in SPLITS}
    count = sum(m.astype(int) for m in member.values())
    if (count != 1).any():
        v = video[int(np.flatnonzero(count != 1)[0])]
        where = "in no fold" if count[video == v][0] == 0 else "in more than one fold"
        raise MsmixError(f"{path}: video {v!r} is {where}: every video must be in exactly one")
    return member


def _train_subset(videos: np.ndarray, fraction: float, seed: int) -> list[str]:
    """A seeded share of the train videos (at least one), the same for the same seed."""
    pool = sorted(set(videos.tolist()))
    if fraction == 1.0:
        return pool
    count = max(1, round(fraction * len(pool)))
    chosen = np.random.default_rng(seed).choice(len(pool), size=count, replace=False)
    return [pool[i] for i in sorted(chosen.tolist())]


def _standardised(values: np.ndarray, stats: tuple[np.ndarray, np.ndarray], modality: str) -> np.ndarray:
    """Features z-scored with the train statistics, as float32 ``[N, 1, D]``, checked finite *after* the transform:
    huge finite cells can overflow the mean, the std or float32 and would otherwise train on inf and NaN."""
    with np.errstate(over="ignore", invalid="ignore"):
        scaled = ((values - stats[0]) / stats[1]).astype(np.float32)
    bad = ~(np.isfinite(scaled).all(axis=0) & np.isfinite(stats[0]) & np.isfinite(stats[1]))
    if bad.any():  # an infinite std would silently turn its whole column into zeros
        column = int(np.flatnonzero(bad)[0])
        raise MsmixError(
            f"the {modality} features: feature {column + 1} holds values so large (up to {np.abs(values).max():.3g}) "
            "that z-scoring them overflows: the feature files are damaged; download them again"
        )
    return scaled[:, None, :]


def _stats(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and std (float64); a constant feature gets std 1, so it is only centred."""
    with np.errstate(over="ignore", invalid="ignore"):  # huge cells: _standardised names them
        mean = values.mean(axis=0)
        std = values.std(axis=0)
    return mean, np.where(std > 0, std, 1.0)
