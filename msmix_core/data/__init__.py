"""Datasets: one validated in-memory schema, the synthetic default, the real MOSI utterances and MMSA files."""

from msmix_core.data.batching import SplitDataset, SplitLoader, pool_time
from msmix_core.data.loading import load_dataset
from msmix_core.data.mmsa import RestrictedUnpickler, convert_to_npz, detect_family, load_mmsa, restricted_load
from msmix_core.data.mosi_utterance import MOSI_REPOSITORIES, MOSI_SOURCES, find_mosi_folder, load_mosi_utterance
from msmix_core.data.npz import load_npz, save_npz
from msmix_core.data.schema import LABEL_RANGES, SPLITS, MSADataset, Split, validate
from msmix_core.data.synthetic import PRESETS, SyntheticConfig, make_synthetic

__all__ = [
    "LABEL_RANGES",
    "MOSI_REPOSITORIES",
    "MOSI_SOURCES",
    "PRESETS",
    "SPLITS",
    "MSADataset",
    "RestrictedUnpickler",
    "Split",
    "SplitDataset",
    "SplitLoader",
    "SyntheticConfig",
    "convert_to_npz",
    "detect_family",
    "find_mosi_folder",
    "load_dataset",
    "load_mmsa",
    "load_mosi_utterance",
    "load_npz",
    "make_synthetic",
    "pool_time",
    "restricted_load",
    "save_npz",
    "validate",
]
