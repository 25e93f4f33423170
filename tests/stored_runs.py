"""A run store filled by hand, for the run browser's tests: what a researcher's store holds after a few days.

No training: each run is recorded whole with a history shaped like the trainer's records, so tables,
groups, diffs and curves can be checked against numbers written here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from msmix_core.runs import Run, RunStore

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def history(epochs: int, offset: float) -> list[dict]:
    """Epoch records as the trainer writes them; test MAE falls from 1.0 + offset by 0.1 an epoch."""
    return [
        {
            "epoch": e,
            "losses": {"train": 1.0 / e, "valid": 1.1 / e, "test": 1.2 / e},
            "valid_metrics": {"MAE": 0.9 + offset - 0.1 * e},
            "test_metrics": {"MAE": 1.0 + offset - 0.1 * e, "Corr": 0.1 * e},
            "best_epoch": e,
            "wall_time": 2.0,
        }
        for e in range(1, epochs + 1)
    ]


def record(
    store: RunStore,
    minutes: int,
    method: str,
    seed: int,
    epochs: int,
    dataset: str,
    info: dict | None = None,
    backbone: str = "late_fusion",
    weights: dict | None = None,
    **knobs,
) -> Run:
    """One finished run created ``minutes`` after :data:`START`; its test MAE is 1.0 - 0.1 × epochs + seed / 100.
    ``info``: the config's ``dataset_info`` (none by default); ``weights``: a state dict to keep (none)."""
    label = " ".join([method, *(f"{k}={v:g}" for k, v in knobs.items())])
    config = {"dataset": dataset, "backbone": backbone, "method": method, "label": label, "seed": seed}
    config |= {} if info is None else {"dataset_info": info}
    config |= {"recipe": "mmsa", "epochs": epochs, "lr": 0.001, "batch_size": 32, "method_kwargs": knobs}
    offset = seed / 100
    test = {"MAE": 1.0 + offset - 0.1 * epochs, "Corr": 0.1 * epochs}
    return store.record(
        config,
        history(epochs, offset),
        status="finished",
        metrics={"valid": {"MAE": 0.9 + offset - 0.1 * epochs}, "test": test},
        best_epoch=epochs,
        weights=weights,
        created=START + timedelta(minutes=minutes),
    )


def fill(store: RunStore, dataset: str = "synthetic") -> dict[str, list[Run]]:
    """none and msmix over seeds 1-3 at 2 epochs, msmix again at 3 epochs, and a δ sweep (0.2, 0.6) over seeds 1-2."""
    runs: dict[str, list[Run]] = {"none": [], "msmix": [], "msmix 3 epochs": [], "sweep": []}
    for seed in (1, 2, 3):
        runs["none"].append(record(store, seed, "none", seed, 2, dataset))
        runs["msmix"].append(record(store, 10 + seed, "msmix", seed, 2, dataset))
        runs["msmix 3 epochs"].append(record(store, 20 + seed, "msmix", seed, 3, dataset))
    for i, threshold in enumerate((0.2, 0.6)):
        for seed in (1, 2):
            runs["sweep"].append(record(store, 30 + 2 * i + seed, "msmix", seed, 2, dataset, threshold=threshold))
    return runs


def record_on_data(store: RunStore, folder: str) -> dict[str, Run]:
    """Runs whose configs carry ``dataset_info`` as the loaders store it: CMU-MOSI (its ``folder``, a server path,
    and per-modality z-score lists), an MMSA file (its path as ``source``) and synthetic data (no path)."""
    zscore = {m: {"mean": [0.1 * i for i in range(20)], "std": [1.0] * 20} for m in ("text", "audio", "vision")}
    infos = {
        "mosi": ("mosi-utterance (speaker split)", {"source": "mosi-utterance", "folder": folder, "zscore": zscore}),
        "file": ("mosi:aligned_50.pkl", {"source": f"{folder}/aligned_50.pkl", "cleaned": []}),
        "synthetic": ("synthetic:small", {"source": "synthetic", "preset": "small", "seed": 0}),
    }
    return {
        kind: record(store, 60 + minutes, "none", 1, 2, dataset, info=info | {"split": "speaker"})
        for minutes, (kind, (dataset, info)) in enumerate(infos.items())
    }
