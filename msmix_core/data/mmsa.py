"""Real data: the processed feature pickles the MMSA framework distributes (CMU-MOSI, CMU-MOSEI, CH-SIMS).

A pickle is a program, so it is read with :class:`RestrictedUnpickler`, which resolves only the few
globals numpy needs to rebuild arrays, dtypes and scalars and refuses every other one *before* it
can be called. The layout (top level ``train``/``valid``/``test``, each a dict with ``text``,
``audio``, ``vision``, ``regression_labels``, ``id``, ...) is described in ``docs/data.md``.
"""

from __future__ import annotations

import codecs
import collections
import io
import pickle
from pathlib import Path
from typing import BinaryIO

import numpy as np

from msmix_core import MODALITIES
from msmix_core.data.npz import save_npz
from msmix_core.data.schema import LABEL_RANGES, SPLITS, MSADataset, Split
from msmix_core.errors import MsmixError

# The functions numpy's own pickles name, taken from numpy itself so that files written under
# numpy 1 (``numpy.core``) and numpy 2 (``numpy._core``) both resolve on either version.
_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(1))[0]
_SCALAR = np.float32(0).__reduce__()[0]
_FROMBUFFER = np.zeros(1).__reduce_ex__(5)[0]

#: The only globals a pickle may name: numpy arrays, dtypes and scalars, and pure builtin containers.
ALLOWED_GLOBALS: dict[tuple[str, str], object] = {
    **{(f"numpy.{core}.multiarray", "_reconstruct"): _RECONSTRUCT for core in ("core", "_core")},
    **{(f"numpy.{core}.multiarray", "scalar"): _SCALAR for core in ("core", "_core")},
    **{(f"numpy.{core}.numeric", "_frombuffer"): _FROMBUFFER for core in ("core", "_core")},
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,  # how protocol-2 pickles spell bytes
    ("collections", "OrderedDict"): collections.OrderedDict,
    **{
        (module, t.__name__): t
        for module in ("builtins", "__builtin__")
        for t in (set, frozenset, bytes, bytearray, complex)
    },
}

#: Feature sizes (text, audio, vision) of MMSA's files, used to recognise the dataset.
KNOWN_DIMS: dict[tuple[int, int, int], str] = {(768, 5, 20): "mosi", (768, 74, 35): "mosei", (768, 33, 709): "sims"}

#: Per-sample fields: schema name -> (MMSA key, dtype); ``str`` marks strings. Only labels are required.
_PER_SAMPLE: dict[str, tuple[str, type]] = {
    "labels": ("regression_labels", np.float32),
    **{f"labels_{t}": (f"regression_labels_{t}", np.float32) for t in "TAV"},
    "audio_lengths": ("audio_lengths", np.int64),
    "vision_lengths": ("vision_lengths", np.int64),
    "ids": ("id", str),
    "raw_text": ("raw_text", str),
}

