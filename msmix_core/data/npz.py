"""A safe on-disk format: one ``.npz`` of plain arrays, read without unpickling anything.

Arrays are stored as ``<split>/<field>`` (extras as ``<split>/extras/<name>``), strings as
fixed-width unicode arrays, and the dataset's name, label range, metric family and ``info`` as a
JSON string under ``__meta__``. The archive is zlib-compressed (zero padding and small files
shrink a lot, inflating is fast) and written atomically. Loading uses ``allow_pickle=False``, so
a crafted file cannot run code.
"""

from __future__ import annotations

import io
import json
import math
import os
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from msmix_core.data.schema import LABEL_RANGE_WANTED, LABEL_RANGES, SPLITS, MSADataset, Split, label_range_ok
from msmix_core.errors import MsmixError, first_line, require_file
from msmix_core.limits import JSON_DEPTH_LIMIT, check_size, too_deep

FORMAT = "msmix-npz-1"
_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
_META = "__meta__"
_REQUIRED = ("text", "audio", "vision", "labels", "ids")


def save_npz(dataset: MSADataset, path: str | Path) -> Path:
    """Write ``dataset`` to ``path`` (any suffix is kept as given); returns the path written."""
    path = Path(path)
    arrays = {}
    for name in SPLITS:
        for key, value in dataset.splits[name].arrays().items():
            value = np.asarray(value)
            arrays[f"{name}/{key}"] = value.astype(str) if value.dtype.kind == "O" else value
    meta = {
        "format": FORMAT,
        "name": dataset.name,
        "label_range": list(dataset.label_range),
        "metrics": dataset.metrics,
        "info": dataset.info,
    }
    try:
        arrays[_META] = np.array(json.dumps(meta))
    except TypeError as exc:
        raise MsmixError(f"dataset.info must hold only JSON values (str, numbers, lists, dicts): {exc}") from exc
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise MsmixError(f"cannot write {path} ({exc.strerror or exc}): choose a folder you can write to") from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez_compressed(fh, **arrays)
        os.replace(tmp, path)  # readers never see a half-written file
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):  # a full disk: nothing is left behind, and the error is one line
            raise MsmixError(f"cannot write {path} ({exc.strerror or exc}): free some space or choose another") from exc
        raise
    return path


def load_npz(source: str | Path | BinaryIO | bytes) -> MSADataset:
    """Read a dataset written by :func:`save_npz` from a path, bytes or a binary file object."""
    name = str(source) if isinstance(source, str | Path) else getattr(source, "name", "the uploaded file")
    if isinstance(source, str | Path):
        require_file(source, "give the path of a .npz written by `msmix convert` or save_npz")
    if isinstance(source, bytes | bytearray):
        source = io.BytesIO(source)
    if not _is_zip(source):  # else numpy would try to unpickle it
        raise MsmixError(f"{name} is not a readable .npz file: write it again with `msmix convert` or save_npz")
    try:
        _check_declared_sizes(source, name)
        with np.load(source, allow_pickle=False) as data:
            contents = {key: data[key] for key in data.files}
    except (zipfile.BadZipFile, zlib.error, NotImplementedError, OSError, EOFError, KeyError) as exc:
        raise MsmixError(
            f"{name} is not a readable .npz file ({type(exc).__name__}: {first_line(exc)}): write it again with "
            "`msmix convert`"
        ) from exc
    except MemoryError:
        raise MsmixError(f"{name} needs more memory than this machine can give to load its arrays") from None
    except ValueError as exc:  # object arrays would need pickle; a damaged array header
        raise MsmixError(f"{name} is damaged or holds pickled objects, which msmix refuses to load ({exc})") from exc
    meta = _meta(contents.pop(_META, None), name)
    splits = {}
    for split in SPLITS:
        prefix = f"{split}/"
        fields = {k[len(prefix) :]: v for k, v in contents.items() if k.startswith(prefix)}
        missing = [f for f in _REQUIRED if f not in fields]
        if missing:
            raise MsmixError(f"{name}: split '{split}' lacks {missing}: write the file again with save_npz")
        extras = {k[len("extras/") :]: fields.pop(k) for k in list(fields) if k.startswith("extras/")}
        try:
            splits[split] = Split(**fields, extras=extras)
        except TypeError as exc:
            raise MsmixError(f"{name}: split '{split}' has an unknown field ({exc})") from exc
    return MSADataset(
        name=meta["name"],
        splits=splits,
        label_range=tuple(meta["label_range"]),
        metrics=meta["metrics"],
        info=meta["info"],
    )


