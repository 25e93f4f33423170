"""The one in-memory schema every data source is turned into.

A :class:`MSADataset` holds three :class:`Split` objects (``train``, ``valid``, ``test``)
of plain numpy arrays plus the label range. It is validated on construction, so code
downstream can trust shapes and labels; every failure names the split, field and index.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, fields

import numpy as np

from msmix_core import MODALITIES
from msmix_core.errors import MsmixError

SPLITS: tuple[str, str, str] = ("train", "valid", "test")

#: Label ranges of the datasets MMSA distributes, keyed by the ``metrics`` name.
LABEL_RANGES: dict[str, tuple[float, float]] = {
    "mosi": (-3.0, 3.0),
    "mosei": (-3.0, 3.0),
    "sims": (-1.0, 1.0),
}


@dataclass
class Split:
    """One split: per-sample arrays, all with the same first dimension ``N``.

    ``text``/``audio``/``vision`` are float32 ``[N, T, D]``; ``*_lengths`` (optional) give
    each sample's number of valid time steps; ``labels`` is float32 ``[N]``;
    ``labels_T/A/V`` are CH-SIMS-style unimodal labels; ``ids`` are strings; ``raw_text``
    the transcripts when the source has them. ``extras`` carries per-sample arrays a source
    wants to expose (the synthetic data's conflict flags, speakers, true intensities).
    """

    text: np.ndarray
    audio: np.ndarray
    vision: np.ndarray
    labels: np.ndarray
    ids: np.ndarray
    text_lengths: np.ndarray | None = None
    audio_lengths: np.ndarray | None = None
    vision_lengths: np.ndarray | None = None
    labels_T: np.ndarray | None = None
    labels_A: np.ndarray | None = None
    labels_V: np.ndarray | None = None
    raw_text: np.ndarray | None = None
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def modality(self, name: str) -> np.ndarray:
        """The ``[N, T, D]`` features of one modality."""
        return getattr(self, name)

    def lengths(self, name: str) -> np.ndarray | None:
        """Valid time steps per sample of one modality, or None when all steps are valid."""
        return getattr(self, f"{name}_lengths")

    def subset(self, index: np.ndarray | slice) -> Split:
        """A new split holding the selected samples (numpy fancy indexing on every array)."""
        kwargs = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "extras":
                kwargs["extras"] = {k: v[index] for k, v in value.items()}
            else:
                kwargs[f.name] = None if value is None else value[index]
        return Split(**kwargs)

    def arrays(self) -> dict[str, np.ndarray]:
        """Every array of the split by field name (extras as ``extras/<name>``), Nones left out."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "extras":
                out.update({f"extras/{k}": v for k, v in value.items()})
            elif value is not None:
                out[f.name] = value
        return out


@dataclass
class MSADataset:
    """A multimodal sentiment dataset: three validated splits and the label range.

    ``metrics`` names the metric family (``"mosi"``, ``"mosei"`` or ``"sims"``) passed to
    :func:`msmix_core.metrics.mmsa_metrics`. ``info`` records provenance (source path,
    generator settings, how many values loading cleaned).
    """

    name: str
    splits: dict[str, Split]
    label_range: tuple[float, float]
    metrics: str = "mosi"
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not label_range_ok(self.label_range):
            raise MsmixError(f"label range {self.label_range!r:.80} must be {LABEL_RANGE_WANTED}")
        self.label_range = (float(self.label_range[0]), float(self.label_range[1]))
        validate(self)

    @property
    def train(self) -> Split:
        return self.splits["train"]

    @property
    def valid(self) -> Split:
        return self.splits["valid"]

    @property
    def test(self) -> Split:
        return self.splits["test"]

    @property
    def dims(self) -> dict[str, int]:
        """Feature size ``D`` per modality."""
        return {m: int(self.train.modality(m).shape[2]) for m in MODALITIES}

    @property
    def seq_lens(self) -> dict[str, int]:
        """Sequence length ``T`` per modality."""
        return {m: int(self.train.modality(m).shape[1]) for m in MODALITIES}

    def summary(self) -> dict:
        """Sizes and shapes in one small dict, for tables and logs."""
        return {
            "name": self.name,
            "metrics": self.metrics,
            "label_range": list(self.label_range),
            "sizes": {s: len(self.splits[s]) for s in SPLITS},
            "dims": self.dims,
            "seq_lens": self.seq_lens,
        }


def _fail(split: str, name: str, problem: str) -> MsmixError:
    return MsmixError(f"split '{split}', field '{name}': {problem}")


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


#: What :func:`label_range_ok` accepts, in words for error messages.
LABEL_RANGE_WANTED = "[low, high], two numbers that float32 holds (finite, at most 3.4e38 in size), low < high"
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def label_range_ok(value: object) -> bool:
    """Two real numbers that stay finite and ordered as float32, where labels and losses are computed (-1e308 is a
    float64 but overflows to -inf there)."""
    if not isinstance(value, list | tuple) or len(value) != 2:
        return False
    if any(isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating) for v in value):
        return False
    try:
        low, high = (float(v) for v in value)
    except OverflowError:  # an integer beyond any float
        return False
    return all(abs(v) <= _FLOAT32_MAX for v in (low, high)) and np.float32(low) < np.float32(high)


