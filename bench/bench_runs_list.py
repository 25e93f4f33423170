"""Time of ``msmix runs list`` (plain, with --where, with --group-by experiment) over a store of many runs.

    .venv/bin/python bench/bench_runs_list.py --runs 2000            # builds the store in a temporary folder
    .venv/bin/python bench/bench_runs_list.py --runs-dir /tmp/big    # an existing store (built once, then reused)

Each run has a 10-epoch history shaped like the trainer's. Reported per command: the median over
``--repeats`` of the wall time and the CPU time of the command in this process (imports done), and
once the wall and CPU time of the whole ``python -m msmix_core`` process (interpreter start and
imports included). On a shared machine the CPU time is what an idle machine's wall time would be.
Paste the output into the "Run browser" section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from msmix_core.cli import main
from msmix_core.runs import RunStatus, RunStore

EPOCHS = 10


def build(root: Path, count: int) -> None:
    """``count`` finished runs of three methods, two epoch caps and a few seeds."""
    store = RunStore(root)
    start = datetime(2026, 12, 1, tzinfo=UTC)
    for i in range(count):
        method = ("none", "mixup", "msmix")[i % 3]
        config = {"dataset": "synthetic", "backbone": "late_fusion", "method": method, "seed": 1111 + i // 6}
        config |= {"recipe": "mmsa", "epochs": (10, 20)[i // 3 % 2], "lr": 0.001, "batch_size": 32}
        config |= {"method_kwargs": {"threshold": 0.4} if method == "msmix" else {}}
        history = [
            {
                "epoch": e,
                "losses": {"train": 1 / e, "valid": 1.1 / e, "test": 1.2 / e},
                "valid_metrics": {"MAE": 0.9, "Corr": 0.5},
                "test_metrics": {"MAE": 0.95, "Corr": 0.45},
                "best_epoch": e,
                "wall_time": 1.0,
            }
            for e in range(1, EPOCHS + 1)
        ]
        metrics = {"valid": {"MAE": 0.9, "Corr": 0.5}, "test": {"MAE": 0.95 - i * 1e-5, "Corr": 0.45}}
        store.record(
            config,
            history,
            status=RunStatus.FINISHED,
            metrics=metrics,
            best_epoch=EPOCHS,
            created=start + timedelta(minutes=i),
        )


def timed(argv: list[str], repeats: int) -> tuple[float, float]:
    """Median wall and CPU seconds of ``msmix ARGV`` in this process, its output discarded."""
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(argv) == 0
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def run(root: Path, repeats: int) -> None:
    count = sum(1 for path in root.iterdir() if not path.name.startswith("."))
    print(
        f"{date.today()}, {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f}; {count} runs of {EPOCHS} epochs, median of {repeats}\n"
    )
    print("| command | wall (s) | CPU (s) |")
    print("|---|---|---|")
    base = ["runs", "list", "--runs-dir", str(root)]
    for extra in ([], ["--where", "label=msmix", "--where", "max_epochs>=20"], ["--group-by", "experiment"]):
        wall, cpu = timed([*base, *extra], repeats)
        print(f"| `msmix {' '.join(['runs', 'list', *extra])}` | {wall:.2f} | {cpu:.2f} |", flush=True)
    start, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-m", "msmix_core", *base], check=True, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    wall = time.perf_counter() - start
    print(f"| `python -m msmix_core runs list` (whole process, imports included) | {wall:.2f} | {cpu:.2f} |")


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000, help="runs to build when no --runs-dir is given")
    parser.add_argument("--runs-dir", default=None, help="an existing store (built there first when empty)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(args.runs_dir or scratch)
        if not root.is_dir() or not any(root.iterdir()):
            build(root, args.runs)
        run(root, args.repeats)


if __name__ == "__main__":
    cli()
