"""From a :class:`Split` to tensors: utterance-level pooling, a torch ``Dataset`` and a fast epoch loader.

The loader holds the whole split as tensors on the target device and gathers each batch with one
index per tensor: an epoch costs a few tensor ops per batch and no per-sample Python collation,
which matters because the trainer iterates every split every epoch.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset

from msmix_core import MODALITIES
from msmix_core.data.schema import Split
from msmix_core.device import resolve_device
from msmix_core.errors import MsmixError


def pool_time(
    x: np.ndarray | torch.Tensor, lengths: np.ndarray | torch.Tensor | None = None
) -> np.ndarray | torch.Tensor:
    """Utterance-level features: the mean of ``x [N, T, D]`` over each sample's valid steps, ``[N, D]``.

    ``lengths [N]`` counts the valid (leading) steps of each sample; ``None`` means all ``T``. A
    sample of length 0 pools to zeros, not NaN. Numpy in, numpy out; a tensor in, a tensor out (on
    its device, differentiable). Integer features are pooled as float32. The masked mean is one
    batched matrix product, so no ``[N, T, D]`` temporary is made.
    """
    is_numpy = not isinstance(x, torch.Tensor)
    xt = _as_tensor(x) if is_numpy else x
    if xt.ndim != 3:
        raise MsmixError(f"pool_time needs features of shape [N, T, D], got {tuple(xt.shape)}")
    if not xt.is_floating_point():
        xt = xt.float()
    if lengths is None:
        pooled = xt.mean(dim=1)
    else:
        lt = torch.as_tensor(np.asarray(lengths) if not isinstance(lengths, torch.Tensor) else lengths)
        lt = lt.to(device=xt.device, dtype=torch.int64)
        n, steps = xt.shape[0], xt.shape[1]
        if lt.shape != (n,):
            raise MsmixError(f"pool_time: lengths must have shape ({n},), got {tuple(lt.shape)}")
        if n and (int(lt.min()) < 0 or int(lt.max()) > steps):
            raise MsmixError(f"pool_time: lengths must lie in [0, {steps}], got [{int(lt.min())}, {int(lt.max())}]")
        mask = (torch.arange(steps, device=xt.device) < lt[:, None]).to(xt.dtype)
        pooled = torch.bmm(mask[:, None, :], xt)[:, 0] / lt.clamp(min=1)[:, None].to(xt.dtype)
    return pooled.numpy() if is_numpy else pooled


def _as_tensor(array: np.ndarray) -> torch.Tensor:
    """A tensor sharing ``array``'s memory when torch can (a copy for read-only or odd layouts)."""
    array = np.asarray(array)
    if not array.flags.writeable or not array.flags.c_contiguous:
        array = np.array(array, order="C")  # a writable, contiguous copy
    return torch.from_numpy(array)


class SplitDataset(Dataset):
    """A split as a torch ``Dataset`` of whole-split tensors on ``device``.

    ``ds[i]`` is one sample, a dict with the batch keys of ``docs/architecture.md`` and no batch
    dimension, so it also works with torch's ``DataLoader``; ``ds[index_tensor]`` gathers a whole
    batch at once, which is what :class:`SplitLoader` does.
    """

    def __init__(self, split: Split, device: str | torch.device = "cpu") -> None:
        device = resolve_device(device)
        tensors = {m: _as_tensor(split.modality(m)) for m in MODALITIES}
        tensors["labels"] = _as_tensor(split.labels)
        tensors["index"] = torch.arange(len(split))
        for m in MODALITIES:
            lengths = split.lengths(m)
            if lengths is not None:
                tensors[f"{m}_lengths"] = _as_tensor(lengths.astype(np.int64, copy=False))
        self.tensors = {k: v.to(device) for k, v in tensors.items()}
        self.device = device

    def __len__(self) -> int:
        return int(self.tensors["labels"].shape[0])

    def __getitem__(self, index: int | torch.Tensor) -> dict[str, torch.Tensor]:
        return {k: v[index] for k, v in self.tensors.items()}


class SplitLoader:
    """Batches of a split, one epoch per iteration; ``len()`` is the number of batches per epoch.

    Each batch is a dict of tensors on ``device``: ``text``/``audio``/``vision`` float32 ``[B, T, D]``,
    ``labels`` float32 ``[B]``, ``index`` int64 ``[B]`` (row in the split) and ``<modality>_lengths``
    int64 ``[B]`` when the split has them.

    With ``shuffle`` the order of epoch ``k`` (``epoch`` counts iterations started, from 0) is a
    permutation from a ``torch.Generator`` seeded with ``(seed, k)``: the same seed gives the same
    orders, and setting ``epoch`` replays any epoch. Without ``shuffle`` the split's own order is kept.
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
        if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer) or batch_size < 1:
            raise MsmixError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise MsmixError(f"seed must be an integer >= 0, got {seed!r}")
        self.dataset = SplitDataset(split, device)
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.drop_last = bool(drop_last)
        self.epoch = 0

    @property
    def device(self) -> torch.device:
        return self.dataset.device

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def order(self, epoch: int) -> torch.Tensor:
        """The sample order of ``epoch`` (int64, on the loader's device)."""
        n = len(self.dataset)
        if not self.shuffle:
            return torch.arange(n, device=self.device)
        state = np.random.SeedSequence([self.seed, int(epoch)]).generate_state(1, dtype=np.uint64)[0]
        generator = torch.Generator().manual_seed(int(state))
        return torch.randperm(n, generator=generator).to(self.device)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        order = self.order(self.epoch)
        self.epoch += 1
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            yield self.dataset[order[start : start + self.batch_size]]
