"""An encoder-training replay: one batch seen through the backbone after 0, 1, 2, ... epochs of MS-Mix.

A class steps through the frames and watches the encoder learn: the similarity map of the batch
(does it split into a negative and a positive block?), the pairs SASS keeps at δ (how many mix
opposite signs?) and a 2-D map of the latents. Training runs once (:func:`replay_batches`, the
expensive part, through the trainer's ``on_epoch_models`` hook); the frames at a δ are cheap
(:func:`replay_frames`).

A frame shows the models right after that epoch, while :func:`~msmix_core.analysis.fit_encoder`
returns the best-validation state of its run: the replay's epoch 3 and the pages' "trained (3
epochs)" latents differ when validation was best earlier.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.decomposition import PCA

from msmix_core.analysis.embedding import view_features
from msmix_core.analysis.latents import LatentBatch, encode_batch
from msmix_core.analysis.pairs import STRATEGIES, display_order, kept_share, modality_similarity
from msmix_core.data.schema import MSADataset
from msmix_core.errors import MsmixError
from msmix_core.mixing.ms_mix import candidate_mask
from msmix_core.training import TrainConfig, train
from msmix_core.training.config import torch_threads

#: The most epochs a replay trains for: a lesson's frames, not a training run.
MAX_REPLAY_EPOCHS = 20


@dataclass(frozen=True)
class ReplayFrame:
    """The batch after ``epoch`` epochs; arrays in batch order, ``order`` the batch positions by label.

    ``labels``: the batch's labels (the same in every frame);
    ``similarity``: SASS's averaged similarity ``[B, B]``; ``mask``: the pairs that pass δ;
    ``kept``/``share``: their count and share of ``B·(B−1)``; ``pairs``: SASS's drawn pairs
    ``[P, 2]``; ``opposite``: the share of drawn pairs with opposite-sign labels; ``xy``: ``[B, 2]``
    PCA coordinates of the fused latents, signs aligned with the frame before.
    """

    epoch: int
    labels: np.ndarray
    order: np.ndarray
    similarity: np.ndarray
    mask: np.ndarray
    kept: int
    share: float
    pairs: np.ndarray
    opposite: float
    xy: np.ndarray


class _Recorder:
    """Encodes the replay's batch whenever the trainer hands over its models."""

    def __init__(self, dataset: MSADataset, batch_size: int, seed: int) -> None:
        self.dataset, self.batch_size, self.seed = dataset, batch_size, seed
        self.batches: list[LatentBatch] = []

    def on_epoch_models(self, epoch: int, backbone, method) -> None:
        modes = backbone.training, method.training
        backbone.eval()
        method.eval()
        self.batches.append(encode_batch(backbone, method, self.dataset, self.batch_size, seed=self.seed))
        backbone.train(modes[0])
        method.train(modes[1])


def replay_batches(
    dataset: MSADataset, backbone: str = "late_fusion", *, seed: int = 1111, epochs: int = 5, batch_size: int = 64
) -> list[LatentBatch]:
    """The same seeded batch encoded before training and after each of ``epochs`` epochs of MS-Mix training.

    Training is :func:`~msmix_core.training.train` with method ``"msmix"`` and the default recipe
    (constant learning rate), so epoch ``k`` is what a ``k``-epoch run ends with; it may stop early
    (the recipe's patience), which gives fewer frames.
    """
    if not 1 <= epochs <= MAX_REPLAY_EPOCHS:
        raise MsmixError(f"a replay trains for 1 to {MAX_REPLAY_EPOCHS} epochs, got {epochs}")
    recorder = _Recorder(dataset, batch_size, seed)
    config = TrainConfig(backbone=backbone, method="msmix", epochs=epochs, seed=seed, save_weights=False)
    with torch_threads():  # the same frames whichever process trains them
        train(dataset, config, callbacks=[recorder])
    return recorder.batches


def replay_frames(batches: list[LatentBatch], threshold: float, seed: int = 0) -> list[ReplayFrame]:
    """One :class:`ReplayFrame` per batch of :func:`replay_batches`, at δ = ``threshold``; SASS draws with ``seed``."""
    frames, previous = [], None
    for epoch, batch in enumerate(batches):
        similarity = modality_similarity(batch)["averaged"]
        kept, share = kept_share(similarity, threshold)
        pairs = STRATEGIES["sass"](batch, torch.Generator().manual_seed(seed), threshold=threshold).pairs.numpy()
        opposite = float(np.mean(batch.labels[pairs[:, 0]] * batch.labels[pairs[:, 1]] < 0)) if len(pairs) else 0.0
        xy = _aligned(PCA(2, random_state=0).fit_transform(view_features(batch.latents)), previous)
        previous = xy
        mask = candidate_mask(torch.from_numpy(similarity), threshold).numpy()
        order = display_order(batch.labels, "label")
        frames.append(
            ReplayFrame(
                epoch, batch.labels, order, similarity, mask, kept, share, pairs, opposite, xy.astype(np.float32)
            )
        )
    return frames


def _aligned(xy: np.ndarray, previous: np.ndarray | None) -> np.ndarray:
    """``xy`` with each axis's sign flipped where that keeps it closer to ``previous`` (PCA's signs are arbitrary),
    so that stepping through the frames moves points instead of mirroring the map."""
    if previous is None:
        return xy
    signs = np.where(np.sum(xy * previous, axis=0) < 0, -1.0, 1.0)
    return xy * signs
