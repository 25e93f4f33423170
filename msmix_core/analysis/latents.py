"""The latent features of one batch, and the backbone + intensity predictors that produce them."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import torch

from msmix_core import MODALITIES
from msmix_core.data.batching import SplitLoader, pool_time
from msmix_core.data.schema import SPLITS, MSADataset
from msmix_core.device import resolve_device
from msmix_core.errors import MsmixError
from msmix_core.mixing.methods import MSMix
from msmix_core.mixing.registry import build_method
from msmix_core.models.base import Backbone
from msmix_core.models.registry import build_backbone
from msmix_core.training import TrainConfig, train
from msmix_core.training.config import torch_threads


@dataclass
class LatentBatch:
    """One batch of the train split seen through a backbone's ``encode``.

    ``latents``: modality -> ``[B, D]`` float32 (sequence latents are averaged over time, which
    is what MS-Mix's similarity and intensity weights see anyway); ``labels`` ``[B]``;
    ``index`` ``[B]`` rows of the train split; ``intensities``: modality -> ``[B]`` predicted
    sentiment intensity in (-3, 3) from the MS-Mix predictors.
    """

    latents: dict[str, np.ndarray]
    labels: np.ndarray
    index: np.ndarray
    intensities: dict[str, np.ndarray]

    def tensors(self) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Latents and labels as CPU tensors, ready for the mixing methods."""
        return {m: torch.from_numpy(self.latents[m]) for m in MODALITIES}, torch.from_numpy(self.labels)


def fit_encoder(
    dataset: MSADataset,
    backbone: str = TrainConfig.backbone,
    *,
    seed: int = TrainConfig.seed,
    epochs: int = 0,
    device: str = "auto",
) -> tuple[Backbone, MSMix]:
    """A backbone and its MS-Mix method: seeded and untrained (``epochs=0``) or trained briefly.

    Training runs :func:`~msmix_core.training.train` with method ``"msmix"`` for ``epochs``
    epochs, so the intensity predictors have been fitted with SAL; untrained ones show what SAL
    starts from.
    """
    if epochs < 0:
        raise MsmixError(f"epochs must be 0 (untrained) or more, got {epochs}")
    if epochs:
        config = TrainConfig(backbone=backbone, method="msmix", epochs=epochs, seed=seed, device=device)
        with torch_threads():  # the same encoder whichever process trains it (a page, a test, the CLI)
            result = train(dataset, config)
        return result.backbone.eval(), result.method.eval()
    torch.manual_seed(seed)  # the only way to seed nn.Module initialisation
    target = resolve_device(device)
    model = build_backbone(backbone, dataset.dims, dataset.seq_lens).to(target).eval()
    method = build_method("msmix", model.latent_dims).to(target).eval()
    return model, method


@torch.no_grad()
def encode_batch(model: Backbone, method: MSMix, dataset: MSADataset, batch_size: int, *, seed: int = 0) -> LatentBatch:
    """Encode the first shuffled batch (seeded) of the train split; ``batch_size`` is capped by its size."""
    if batch_size < 2:
        raise MsmixError(f"batch size must be at least 2 to form pairs, got {batch_size}")
    device = next(model.parameters()).device
    size = min(batch_size, len(dataset.train))
    batch = next(iter(SplitLoader(dataset.train, size, shuffle=True, seed=seed, device=device)))
    encoded = model.encode(batch)
    latents = _utterance_latents(encoded)
    intensities = method.predict_intensities(encoded)
    return LatentBatch(
        latents={m: latents[m].float().cpu().numpy() for m in MODALITIES},
        labels=batch["labels"].cpu().numpy(),
        index=batch["index"].cpu().numpy(),
        intensities={m: intensities[m].reshape(-1).float().cpu().numpy() for m in MODALITIES},
    )


def _utterance_latents(encoded: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``[B, D]`` per modality: sequence latents averaged over time, as SASS and the pages see them."""
    return {m: encoded[m] if encoded[m].dim() == 2 else pool_time(encoded[m]) for m in MODALITIES}


@torch.no_grad()
def encode_split(
    model: Backbone, dataset: MSADataset, split: str = "train", batch_size: int = 256
) -> dict[str, torch.Tensor]:
    """Every sample of ``split`` through ``model.encode``, in row order: modality -> float32 ``[N, D]``."""
    if split not in SPLITS:
        raise MsmixError(f"unknown split {split!r}: choose one of {', '.join(SPLITS)}")
    device = next(model.parameters()).device
    parts: dict[str, list[torch.Tensor]] = {m: [] for m in MODALITIES}
    for batch in SplitLoader(dataset.splits[split], batch_size, shuffle=False, device=device):
        for m, latents in _utterance_latents(model.encode(batch)).items():
            parts[m].append(latents.float())
    return {m: torch.cat(parts[m]) for m in MODALITIES}


@cache
def code_digest() -> str:
    """A digest of msmix_core's source: a batch kept on disk is only reused by the code that encoded it."""
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256(f"torch {torch.__version__}".encode())
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def stored_batch(folder: str | Path, key: str, compute: Callable[[], LatentBatch]) -> LatentBatch:
    """``compute()`` once per ``key`` and version of the code, kept in ``folder`` as ``.npz`` (read without pickle).

    ``key`` must name everything the batch depends on besides the code (data, backbone, seed,
    epochs, batch size). A file that cannot be read as a batch is computed again.
    """
    name = hashlib.sha256(f"{key}|{code_digest()}".encode()).hexdigest()[:32]
    path = Path(folder) / f"{name}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as saved:
                return LatentBatch(
                    latents={m: saved[f"latent_{m}"] for m in MODALITIES},
                    labels=saved["labels"],
                    index=saved["index"],
                    intensities={m: saved[f"intensity_{m}"] for m in MODALITIES},
                )
        except Exception:  # any damage (a torn zip is BadZipFile, a cut entry EOFError or zlib.error): compute it again
            pass
    batch = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {f"latent_{m}": batch.latents[m] for m in MODALITIES} | {
        f"intensity_{m}": batch.intensities[m] for m in MODALITIES
    }
    partial = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp.npz")
    np.savez(partial, labels=batch.labels, index=batch.index, **arrays)
    os.replace(partial, path)  # whole or absent: a reader never sees half a file
    return batch
