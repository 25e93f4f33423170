"""Wall time of one training run per backbone: what a grid of runs costs, per run, on this machine.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_runs.py --epochs 3
    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_runs.py --epochs 3 --dataset "mosi-utterance:DIR"

Each backbone trains ``--methods`` for ``--epochs`` epochs (no early stop: patience = epochs) on one
torch thread, as a pool or Ray worker does, in this one process, one run after another. Reported:
the run's wall time (model building, every epoch, scoring) and its median epoch. Paste the output
into the "Per-run time" section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from datetime import date

import torch

from msmix_core.data.loading import load_dataset
from msmix_core.models.registry import BACKBONES
from msmix_core.training import TrainConfig, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="synthetic")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--methods", nargs="+", default=["none", "msmix"])
    parser.add_argument("--backbones", nargs="+", default=list(BACKBONES))
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(1)
    dataset = load_dataset(args.dataset)
    print(
        f"{date.today()}, {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
        f"{torch.__version__}, 1 thread, device {args.device}, load average {os.getloadavg()[0]:.1f}; "
        f"{dataset.name} ({len(dataset.train)} train samples), {args.epochs} epochs per run\n"
    )
    print("| backbone | method | run (s) | median epoch (s) |")
    print("|---|---|---|---|")
    for backbone in args.backbones:
        for method in args.methods:
            config = TrainConfig(
                backbone=backbone,
                method=method,
                epochs=args.epochs,
                patience=args.epochs,
                seed=1111,
                device=args.device,
                save_weights=False,
            )
            start = time.perf_counter()
            result = train(dataset, config)
            wall = time.perf_counter() - start
            epoch = statistics.median(record["wall_time"] for record in result.history)
            print(f"| {backbone} | {method} | {wall:.1f} | {epoch:.2f} |", flush=True)


if __name__ == "__main__":
    main()
