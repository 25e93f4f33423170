"""One entry point for every data source: ``load_dataset("synthetic")``, a ``.pkl`` or a ``.npz``."""

from __future__ import annotations

from pathlib import Path

from msmix_core.data.mmsa import load_mmsa
from msmix_core.data.npz import load_npz
from msmix_core.data.schema import MSADataset
from msmix_core.data.synthetic import make_synthetic
from msmix_core.errors import MsmixError


def load_dataset(source: str | Path, **kwargs) -> MSADataset:
    """Load ``"synthetic"`` / ``"synthetic:<preset>"`` (kwargs: seed and knobs), an MMSA ``.pkl``
    (kwargs: ``dataset``) or a converted ``.npz``."""
    text = str(source)
    if text == "synthetic" or text.startswith("synthetic:"):
        preset = text.partition(":")[2] or "small"
        return make_synthetic(preset=preset, **kwargs)
    path = Path(source)
    if not path.is_file():
        raise MsmixError(f"no such file: {path}: give 'synthetic', 'synthetic:mosi', an MMSA .pkl or a converted .npz")
    if path.suffix == ".npz":
        return load_npz(path)
    if path.suffix in (".pkl", ".pickle"):
        return load_mmsa(path, **kwargs)
    raise MsmixError(f"unknown file type '{path.suffix}' for {path}: use an MMSA .pkl or a .npz from `msmix convert`")
