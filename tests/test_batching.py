"""Pooling against a loop reference, and deterministic, complete batching."""

import numpy as np
import torch

from msmix_core.data import SplitDataset, make_loader, make_synthetic, pool_time


def test_pool_time_matches_a_loop_and_honours_lengths():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 7, 3)).astype(np.float32)
    lengths = np.array([7, 3, 1, 0, 5])
    expected = np.stack([x[i, :n].mean(axis=0) if n else np.zeros(3) for i, n in enumerate(lengths)])
    np.testing.assert_allclose(pool_time(x, lengths), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(pool_time(x), x.mean(axis=1), rtol=1e-6)
    as_torch = pool_time(torch.from_numpy(x), torch.from_numpy(lengths))
    assert isinstance(as_torch, torch.Tensor)
    np.testing.assert_allclose(as_torch.numpy(), expected, rtol=1e-6, atol=1e-6)


def _tiny():
    return make_synthetic(n_train=37, n_valid=5, n_test=5)


def test_loader_covers_the_split_once_per_epoch_with_batch_contract():
    split = _tiny().train
    loader = make_loader(split, 8, shuffle=True, seed=1)
    assert len(loader) == 5
    batches = list(loader)
    index = torch.cat([b["index"] for b in batches])
    assert sorted(index.tolist()) == list(range(37))
    first = batches[0]
    assert first["text"].shape == (8, 16, 32) and first["text"].dtype == torch.float32
    assert first["labels"].shape == (8,) and first["index"].dtype == torch.int64
    np.testing.assert_array_equal(first["labels"].numpy(), split.labels[first["index"].numpy()])


def test_same_seed_same_order_and_epochs_differ():
    split = _tiny().train
    a, b = make_loader(split, 8, shuffle=True, seed=1), make_loader(split, 8, shuffle=True, seed=1)
    epoch0_a, epoch0_b = [x["index"] for x in a], [x["index"] for x in b]
    assert all(torch.equal(x, y) for x, y in zip(epoch0_a, epoch0_b, strict=True))
    epoch1_a = torch.cat([x["index"] for x in a])
    assert not torch.equal(torch.cat(epoch0_a), epoch1_a)
    other = torch.cat([x["index"] for x in make_loader(split, 8, shuffle=True, seed=2)])
    assert not torch.equal(torch.cat(epoch0_a), other)


def test_unshuffled_loader_keeps_order_and_drop_last():
    split = _tiny().train
    assert torch.cat([b["index"] for b in make_loader(split, 10, shuffle=False)]).tolist() == list(range(37))
    assert len(make_loader(split, 10, shuffle=False, drop_last=True)) == 3


def test_lengths_travel_with_the_batch():
    split = _tiny().train
    split.audio_lengths = np.arange(37) % 16 + 1
    batch = next(iter(make_loader(split, 4, shuffle=False)))
    assert batch["audio_lengths"].tolist() == [1, 2, 3, 4]
    assert "text_lengths" not in batch


def test_torch_dataset_items():
    ds = SplitDataset(_tiny().valid)
    assert len(ds) == 5 and ds[2]["index"].item() == 2 and ds[2]["vision"].shape == (16, 16)
