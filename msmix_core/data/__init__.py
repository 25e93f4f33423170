"""Datasets: one validated in-memory schema, the synthetic default and MMSA feature files."""

from msmix_core.data.schema import LABEL_RANGES, SPLITS, MSADataset, Split, validate

__all__ = ["LABEL_RANGES", "SPLITS", "MSADataset", "Split", "validate"]
