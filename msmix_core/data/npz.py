"""A safe on-disk format: one ``.npz`` of plain arrays, readable without unpickling anything.

Arrays are stored as ``<split>/<field>`` (extras as ``<split>/extras/<name>``), strings as
fixed-width unicode arrays, and the dataset's metadata as a JSON string under ``__meta__``.
Loading uses ``allow_pickle=False``, so a crafted file cannot run code.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import BinaryIO

import numpy as np

from msmix_core.data.schema import SPLITS, MSADataset, Split
from msmix_core.errors import MsmixError

FORMAT = "msmix-npz-1"


def save_npz(dataset: MSADataset, path: str | Path) -> Path:
    """Write ``dataset`` to ``path`` (a ``.npz``); returns the path written."""
    path = Path(path)
    arrays = {}
    for name in SPLITS:
        for key, value in dataset.splits[name].arrays().items():
            value = np.asarray(value)
            arrays[f"{name}/{key}"] = value.astype(str) if value.dtype.kind in "OU" else value
    meta = {
        "format": FORMAT,
        "name": dataset.name,
        "label_range": list(dataset.label_range),
        "metrics": dataset.metrics,
        "info": dataset.info,
    }
    arrays["__meta__"] = np.array(json.dumps(meta, default=str))
    with path.open("wb") as fh:
        np.savez_compressed(fh, **arrays)
    return path


def load_npz(source: str | Path | BinaryIO) -> MSADataset:
    """Read a dataset written by :func:`save_npz` (a path or a binary file object)."""
    if isinstance(source, str | Path) and not Path(source).is_file():
        raise MsmixError(f"no such file: {source}: give the path of a .npz written by `msmix convert`")
    try:
        with np.load(source if not isinstance(source, bytes) else io.BytesIO(source), allow_pickle=False) as data:
            contents = {key: data[key] for key in data.files}
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise MsmixError(f"{_name(source)} is not a readable .npz file ({exc}): convert the data again") from exc
    except ValueError as exc:  # object arrays need pickle: refused
        raise MsmixError(f"{_name(source)} holds pickled objects, which msmix refuses to load: {exc}") from exc
    if "__meta__" not in contents:
        raise MsmixError(f"{_name(source)} is not an msmix dataset (no '__meta__' entry): write it with save_npz")
    meta = json.loads(str(contents.pop("__meta__")))
    splits = {}
    for name in SPLITS:
        prefix = f"{name}/"
        fields = {k[len(prefix) :]: v for k, v in contents.items() if k.startswith(prefix)}
        if not fields:
            raise MsmixError(f"{_name(source)} has no '{name}' split: it needs train, valid and test")
        extras = {k[len("extras/") :]: fields.pop(k) for k in list(fields) if k.startswith("extras/")}
        for required in ("text", "audio", "vision", "labels", "ids"):
            if required not in fields:
                raise MsmixError(f"{_name(source)}: split '{name}' lacks the field '{required}'")
        try:
            splits[name] = Split(**fields, extras=extras)
        except TypeError as exc:
            raise MsmixError(f"{_name(source)}: split '{name}' has an unknown field ({exc})") from exc
    return MSADataset(
        name=meta["name"],
        splits=splits,
        label_range=tuple(meta["label_range"]),
        metrics=meta["metrics"],
        info=meta.get("info", {}),
    )


def _name(source: object) -> str:
    return str(source) if isinstance(source, str | Path) else getattr(source, "name", "the uploaded file")
