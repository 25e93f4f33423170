"""Real data: the processed feature pickles the MMSA framework distributes (MOSI, MOSEI, CH-SIMS).

A pickle is a program, so it is read with :class:`RestrictedUnpickler`, which resolves only the
few globals numpy arrays need and refuses every other one *before* it can be called. The file
layout (top level ``train``/``valid``/``test``, each with ``text``, ``audio``, ``vision``,
``regression_labels``, ``id``, ...) is documented in ``docs/data.md``.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import BinaryIO

import numpy as np

from msmix_core.data.npz import save_npz
from msmix_core.data.schema import LABEL_RANGES, SPLITS, MSADataset, Split
from msmix_core.errors import MsmixError

#: The only globals a pickle may name: what numpy needs to rebuild arrays, dtypes and scalars.
_ALLOWED_GLOBALS = {
    (module, name)
    for module in ("numpy.core.multiarray", "numpy._core.multiarray")
    for name in ("_reconstruct", "scalar")
} | {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("collections", "OrderedDict"),
}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays/dtypes, dicts, lists, tuples, strings and numbers; nothing else."""

    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise MsmixError(
                f"refused to load: the pickle asks for '{module}.{name}', which is not a numpy array, "
                "dict, list, string or number. Only load MMSA feature files from a source you trust, "
                "or convert them to the safe .npz format on a machine where you do."
            )
        if module.startswith("numpy.core."):  # numpy >= 2 keeps these under numpy._core
            module = "numpy._core." + module[len("numpy.core.") :]
        return super().find_class(module, name)


def restricted_load(source: str | Path | BinaryIO | bytes) -> object:
    """Read a pickle with :class:`RestrictedUnpickler`; a truncated file is a clear error."""
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    if isinstance(source, str | Path):
        if not Path(source).is_file():
            raise MsmixError(f"no such file: {source}: give the path of an MMSA .pkl feature file")
        with open(source, "rb") as fh:
            return restricted_load(fh)
    try:
        return RestrictedUnpickler(source, encoding="latin1").load()
    except MsmixError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise MsmixError(f"the file is not a complete pickle ({type(exc).__name__}: {exc}): download it again") from exc


def _array(split: str, data: dict, key: str, ndim: int) -> np.ndarray:
    if key not in data:
        raise MsmixError(f"split '{split}' has no '{key}': an MMSA feature file needs {key} in every split")
    value = np.asarray(data[key])
    if key.startswith("regression_labels") and value.ndim == 2 and value.shape[1] == 1:
        value = value[:, 0]
    if value.ndim != ndim:
        raise MsmixError(f"split '{split}', field '{key}': expected {ndim} dimensions, got shape {value.shape}")
    return value


def _clean(values: np.ndarray) -> tuple[np.ndarray, int]:
    """MMSA's cleaning: non-finite feature values (``-inf`` padding, NaN) become 0."""
    values = values.astype(np.float32)
    bad = ~np.isfinite(values)
    count = int(bad.sum())
    if count:
        values[bad] = 0.0
    return values, count


def _family(raw: dict, dims: tuple[int, int, int]) -> str:
    labels = np.concatenate([np.asarray(raw[s]["regression_labels"], dtype=np.float64).ravel() for s in SPLITS])
    if "regression_labels_T" in raw["train"] or (np.abs(labels).max() <= 1.0 and dims[1] == 33):
        return "sims"
    return "mosei" if dims[1] == 74 else "mosi"


def _split(name: str, data: dict, cleaned: dict[str, int]) -> Split:
    if "text" not in data and "text_bert" in data:
        raise MsmixError(
            f"split '{name}' holds only 'text_bert' (BERT token ids), not text features: msmix needs the "
            "'text' feature array that MMSA's processed files ship (aligned_50.pkl / unaligned_50.pkl)"
        )
    fields = {}
    for m in ("text", "audio", "vision"):
        values, count = _clean(_array(name, data, m, 3))
        cleaned[m] = cleaned.get(m, 0) + count
        fields[m] = values
    labels = _array(name, data, "regression_labels", 1).astype(np.float32)
    fields["labels"] = labels
    n = labels.shape[0]
    fields["ids"] = np.asarray(data["id"]).astype(str) if "id" in data else np.array([f"{name}_{i}" for i in range(n)])
    if "raw_text" in data:
        fields["raw_text"] = np.asarray(data["raw_text"]).astype(str)
    for m in ("audio", "vision"):
        if f"{m}_lengths" in data:
            fields[f"{m}_lengths"] = np.asarray(data[f"{m}_lengths"]).astype(np.int64).ravel()
    if "text_bert" in data:  # the attention mask row gives the number of real tokens
        fields["text_lengths"] = np.asarray(data["text_bert"])[:, 1, :].sum(axis=1).astype(np.int64)
    for t in ("T", "A", "V"):
        if f"regression_labels_{t}" in data:
            fields[f"labels_{t}"] = _array(name, data, f"regression_labels_{t}", 1).astype(np.float32)
    return Split(**fields)


def load_mmsa(source: str | Path | BinaryIO | bytes, dataset: str | None = None) -> MSADataset:
    """Load an MMSA processed feature pickle into the validated schema.

    ``dataset`` (``"mosi"``, ``"mosei"`` or ``"sims"``) sets the metric family and label range;
    when omitted it is detected (unimodal labels or audio 33-d with labels in ±1: SIMS; audio
    74-d: MOSEI; else MOSI). Non-finite audio/vision values are set to 0 as MMSA does, and
    counted in ``info["cleaned"]``.
    """
    raw = restricted_load(source)
    if not isinstance(raw, dict):
        raise MsmixError(f"expected a dict with train/valid/test at the top level, got {type(raw).__name__}")
    for name in SPLITS:
        if not isinstance(raw.get(name), dict):
            raise MsmixError(f"the file has no '{name}' split (top-level keys: {sorted(map(str, raw))})")
    if dataset is not None and dataset not in LABEL_RANGES:
        raise MsmixError(f"unknown dataset {dataset!r}: use one of {sorted(LABEL_RANGES)}")
    cleaned: dict[str, int] = {}
    splits = {name: _split(name, raw[name], cleaned) for name in SPLITS}
    dims = tuple(splits["train"].modality(m).shape[2] for m in ("text", "audio", "vision"))
    family = dataset or _family(raw, dims)
    path = str(source) if isinstance(source, str | Path) else getattr(source, "name", "upload")
    return MSADataset(
        name=f"{family}:{Path(path).name}",
        splits=splits,
        label_range=LABEL_RANGES[family],
        metrics=family,
        info={"source": path, "cleaned": cleaned, "cleaned_total": sum(cleaned.values())},
    )


def convert_to_npz(source: str | Path, destination: str | Path, dataset: str | None = None) -> MSADataset:
    """Convert an MMSA pickle to the safe ``.npz`` format (see :mod:`msmix_core.data.npz`)."""
    converted = load_mmsa(source, dataset=dataset)
    save_npz(converted, destination)
    return converted
