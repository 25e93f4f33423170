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
import math
import operator
import pickle
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, ClassVar

import numpy as np

from msmix_core import MODALITIES
from msmix_core.data.npz import save_npz
from msmix_core.data.schema import LABEL_RANGES, SPLITS, MSADataset, Split
from msmix_core.errors import MsmixError, MsmixWarning, first_line, require_file
from msmix_core.limits import MEMORY_LIMIT_ENV, check_size, memory_limit

# The functions numpy's own pickles name, taken from numpy itself so that files written under
# numpy 1 (``numpy.core``) and numpy 2 (``numpy._core``) both resolve on either version.
_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(1))[0]
_SCALAR = np.float32(0).__reduce__()[0]
_FROMBUFFER = np.zeros(1).__reduce_ex__(5)[0]

#: The most a pickle may allocate from a size it *declares* rather than from data it holds:
#: ``bytes(n)``, ``bytearray(n)``, an empty array of a given shape. numpy's own pickles declare
#: nothing (an array is rebuilt from the bytes the file spells out, which the file's size bounds),
#: so this limit only stops memory bombs such as a 100-byte pickle calling ``bytes(10**15)``.
DECLARED_SIZE_LIMIT = 64 << 20


def _declared(nbytes: int, what: str) -> None:
    if nbytes > DECLARED_SIZE_LIMIT:
        raise MsmixError(
            f"refused to load: the pickle declares {what} of {nbytes:,} bytes, an impossible size for an MMSA "
            f"feature file (numpy's pickles spell out their data; at most {DECLARED_SIZE_LIMIT:,} bytes may be "
            "declared): the file is damaged or hostile"
        )


def _array_bytes(shape: object, dtype: object) -> int:
    dims = (shape,) if hasattr(type(shape), "__index__") else tuple(shape)
    return math.prod(operator.index(d) for d in dims) * np.dtype(dtype).itemsize


def _sized(cls: type) -> Callable[..., object]:
    """``cls`` (bytes, bytearray) as a pickle may call it: ``cls(n)`` only up to the declared-size limit."""

    def build(*args: object) -> object:
        if args and hasattr(type(args[0]), "__index__"):
            _declared(operator.index(args[0]), f"a {cls.__name__} object")
        return cls(*args)

    return build


def _ndarray(shape: object, dtype: object = float) -> np.ndarray:
    """``numpy.ndarray(shape, dtype)`` as a pickle may call it: up to the limit, and never a view of another object."""
    _declared(_array_bytes(shape, dtype), f"an array of shape {shape}")
    return np.ndarray(shape, dtype)


def _frombuffer(buffer: object, dtype: object, shape: object, order: str) -> np.ndarray:
    """numpy's ``_frombuffer`` (protocol 5's arrays) over the bytes the file holds, not over another array."""
    if not isinstance(buffer, bytes | bytearray):
        raise MsmixError(f"refused to load: the pickle views a {type(buffer).__name__} as an array, not bytes")
    return _FROMBUFFER(buffer, dtype, shape, order)


def _check_state(inst: object, state: object) -> None:
    """Refuse a BUILD (``__setstate__``) that numpy would not write: hand-made states can crash numpy's C code.

    Only arrays that own their memory (so no other array views it) and dtypes take a state; an
    array's shape, dtype and data must agree; a dtype's state must be the one numpy writes for it.
    """
    if isinstance(inst, np.dtype):
        expected = inst.newbyteorder(state[1]) if isinstance(state, tuple) and state[1:2] in (("<",), (">",)) else inst
        if state != expected.__reduce__()[2]:
            raise MsmixError(
                f"refused to load: the pickle gives dtype {inst} a state numpy never writes ({state!r:.80})"
            )
        return
    if not isinstance(inst, np.ndarray) or inst.base is not None:
        raise MsmixError(f"refused to load: the pickle sets the state of a {type(inst).__name__}")
    if not (isinstance(state, tuple) and len(state) == 5 and isinstance(state[2], np.dtype)):
        raise MsmixError("refused to load: the pickle gives an array a state numpy never writes")
    _, shape, dtype, _, data = state
    count = math.prod(operator.index(d) for d in shape) if isinstance(shape, tuple) else -1
    if dtype.hasobject:
        ok = dtype == np.dtype(object) and isinstance(data, list) and len(data) == count
    else:
        ok = isinstance(data, bytes | str) and len(data) == count * dtype.itemsize
    if count < 0 or any(operator.index(d) < 0 for d in shape) or not ok:
        raise MsmixError(f"refused to load: an array's data do not match its shape {shape!r:.40} and dtype {dtype}")


