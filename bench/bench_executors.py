"""What each executor adds to a grid: its fixed start-up and its cost per run, next to serial training.

    .venv/bin/python bench/bench_executors.py               # Markdown table on stdout
    .venv/bin/python bench/bench_executors.py --ray         # with a local Ray too (needs requirements-ray.txt)

Times ``msmix compare`` end to end (a fresh process, as a user runs it) on a tiny synthetic set
(48 training samples, 1 epoch, ``none``, one torch thread per run), so a run's own training is a
small part of its cost and the rest is what the backend adds. Each backend trains a small and a
large grid; the slope between the two is the wall time per run, the intercept the fixed cost
(importing torch, starting the pool or Ray). Serial, ``--workers 2`` and ``--ray --workers 2``;
results in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from msmix_core.data import make_synthetic, save_npz

GRIDS = (2, 20)
BACKENDS = {"serial": [], "--workers 2": ["--workers", "2"], "--ray --workers 2": ["--ray", "--workers", "2"]}


def wall_time(data: str, runs_dir: str, runs: int, backend: list[str]) -> float:
    seeds = [str(seed) for seed in range(1, runs + 1)]
    command = [sys.executable, "-m", "msmix_core", "compare", "--dataset", data, "--runs-dir", runs_dir]
    command += ["--backbones", "late_fusion", "--methods", "none", "--seeds", *seeds, "--epochs", "1"]
    command += ["--batch-size", "16", "--threads", "1", "--device", "cpu", "--quiet", "--no-weights", *backend]
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ray", action="store_true", help="also time a local Ray")
    args = parser.parse_args()
    backends = {k: v for k, v in BACKENDS.items() if args.ray or "--ray" not in v}
    with tempfile.TemporaryDirectory() as folder:
        data = str(Path(folder) / "tiny.npz")
        save_npz(make_synthetic(seed=0, n_train=48, n_valid=24, n_test=24), data)
        wall_time(data, f"{folder}/warm-up", 1, [])  # the first start reads torch from a cold disk cache
        rows = []
        for name, backend in backends.items():
            small, large = (wall_time(data, f"{folder}/{name}-{n}", n, backend) for n in GRIDS)
            per_run = (large - small) / (GRIDS[1] - GRIDS[0])
            rows.append((name, small, large, per_run, small - GRIDS[0] * per_run))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; load {load}")
    print(f"| backend | {GRIDS[0]} runs (s) | {GRIDS[1]} runs (s) | per run (s) | fixed (s) |")
    print("|---|---|---|---|---|")
    for name, small, large, per_run, fixed in rows:
        print(f"| {name} | {small:.1f} | {large:.1f} | {per_run:.2f} | {fixed:.1f} |")


if __name__ == "__main__":
    main()
