"""One entry point for every data source: ``"synthetic[:preset]"``, ``"mosi-utterance:DIR"``, an MMSA ``.pkl``
or a converted ``.npz``."""

from __future__ import annotations

from pathlib import Path

from msmix_core.data.mmsa import load_mmsa
from msmix_core.data.mosi_utterance import OPTIONS, PREFIX, load_mosi_utterance, looks_like_mosi_folder, parse_source
from msmix_core.data.npz import load_npz
from msmix_core.data.schema import MSADataset
from msmix_core.data.synthetic import make_synthetic
from msmix_core.errors import MsmixError

SOURCES_HELP = (
    "'synthetic', 'synthetic:<preset>', 'mosi-utterance:<folder>[?split=standard&train_fraction=0.25&seed=3]', "
    "an MMSA .pkl feature file or a .npz from `msmix convert`"
)


def load_dataset(source: str | Path, **kwargs) -> MSADataset:
    """Load a dataset by name or path.

    - ``"synthetic"`` / ``"synthetic:mosi"``: :func:`make_synthetic` with that preset; ``kwargs``
      are its ``seed`` and knob overrides.
    - ``"mosi-utterance:DIR?split=speaker&train_fraction=1&seed=0"``: :func:`load_mosi_utterance` on the
      CMU-MOSI utterance folder DIR; options in the string (all optional) or in ``kwargs``.
    - ``*.pkl`` / ``*.pickle``: :func:`load_mmsa`; ``kwargs`` may give ``dataset``.
    - ``*.npz``: :func:`load_npz` (no kwargs).
    """
    text = str(source)
    if text == "synthetic" or text.startswith("synthetic:"):
        return make_synthetic(preset=text.partition(":")[2] or "small", **kwargs)
    if text.startswith(PREFIX):
        folder, options = parse_source(text)
        unknown = sorted(set(kwargs) - set(OPTIONS))
        if unknown:
            raise MsmixError(f"the MOSI utterance data takes the options {list(OPTIONS)}, got {unknown}")
        return load_mosi_utterance(folder, **(options | kwargs))
    path = Path(source)
    if looks_like_mosi_folder(path):
        raise MsmixError(f"{path} is a folder of CMU-MOSI utterance files: give it as '{PREFIX}{path}'")
    if not path.is_file():
        raise MsmixError(f"no such file: {path}: give {SOURCES_HELP}")
    suffix = path.suffix.lower()
    if suffix in (".pkl", ".pickle"):
        unknown = sorted(set(kwargs) - {"dataset"})
        if unknown:
            raise MsmixError(f"an MMSA file takes only the option 'dataset', got {unknown}")
        return load_mmsa(path, **kwargs)
    if suffix == ".npz":
        if kwargs:
            raise MsmixError(f"a .npz file takes no options, got {sorted(kwargs)}: its metadata travels with it")
        return load_npz(path)
    raise MsmixError(f"unknown file type '{path.suffix}' for {path}: give {SOURCES_HELP}")