def _reconstruct(subtype: object, shape: object, dtype: object) -> np.ndarray:
    """numpy's ``_reconstruct`` (an empty array that the pickle then fills), for plain arrays within the limit."""
    if subtype is not _ndarray:
        raise MsmixError(f"refused to load: the pickle rebuilds an array as {subtype!r}, not a numpy.ndarray")
    _declared(_array_bytes(shape, dtype), f"an array of shape {shape}")
    return _RECONSTRUCT(np.ndarray, shape, dtype)


#: The only globals a pickle may name: numpy arrays, dtypes and scalars, and pure builtin containers;
#: those that allocate from a declared size are wrapped to refuse more than :data:`DECLARED_SIZE_LIMIT`.
ALLOWED_GLOBALS: dict[tuple[str, str], object] = {
    **{(f"numpy.{core}.multiarray", "_reconstruct"): _reconstruct for core in ("core", "_core")},
    **{(f"numpy.{core}.multiarray", "scalar"): _SCALAR for core in ("core", "_core")},
    **{(f"numpy.{core}.numeric", "_frombuffer"): _frombuffer for core in ("core", "_core")},
    ("numpy", "ndarray"): _ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,  # how protocol-2 pickles spell bytes
    ("collections", "OrderedDict"): collections.OrderedDict,
    **{
        (module, t.__name__): _sized(t) if t in (bytes, bytearray) else t
        for module in ("builtins", "__builtin__")
        for t in (set, frozenset, bytes, bytearray, complex)
    },
}

_ZIP_MAGIC = b"PK\x03\x04"  # a .npz is a zip archive

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


class RestrictedUnpickler(pickle._Unpickler):
    """Unpickles numpy arrays/dtypes/scalars, dicts, lists, tuples, sets, strings and numbers; nothing else.

    Built on pickle's pure-Python unpickler, whose memo is a dict: the C unpickler grows an array
    to the largest memo index a file names, so one ``LONG_BINPUT 2**31`` opcode would make it fill
    gigabytes with zeros. The two read MMSA's files at similar speeds (their data are a few large
    byte strings; the opcodes are few).
    """

    dispatch: ClassVar[dict] = dict(pickle._Unpickler.dispatch)

    def __init__(self, file: BinaryIO, **kwargs: object) -> None:
        super().__init__(file, **kwargs)
        self.budget = memory_limit()  # what the objects the pickle builds may take together
        self.source_name = _name(file)

    def _spend(self, obj: object) -> None:
        """Charge what a call or a BUILD just made: a memo lets a small pickle build one large object many times."""
        self.budget -= _cost(obj)
        if self.budget < 0:
            check_size(memory_limit() - self.budget, f"{self.source_name}'s objects", "not an MMSA feature file?")

    def load_build(self) -> None:
        _check_state(self.stack[-2], self.stack[-1])
        super().load_build()
        self._spend(self.stack[-1])

    def load_reduce(self) -> None:
        super().load_reduce()
        self._spend(self.stack[-1])

    dispatch[pickle.BUILD[0]] = load_build
    dispatch[pickle.REDUCE[0]] = load_reduce

    def find_class(self, module: str, name: str) -> object:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise MsmixError(
                f"refused to load: the pickle asks for '{module}.{name}', which is not a numpy array, dict, "
                "list, string or number. Only MMSA feature files are accepted; if you trust this file, convert "
                "it to .npz with your own code."
            ) from None


def _cost(obj: object) -> int:
    """Bytes an object built by a pickle takes, roughly (a view is charged as if it owned its data)."""
    if isinstance(obj, np.ndarray):
        return obj.nbytes
    if isinstance(obj, bytes | bytearray | str):
        return len(obj)
    if isinstance(obj, set | frozenset | list | tuple | dict):
        return 8 * len(obj)
    return 32


def _leaf_count(value: object, cap: int) -> int:
    """How many numbers nested lists, tuples and arrays hold, i.e. what ``np.asarray`` would allocate, counted up to
    just beyond ``cap``. A list shared through a pickle's memo counts once per use but is walked once."""
    sizes: dict[int, int] = {}

    def count(item: object, depth: int) -> int:
        if isinstance(item, np.ndarray):
            return item.size
        if not isinstance(item, list | tuple):
            return 1
        if depth > 64:  # numpy stacks at most 64 dimensions
            return cap + 1
        if id(item) not in sizes:
            total = 0
            for child in item:
                total += count(child, depth + 1)
                if total > cap:
                    break
            sizes[id(item)] = total
        return sizes[id(item)]

    return count(value, 0)