_CLEAN_BLOCK = 1 << 24  # values checked at a time, so that cleaning needs little extra memory


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays/dtypes/scalars, dicts, lists, tuples, sets, strings and numbers; nothing else."""

    def find_class(self, module: str, name: str) -> object:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise MsmixError(
                f"refused to load: the pickle asks for '{module}.{name}', which is not a numpy array, dict, "
                "list, string or number. Only MMSA feature files are accepted; if you trust this file, convert "
                "it to .npz with your own code."
            ) from None


def restricted_load(source: str | Path | BinaryIO | bytes) -> object:
    """Read one pickle (a path, bytes or a binary file object) with :class:`RestrictedUnpickler`."""
    if isinstance(source, bytes | bytearray):
        source = io.BytesIO(source)
    if isinstance(source, str | Path):
        if not Path(source).is_file():
            raise MsmixError(f"no such file: {source}: give the path of an MMSA .pkl feature file")
        with open(source, "rb") as fh:
            return restricted_load(fh)
    try:
        return RestrictedUnpickler(source, encoding="latin1").load()  # latin1: numpy arrays from Python 2
    except MsmixError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
        raise MsmixError(
            f"{_name(source)} is not a complete pickle ({type(exc).__name__}: {exc}): download or copy it again"
        ) from exc


def load_mmsa(source: str | Path | BinaryIO | bytes, dataset: str | None = None) -> MSADataset:
    """Load an MMSA processed feature pickle (a path, bytes or a binary file object) into the schema.

    ``dataset`` (``"mosi"``, ``"mosei"`` or ``"sims"``) sets the label range and metric family;
    when omitted it is detected from the feature sizes and labels (see :func:`detect_family`).
    Non-finite feature values (MMSA pads audio with ``-inf``; NaN) are set to 0, and counted per
    modality in ``info["cleaned"]``. ``text_lengths`` comes from ``text_bert``'s attention mask.
    """
    if dataset is not None:
        dataset = str(dataset).lower()
        if dataset not in LABEL_RANGES:
            raise MsmixError(f"unknown dataset {dataset!r}: use one of {sorted(LABEL_RANGES)} or None to detect it")
    raw = restricted_load(source)
    if not isinstance(raw, dict):
        raise MsmixError(
            f"{_name(source)} holds a {type(raw).__name__}, not an MMSA feature file: expected a dict with "
            "'train', 'valid' and 'test'"
        )
    for name in SPLITS:
        if not isinstance(raw.get(name), dict):
            found = sorted(map(str, raw))
            raise MsmixError(f"{_name(source)} has no '{name}' split (top-level keys: {found}): is it an MMSA file?")
    cleaned = dict.fromkeys(MODALITIES, 0)
    splits = {name: _split(name, raw[name], cleaned) for name in SPLITS}
    if dataset is None:
        dataset, detected_by = detect_family(splits)
    else:
        detected_by = "argument"
    return MSADataset(
        name=f"{dataset}:{Path(_name(source)).name}",
        splits=splits,
        label_range=LABEL_RANGES[dataset],
        metrics=dataset,
        info={"source": _name(source), "family_from": detected_by, "cleaned": cleaned},
    )


def detect_family(splits: dict[str, Split]) -> tuple[str, str]:
    """The dataset family of MMSA-format splits and what decided it (``"feature sizes"`` or ``"labels"``).

    MMSA's feature sizes name the dataset, unless the labels contradict SIMS's range. Otherwise
    labels beyond ±1 mean MOSI/MOSEI (same range and metrics; reported as ``"mosi"``) and labels
    within ±1 with unimodal labels mean SIMS. Anything else is ambiguous and an error.
    """
    train = splits["train"]
    dims = tuple(int(train.modality(m).shape[2]) for m in MODALITIES)
    labels = np.concatenate([s.labels for s in splits.values()])
    beyond_one = bool(np.any(np.abs(labels) > 1.0))
    family = KNOWN_DIMS.get(dims)
    if family is not None and not (family == "sims" and beyond_one):
        return family, "feature sizes"
    if beyond_one:
        return "mosi", "labels"
    if train.labels_T is not None:
        return "sims", "labels"
    raise MsmixError(
        f"cannot tell the dataset: feature sizes {dims} are not MMSA's and every label lies within ±1 without "
        "unimodal labels: pass dataset='mosi', 'mosei' or 'sims'"
    )


def convert_to_npz(
    source: str | Path | BinaryIO | bytes, destination: str | Path, dataset: str | None = None
) -> MSADataset:
    """Convert an MMSA pickle to the safe ``.npz`` format; returns the loaded :class:`MSADataset`."""
    converted = load_mmsa(source, dataset=dataset)
    save_npz(converted, destination)
    return converted


def _split(name: str, data: dict, cleaned: dict[str, int]) -> Split:
    """One MMSA split dict as a :class:`Split`; features cleaned, ``cleaned`` counts updated."""
    if "text" not in data and "text_bert" in data:
        raise MsmixError(
            f"split '{name}' has only 'text_bert', which holds BERT token ids, not features: msmix needs the "
            "'text' feature array that MMSA's processed files (aligned_50.pkl, unaligned_50.pkl) include"
        )
    fields = {}
    for m in MODALITIES:
        fields[m], count = _cleaned(_array(name, data, m, 3))
        cleaned[m] += count
    n = len(fields["text"])
    for field, (key, dtype) in _PER_SAMPLE.items():
        if key in data or field == "labels":  # labels are required: _array names a missing key
            values = _array(name, data, key, 1, numeric=dtype is not str).astype(dtype)
            if len(values) != n:
                raise MsmixError(f"split '{name}': '{key}' has {len(values)} entries but 'text' has {n} samples")
            fields[field] = values
    if "ids" not in fields:
        fields["ids"] = np.array([f"{name}_{i}" for i in range(n)])
    mask = np.asarray(data.get("text_bert", ()))
    if mask.shape == (n, 3, fields["text"].shape[1]):  # ids, attention mask, segment ids
        fields["text_lengths"] = mask[:, 1].sum(axis=1).astype(np.int64)
    return Split(**fields)


def _array(split: str, data: dict, key: str, ndim: int, numeric: bool = True) -> np.ndarray:
    """``data[key]`` as an array of ``ndim`` dimensions (``[N, 1]`` accepted for ``[N]``), or a named error."""
    if key not in data:
        raise MsmixError(f"split '{split}' has no '{key}': an MMSA feature file has it in every split")
    try:
        value = np.asarray(data[key])
    except ValueError as exc:  # ragged nested lists
        raise MsmixError(f"split '{split}', field '{key}': not a rectangular array ({exc})") from exc
    if ndim == 1 and value.ndim == 2 and value.shape[1] == 1:
        value = value[:, 0]
    if value.ndim != ndim or (numeric and value.dtype.kind not in "biuf"):
        kind = "numbers" if numeric else "entries"
        raise MsmixError(
            f"split '{split}', field '{key}': expected {ndim}-d {kind}, got shape {value.shape} of {value.dtype}"
        )
    return value


def _cleaned(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Float32 features with non-finite values set to 0 (as MMSA does), and how many there were.

    Works in place on the freshly unpickled array when it is already float32, block by block.
    """
    values = np.ascontiguousarray(values, dtype=np.float32)
    if not values.flags.writeable:
        values = values.copy()
    flat = values.reshape(-1)  # a view, since the array is contiguous
    count = 0
    for start in range(0, flat.size, _CLEAN_BLOCK):
        block = flat[start : start + _CLEAN_BLOCK]
        bad = ~np.isfinite(block)
        count += int(np.count_nonzero(bad))
        block[bad] = 0.0
    return values, count


def _name(source: object) -> str:
    return str(source) if isinstance(source, str | Path) else getattr(source, "name", "the uploaded file")