def validate(dataset: MSADataset) -> None:
    """Check every invariant of the schema; raise :class:`MsmixError` naming the culprit."""
    if not label_range_ok(dataset.label_range):
        raise MsmixError(f"label range {dataset.label_range!r:.80} must be {LABEL_RANGE_WANTED}")
    low, high = dataset.label_range
    if dataset.metrics not in LABEL_RANGES:
        raise MsmixError(f"unknown metrics family {dataset.metrics!r}: use one of {sorted(LABEL_RANGES)}")
    missing = [s for s in SPLITS if s not in dataset.splits]
    if missing:
        raise MsmixError(f"dataset '{dataset.name}' has no split {missing}: it needs train, valid and test")
    shapes: dict[str, dict[str, tuple[int, ...]]] = {}
    for split_name in SPLITS:
        split = dataset.splits[split_name]
        labels = split.labels
        if labels.ndim != 1:
            raise _fail(split_name, "labels", f"expected shape [N], got {labels.shape}")
        n = labels.shape[0]
        if n < 1:
            raise _fail(split_name, "labels", "no samples: every split needs at least one")
        for label_field in ("labels", "labels_T", "labels_A", "labels_V"):
            values = getattr(split, label_field)
            if values is None:
                continue
            if values.shape != (n,):
                raise _fail(split_name, label_field, f"expected shape ({n},), got {values.shape}")
            if values.dtype != np.float32:
                raise _fail(split_name, label_field, f"expected float32, got {values.dtype}")
            bad = ~np.isfinite(values)
            if bad.any():
                raise _fail(split_name, label_field, f"non-finite label at index {_first_bad(bad)}")
            outside = (values < low) | (values > high)
            if outside.any():
                i = _first_bad(outside)
                raise _fail(
                    split_name,
                    label_field,
                    f"label {float(values[i]):g} at index {i} is outside the range [{low}, {high}]",
                )
        split_dims = {}
        for m in MODALITIES:
            x = split.modality(m)
            if x.ndim != 3 or x.shape[0] != n:
                raise _fail(split_name, m, f"expected shape [{n}, T, D], got {tuple(x.shape)}")
            if x.dtype != np.float32:
                raise _fail(split_name, m, f"expected float32, got {x.dtype}")
            split_dims[m] = tuple(x.shape[1:])
            lengths = split.lengths(m)
            if lengths is not None:
                if lengths.shape != (n,):
                    raise _fail(split_name, f"{m}_lengths", f"expected shape ({n},), got {lengths.shape}")
                if lengths.dtype.kind not in "iu":
                    raise _fail(split_name, f"{m}_lengths", f"expected integers, got {lengths.dtype}")
                bad = (lengths < 0) | (lengths > x.shape[1])
                if bad.any():
                    i = _first_bad(bad)
                    raise _fail(
                        split_name, f"{m}_lengths", f"length {lengths[i]} at index {i} is outside [0, {x.shape[1]}]"
                    )
        shapes[split_name] = split_dims
        if len(split.ids) != n:
            raise _fail(split_name, "ids", f"expected {n} ids, got {len(split.ids)}")
        if split.raw_text is not None and len(split.raw_text) != n:
            raise _fail(split_name, "raw_text", f"expected {n} entries, got {len(split.raw_text)}")
        for key, values in split.extras.items():
            if len(values) != n:
                raise _fail(split_name, f"extras/{key}", f"expected {n} entries, got {len(values)}")
    _check_same_shapes(shapes)


def _check_same_shapes(shapes: dict[str, dict[str, tuple[int, ...]]]) -> None:
    """Every split has the same (T, D) per modality; the message names the split that differs from the other two."""
    for m in MODALITIES:
        found = {name: shapes[name][m] for name in SPLITS}
        common, count = Counter(found.values()).most_common(1)[0]
        if count == len(SPLITS):
            continue
        if count > 1:
            odd = next(name for name, shape in found.items() if shape != common)
            others = " and ".join(f"'{name}'" for name in SPLITS if name != odd)
            problem = f"(T, D) = {found[odd]}, but splits {others} have {common}"
        else:
            odd, problem = "train", "(T, D) differs in every split: " + ", ".join(f"{k} {v}" for k, v in found.items())
        raise _fail(odd, m, f"{problem}: every split needs the same time steps and feature size")
