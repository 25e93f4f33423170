"""Pooling against a loop reference, and complete, deterministic batching with the architecture's batch contract."""

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from msmix_core.data import SplitDataset, SplitLoader, make_synthetic, pool_time
from msmix_core.errors import MsmixError


def _loop_pool(x, lengths):
    """Reference: one sample at a time, zeros for an empty sample."""
    out = np.zeros((x.shape[0], x.shape[2]), dtype=np.float64)
    for i, n in enumerate(lengths):
        if n:
            out[i] = x[i, :n].astype(np.float64).mean(axis=0)
    return out


def test_pool_time_matches_a_loop_and_honours_lengths():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 7, 3)).astype(np.float32)
    lengths = np.array([7, 3, 1, 0, 5, 2])
    expected = _loop_pool(x, lengths)
    pooled = pool_time(x, lengths)
    assert isinstance(pooled, np.ndarray) and pooled.dtype == np.float32 and pooled.shape == (6, 3)
    np.testing.assert_allclose(pooled, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pool_time(x), _loop_pool(x, [7] * 6), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pool_time(x.astype(np.float64), list(lengths)), expected, rtol=1e-12)


def test_pool_time_on_tensors_stays_a_differentiable_tensor():
    rng = np.random.default_rng(1)
    x = torch.tensor(rng.normal(size=(4, 5, 2)), dtype=torch.float32, requires_grad=True)
    lengths = torch.tensor([5, 2, 0, 1])
    pooled = pool_time(x, lengths)
    assert isinstance(pooled, torch.Tensor) and pooled.dtype == torch.float32
    np.testing.assert_allclose(pooled.detach().numpy(), _loop_pool(x.detach().numpy(), [5, 2, 0, 1]), atol=1e-6)
    pooled.sum().backward()
    expected_grad = (np.arange(5)[None, :] < np.array([5, 2, 0, 1])[:, None]) / np.maximum([5, 2, 0, 1], 1)[:, None]
    np.testing.assert_allclose(x.grad[:, :, 0].numpy(), expected_grad, rtol=1e-6)


def test_pool_time_pools_integers_as_float_and_leaves_read_only_input_alone():
    x = np.arange(12).reshape(2, 3, 2)
    x.flags.writeable = False
    np.testing.assert_allclose(pool_time(x, np.array([1, 3])), [[0, 1], [8, 9]])


@pytest.mark.parametrize(
    ("x", "lengths", "message"),
    [
        (np.zeros((2, 3)), None, r"shape \[N, T, D\]"),
        (np.zeros((2, 3, 1)), np.array([1, 4]), r"lengths must lie in \[0, 3\]"),
        (np.zeros((2, 3, 1)), np.array([-1, 2]), r"lengths must lie in \[0, 3\]"),
        (np.zeros((2, 3, 1)), np.array([1, 2, 3]), r"lengths must have shape \(2,\)"),
    ],
)
def test_pool_time_rejects_bad_input(x, lengths, message):
    with pytest.raises(MsmixError, match=message):
        pool_time(x, lengths)


@pytest.fixture(scope="module")
def ragged():
    """37 training samples (batches of 8 leave 5 over) whose sequences run from half to full length."""
    return make_synthetic(n_train=37, n_valid=5, n_test=5, min_valid_frac=0.5)


def test_loader_covers_the_split_once_per_epoch_with_the_batch_contract(ragged):
    split = ragged.train
    loader = SplitLoader(split, 8, shuffle=True, seed=1)
    assert len(loader) == 5
    batches = list(loader)
    assert len(batches) == 5 and [len(b["labels"]) for b in batches] == [8, 8, 8, 8, 5]
    assert sorted(torch.cat([b["index"] for b in batches]).tolist()) == list(range(37))
    keys = {"text", "audio", "vision", "labels", "index", "text_lengths", "audio_lengths", "vision_lengths"}
    for batch in batches:
        assert set(batch) == keys
        rows = batch["index"].numpy()
        for m in ("text", "audio", "vision"):
            assert batch[m].dtype == torch.float32 and batch[m].shape[1:] == (16, 16 if m != "text" else 32)
            np.testing.assert_array_equal(batch[m].numpy(), split.modality(m)[rows])
            assert batch[f"{m}_lengths"].dtype == torch.int64
            np.testing.assert_array_equal(batch[f"{m}_lengths"].numpy(), split.lengths(m)[rows])
        assert batch["labels"].dtype == torch.float32 and batch["index"].dtype == torch.int64
        np.testing.assert_array_equal(batch["labels"].numpy(), split.labels[rows])


def test_same_seed_same_orders_and_epoch_k_depends_only_on_seed_and_k(ragged):
    def epoch(loader):
        return torch.cat([b["index"] for b in loader])

    a, b = SplitLoader(ragged.train, 8, shuffle=True, seed=1), SplitLoader(ragged.train, 8, shuffle=True, seed=1)
    first_a, second_a = epoch(a), epoch(a)
    assert torch.equal(first_a, epoch(b)) and torch.equal(second_a, epoch(b))
    assert not torch.equal(first_a, second_a)
    assert not torch.equal(first_a, epoch(SplitLoader(ragged.train, 8, shuffle=True, seed=2)))
    replay = SplitLoader(ragged.train, 8, shuffle=True, seed=1)
    replay.epoch = 1
    assert torch.equal(epoch(replay), second_a) and replay.epoch == 2
    assert torch.equal(a.order(0), first_a)


def test_unshuffled_loader_keeps_order_and_drop_last(ragged):
    split = ragged.train
    assert torch.cat([b["index"] for b in SplitLoader(split, 10, shuffle=False)]).tolist() == list(range(37))
    dropped = SplitLoader(split, 10, shuffle=True, drop_last=True)
    assert len(dropped) == 3 and [len(b["index"]) for b in dropped] == [10, 10, 10]
    assert len(SplitLoader(split, 64, shuffle=False, drop_last=True)) == 0


def test_splits_without_lengths_give_batches_without_lengths():
    split = make_synthetic(n_train=9, n_valid=3, n_test=3).train
    batch = next(iter(SplitLoader(split, 4, shuffle=False, device="auto")))
    assert set(batch) == {"text", "audio", "vision", "labels", "index"}
    assert batch["text"].device.type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_torch_dataloader_over_split_dataset_gives_the_same_batches(ragged):
    ds = SplitDataset(ragged.valid)
    assert len(ds) == 5 and ds[2]["index"].item() == 2 and ds[2]["vision"].shape == (16, 16)
    ours = list(SplitLoader(ragged.valid, 2, shuffle=False))
    theirs = list(DataLoader(ds, batch_size=2, shuffle=False))
    assert len(ours) == len(theirs) == 3
    for a, b in zip(ours, theirs, strict=True):
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 0}, "batch_size must be an integer >= 1"),
        ({"batch_size": 2.5}, "batch_size must be an integer >= 1"),
        ({"batch_size": 4, "seed": -3}, "seed must be an integer >= 0"),
        ({"batch_size": 4, "device": "tpu"}, "unknown device"),
    ],
)
def test_bad_loader_arguments_are_user_errors(ragged, kwargs, message):
    with pytest.raises(MsmixError, match=message):
        SplitLoader(ragged.train, shuffle=True, **kwargs)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_batches_land_on_the_gpu(ragged):
    batch = next(iter(SplitLoader(ragged.train, 8, shuffle=True, seed=0, device="cuda")))
    assert all(v.device.type == "cuda" for v in batch.values())
    pooled = pool_time(batch["audio"], batch["audio_lengths"])
    assert pooled.device.type == "cuda"
