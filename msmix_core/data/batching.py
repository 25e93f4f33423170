"""From a :class:`Split` to batches of tensors: pooling, a torch Dataset and a fast loader."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset

from msmix_core import MODALITIES
from msmix_core.data.schema import Split
from msmix_core.device import resolve_device
from msmix_core.errors import MsmixError


def pool_time(x: np.ndarray | torch.Tensor, lengths: np.ndarray | torch.Tensor | None = None):
    """Utterance-level features: the mean of ``x [N, T, D]`` over each sample's valid steps.

    ``lengths [N]`` gives the number of valid (leading) time steps per sample; ``None`` means all
    ``T`` are valid. A sample of length 0 pools to zeros rather than NaN. Works on numpy arrays
    and torch tensors alike and returns the same kind ``[N, D]``.
    """
    is_torch = isinstance(x, torch.Tensor)
    xt = x if is_torch else torch.from_numpy(np.asarray(x))
    if lengths is None:
        pooled = xt.mean(dim=1)
    else:
        lt = lengths if isinstance(lengths, torch.Tensor) else torch.from_numpy(np.asarray(lengths))
        lt = lt.to(device=xt.device)
        mask = torch.arange(xt.shape[1], device=xt.device)[None, :] < lt[:, None]
        summed = (xt * mask[..., None].to(xt.dtype)).sum(dim=1)
        pooled = summed / lt.clamp(min=1)[:, None].to(xt.dtype)
    return pooled if is_torch else pooled.numpy()


def _split_tensors(split: Split, device: torch.device) -> dict[str, torch.Tensor]:
    tensors = {m: torch.from_numpy(split.modality(m)).to(device) for m in MODALITIES}
    tensors["labels"] = torch.from_numpy(split.labels).to(device)
    tensors["index"] = torch.arange(len(split), device=device)
    for m in MODALITIES:
        lengths = split.lengths(m)
        if lengths is not None:
            tensors[f"{m}_lengths"] = torch.from_numpy(np.asarray(lengths, dtype=np.int64)).to(device)
    return tensors


class SplitDataset(Dataset):
    """A split as a torch ``Dataset``: item ``i`` is a dict of tensors, as in a batch without ``B``."""

    def __init__(self, split: Split) -> None:
        self.tensors = _split_tensors(split, torch.device("cpu"))

    def __len__(self) -> int:
        return int(self.tensors["labels"].shape[0])

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {k: v[i] for k, v in self.tensors.items()}


class SplitLoader:
    """Batches of a whole split, held as tensors on the device and sliced per batch.

    Each iteration is one epoch. With ``shuffle`` the order of epoch ``k`` (counting from 0)
    is a permutation drawn from a generator seeded with ``(seed, k)``, so a run is reproducible
    and resuming epoch ``k`` gives the same order. No per-sample Python collation happens.
    """

    def __init__(
        self,
        split: Split,
        batch_size: int,
        *,
        shuffle: bool,
        seed: int = 0,
        device: str | torch.device = "cpu",
        drop_last: bool = False,
    ) -> None:
        if int(batch_size) < 1:
            raise MsmixError(f"batch_size must be at least 1, got {batch_size}")
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = int(seed)
        self.drop_last = drop_last
        self.device = resolve_device(device)
        self.tensors = _split_tensors(split, self.device)
        self.num_samples = len(split)
        self.epoch = 0

    def __len__(self) -> int:
        if self.drop_last:
            return self.num_samples // self.batch_size
        return -(-self.num_samples // self.batch_size)

    def order(self, epoch: int) -> torch.Tensor:
        """The sample order of one epoch (identity without shuffling)."""
        if not self.shuffle:
            return torch.arange(self.num_samples, device=self.device)
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(self.num_samples, generator=generator).to(self.device)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        order = self.order(self.epoch)
        self.epoch += 1
        for b in range(len(self)):
            index = order[b * self.batch_size : (b + 1) * self.batch_size]
            yield {k: v[index] for k, v in self.tensors.items()}


def make_loader(
    split: Split,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int = 0,
    device: str | torch.device = "cpu",
    drop_last: bool = False,
) -> SplitLoader:
    """Batches of ``split`` as dicts of tensors on ``device`` (see ``docs/architecture.md``)."""
    return SplitLoader(split, batch_size, shuffle=shuffle, seed=seed, device=device, drop_last=drop_last)
