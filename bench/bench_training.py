"""Training benchmark: step time per backbone × method, and the default synthetic ``msmix compare``.

    .venv/bin/python bench/bench_training.py             # both parts, Markdown on stdout
    .venv/bin/python bench/bench_training.py --no-compare

A step is one optimiser step of the trainer (``step_losses`` + backward + Adam) on a batch of the
default synthetic data, timed after warm-up steps; the median over ``--steps`` steps is reported.
The compare part runs ``msmix compare`` with its defaults (late_fusion and tfn × none/mixup/msmix
× 3 seeds) into a temporary run store and reports its wall time and table. Paste the output into
the "Training" section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import statistics
import tempfile
import time
from datetime import date

import torch
from bench_mixing import trainer_step

from msmix_core.cli import main as cli_main
from msmix_core.data.batching import SplitLoader
from msmix_core.data.synthetic import make_synthetic
from msmix_core.device import resolve_device
from msmix_core.mixing.registry import METHODS
from msmix_core.models.registry import BACKBONES
from msmix_core.training import TrainConfig, build_models


def step_times(dataset, backbone: str, method: str, device: torch.device, steps: int, warmup: int) -> list[float]:
    """Seconds per training step of one backbone × method at the default batch size."""
    config = TrainConfig(backbone=backbone, method=method, device=str(device))
    step = trainer_step(*build_models(dataset, config, device), config, device)
    loader = SplitLoader(dataset.train, config.batch_size, shuffle=True, seed=0, device=device)
    batches = iter(loader)
    times = []
    for i in range(warmup + steps):
        batch = next(batches, None)
        if batch is None:
            batches = iter(loader)
            batch = next(batches)
        start = time.perf_counter()
        step(batch)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per backbone × method")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--no-compare", action="store_true", help="skip the default compare")
    args = parser.parse_args()
    device = resolve_device(args.device)
    print(f"## Training ({date.today()}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, ", end="")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device})\n")

    dataset = make_synthetic()
    methods = sorted(METHODS)
    print(f"Median ms per training step, batch {TrainConfig.batch_size}, default synthetic data:\n")
    print("| backbone | " + " | ".join(methods) + " |")
    print("|---|" + "---|" * len(methods))
    for backbone in sorted(BACKBONES):
        cells = [statistics.median(step_times(dataset, backbone, m, device, args.steps, args.warmup)) for m in methods]
        print(f"| {backbone} | " + " | ".join(f"{1000 * c:.1f}" for c in cells) + " |", flush=True)

    if not args.no_compare:
        with tempfile.TemporaryDirectory() as runs_dir:
            output = io.StringIO()
            start = time.perf_counter()
            with contextlib.redirect_stdout(output):
                cli_main(["compare", "--runs-dir", runs_dir, "--device", str(device), "--quiet"])
            seconds = time.perf_counter() - start
        print(f"\nDefault `msmix compare` (late_fusion, tfn × none, mixup, msmix × 3 seeds): {seconds:.0f} s\n")
        print("```\n" + output.getvalue().rstrip() + "\n```")


if __name__ == "__main__":
    main()