def restricted_load(source: str | Path | BinaryIO | bytes) -> object:
    """Read one pickle (a path, bytes or a binary file object) with :class:`RestrictedUnpickler`."""
    if isinstance(source, bytes | bytearray):
        source = io.BytesIO(source)
    if isinstance(source, str | Path):
        with open(require_file(source, "give the path of an MMSA .pkl feature file"), "rb") as fh:
            return restricted_load(fh)
    if _starts_with(source, _ZIP_MAGIC):
        raise MsmixError(
            f"{_name(source)} is a zip archive (a .npz?), not a pickle: load it as a .npz (load_npz, or a path "
            "ending in .npz); only MMSA .pkl files are unpickled"
        )
    try:
        return RestrictedUnpickler(source, encoding="latin1").load()  # latin1: numpy arrays from Python 2
    except MsmixError:
        raise
    except (MemoryError, OverflowError):  # a size beyond the machine's memory, or beyond any size at all
        raise MsmixError(
            f"{_name(source)} declares an impossible size (more memory than this machine can give): it is damaged "
            "or not an MMSA feature file"
        ) from None
    except Exception as exc:  # whatever a damaged stream makes pickle or numpy raise: the file is bad
        raise MsmixError(
            f"{_name(source)} is not a complete pickle ({type(exc).__name__}: {first_line(exc)}): download or copy "
            "it again"
        ) from exc


def _starts_with(source: BinaryIO, magic: bytes) -> bool:
    """Whether a binary stream begins with ``magic``, read without moving it (False when it cannot seek)."""
    try:
        position = source.tell()
        head = source.read(len(magic))
        source.seek(position)
    except (OSError, AttributeError, ValueError):
        return False
    return head == magic


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
        if name in raw and not isinstance(raw[name], dict):
            found = type(raw[name]).__name__
            raise MsmixError(f"{_name(source)}: split '{name}' holds a {found}, not a dict of arrays: an MMSA file?")
        if name not in raw:
            found = sorted(str(key)[:40] for key in raw)[:20]
            raise MsmixError(f"{_name(source)} has no '{name}' split (top-level keys: {found}): is it an MMSA file?")
    cleaned, notes = dict.fromkeys(MODALITIES, 0), []
    try:
        splits = {name: _split(name, raw[name], cleaned, notes) for name in SPLITS}
    except MemoryError:
        raise MsmixError(f"{_name(source)} needs more memory than this machine can give to load its features") from None
    if dataset is None:
        dataset, detected_by = detect_family(splits)
    else:
        detected_by = "argument"
    info = {"source": _name(source), "family_from": detected_by, "cleaned": cleaned}
    if notes:
        info["warnings"] = notes
    for note in notes:
        warnings.warn(f"{_name(source)}: {note}", MsmixWarning, stacklevel=2)
    return MSADataset(
        name=f"{dataset}:{Path(_name(source)).name}",
        splits=splits,
        label_range=LABEL_RANGES[dataset],
        metrics=dataset,
        info=info,
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


def _split(name: str, data: dict, cleaned: dict[str, int], notes: list[str]) -> Split:
    """One MMSA split dict as a :class:`Split`; features cleaned, ``cleaned`` counts and ``notes`` updated."""
    if "text" not in data and "text_bert" in data:
        raise MsmixError(
            f"split '{name}' has only 'text_bert', which holds BERT token ids, not features: msmix needs the "
            "'text' feature array that MMSA's processed files (aligned_50.pkl, unaligned_50.pkl) include"
        )
    fields = {}
    for m in MODALITIES:
        fields[m], count = _cleaned(_array(name, data, m, 3))
        cleaned[m] += count
        if count and count == fields[m].size:
            notes.append(f"split '{name}': every {m} value was NaN or infinite and is now 0 (no information left)")
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
    cap = memory_limit() // 8
    if not isinstance(data[key], np.ndarray) and _leaf_count(data[key], cap) > cap:
        raise MsmixError(
            f"split '{split}', field '{key}' holds more than {cap:,} numbers, more than one input may allocate here "
            f"(${MEMORY_LIMIT_ENV}, default half the free memory): not an MMSA feature file?"
        )
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