def _meta(entry: np.ndarray | None, name: str) -> dict:
    """The checked metadata of a file, or an error saying why it is not an msmix ``.npz``: every field has the
    type and range :class:`MSADataset` needs, so a crafted file is one error line, never a crash later."""
    if entry is None:
        raise MsmixError(f"{name} is not an msmix dataset (no '{_META}' entry): write it with save_npz")
    if entry.ndim != 0 or entry.dtype.kind != "U":
        raise MsmixError(f"{name}: its '{_META}' entry is a {entry.dtype} array, not a JSON string: write it again")
    try:
        meta = json.loads(str(entry))
        deep = too_deep(meta)
    except RecursionError:
        deep = True
    except ValueError as exc:
        bad = f"{name}: its '{_META}' entry is not valid JSON ({first_line(exc)})"
        raise MsmixError(f"{bad}: write the file again") from exc
    if deep:
        raise MsmixError(f"{name}: its '{_META}' entry nests deeper than {JSON_DEPTH_LIMIT} levels: not msmix's")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise MsmixError(f"{name} has format {found!r:.80}, this msmix reads {FORMAT!r}: convert the data again")
    missing = [k for k in ("name", "label_range", "metrics", "info") if k not in meta]
    if missing:
        raise MsmixError(f"{name}: its metadata lacks {missing}: write the file again with save_npz")
    label_range = meta["label_range"]
    checks = {
        "name": isinstance(meta["name"], str) and 0 < len(meta["name"]) <= 1000,
        "label_range": isinstance(label_range, list) and label_range_ok(label_range),
        "metrics": isinstance(meta["metrics"], str) and meta["metrics"] in LABEL_RANGES,
        "info": isinstance(meta["info"], dict),
    }
    wanted = {
        "name": "a string of 1 to 1000 characters",
        "label_range": LABEL_RANGE_WANTED,
        "metrics": f"one of {sorted(LABEL_RANGES)}",
        "info": "a dict",
    }
    bad = [key for key, ok in checks.items() if not ok]
    if bad:
        raise MsmixError(
            f"{name}: its metadata field {bad[0]!r} must be {wanted[bad[0]]}, got {meta[bad[0]]!r:.80}: the file was "
            "not written by save_npz; convert the data again"
        )
    return meta


def _check_declared_sizes(source: str | Path | BinaryIO, name: str) -> None:
    """Refuse an array whose header declares more bytes than its archive member holds, or arrays that together
    would inflate beyond what one input may take (:func:`~msmix_core.limits.memory_limit`; zlib inflates zeros
    a thousandfold), before numpy allocates anything."""
    position = None if isinstance(source, str | Path) else source.tell()
    total = 0
    with zipfile.ZipFile(source) as archive:
        for info in archive.infolist():
            with archive.open(info) as member:
                version = np.lib.format.read_magic(member)
                if version not in _HEADER_READERS:
                    raise MsmixError(f"{name}: entry {info.filename!r} has .npy version {version}: not msmix's")
                shape, _, dtype = _HEADER_READERS[version](member)
                declared = math.prod(shape) * dtype.itemsize
                if declared > info.file_size - member.tell():
                    raise MsmixError(
                        f"{name}: entry {info.filename!r} declares an impossible size ({declared:,} bytes of array "
                        f"in {info.file_size:,} bytes): the file is damaged; write it again with `msmix convert`"
                    )
                total += declared
    check_size(total, f"{name}'s arrays", "use a smaller dataset, or raise the limit if this machine can hold it")
    if position is not None:
        source.seek(position)


def _is_zip(source: str | Path | BinaryIO) -> bool:
    if isinstance(source, str | Path):
        return zipfile.is_zipfile(source)
    position = source.tell()
    try:
        return zipfile.is_zipfile(source)
    finally:
        source.seek(position)
