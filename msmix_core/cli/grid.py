"""The options and the runner every training command shares (train, compare, ablate, sweep, tune): a grid of
backbones × variants × seeds, trained through an executor, recorded in the store, printed as a table.

Imported only when a training command is chosen: it imports torch and the trainer.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from tqdm import tqdm

from msmix_core.cli.common import (
    RUNS_DIR_HELP,
    check_outputs,
    echo,
    load_source,
    positive_int,
    seed_value,
    write_outputs,
)
from msmix_core.data.schema import MSADataset
from msmix_core.device import resolve_device
from msmix_core.errors import MsmixError, first_line
from msmix_core.experiments.grid import Variants, config_grid
from msmix_core.experiments.sweeps import parse_value
from msmix_core.metrics import METRIC_KEYS
from msmix_core.runs import Run, RunStatus, RunStore, compare_runs, format_table
from msmix_core.training import TrainConfig, build_models
from msmix_core.training.config import LOSSES, MIX_LOSSES, OPTIMIZERS, RECIPES, SCHEDULES, recipes_help
from msmix_core.training.executors import (
    DEFAULT_WORKERS_RULE,
    SERIAL_CORES,
    THREADS,
    Executor,
    LocalPoolExecutor,
    SerialExecutor,
    default_workers,
)
from msmix_core.training.ray_executor import RayExecutor

#: Seeds of a run when none are given: the first three of the five (1111-1115) MMSA's papers average.
DEFAULT_SEEDS: tuple[int, ...] = tuple(range(TrainConfig.seed, TrainConfig.seed + 3))

#: The metrics a printed table shows per dataset family: what papers report (Acc-2 and F1 on Non0).
TABLE_METRICS: dict[str, tuple[str, ...]] = {
    "mosi": ("Has0_acc_2", "Non0_acc_2", "Non0_F1_score", "Mult_acc_7", "MAE", "Corr"),
    "mosei": ("Has0_acc_2", "Non0_acc_2", "Non0_F1_score", "Mult_acc_7", "MAE", "Corr"),
    "sims": ("Mult_acc_2", "F1_score", "Mult_acc_3", "Mult_acc_5", "MAE", "Corr"),
}


def parse_knobs(items: Sequence[str], names: Sequence[str], option: str) -> dict[str, dict[str, Any]]:
    """``[NAME.]KEY=VALUE`` items -> knobs per name; an item without ``NAME.`` applies to every name."""
    knobs: dict[str, dict[str, Any]] = {name: {} for name in names}
    for item in items:
        key, sep, text = item.partition("=")
        target, dot, key = key.rpartition(".")
        if not sep or not key:
            raise MsmixError(f"{option} {item!r}: write KEY=VALUE or NAME.KEY=VALUE, e.g. {option} alpha=2.0")
        if dot and target not in knobs:
            raise MsmixError(f"{option} {item!r}: {target!r} is not one of this command's {list(names)}")
        for name in [target] if dot else names:
            knobs[name][key] = parse_value(text)
    return knobs


class _Progress:
    """The runs bar for every backend: a tick per stored run, and the epoch of each run in training.

    Serial and pool runs report their epochs (``on_event``); Ray tasks only their end.
    """

    def __init__(self, bar: tqdm, configs: Sequence[TrainConfig]) -> None:
        self.bar, self.configs = bar, configs
        self.epochs: dict[int, int] = {}
        self.statuses: list[str] = []
        self.last: Run | None = None

    def _show(self) -> None:
        training = ", ".join(
            f"{self.configs[i].display_label} s{self.configs[i].seed} epoch {e}" for i, e in sorted(self.epochs.items())
        )
        self.bar.set_postfix_str(training, refresh=True)

    def on_event(self, index: int, kind: str, *payload: Any) -> None:
        if kind == "on_train_start":
            self.epochs[index] = 0
        elif kind == "on_epoch_end":
            self.epochs[index] = payload[0].epoch
        else:
            return
        self._show()

    def on_run(self, index: int, run: Run) -> None:
        self.statuses.append(run.status)
        self.last = run
        self.epochs.pop(index, None)
        self.bar.update(1)
        self._show()

    def summary(self, stored_in_flight: bool) -> str:
        """What an interruption of a pool (``stored_in_flight``) or Ray grid left in the store, in words."""
        cut = self.statuses.count(RunStatus.INTERRUPTED)
        done = f"{len(self.statuses)} of {len(self.configs)} runs stored"
        if not stored_in_flight:
            return f"{done}; the Ray tasks in progress were cancelled, not stored"
        return f"{done}, the {cut} in progress among them as 'interrupted'"


def make_executor(args: argparse.Namespace, runs: int) -> Executor:
    """The executor ``--ray``, ``--workers`` (default: :func:`default_workers`) and ``--threads`` ask for."""
    workers = args.workers or default_workers(runs)
    if args.ray is not None:
        address = None if args.ray == "local" else args.ray
        cap = args.workers if args.workers and args.workers > 1 else None  # a local Ray's CPUs
        return RayExecutor(address, workers=cap, threads=args.threads)
    if workers == 1:
        return SerialExecutor(threads=args.threads)
    return LocalPoolExecutor(workers, threads=args.threads)


def _train_all(
    args: argparse.Namespace, executor: Executor, dataset: MSADataset, configs: list[TrainConfig], store: RunStore
) -> list:
    """Train every config with ``executor``, with a tqdm bar (stderr) of stored runs and epochs."""
    with tqdm(total=len(configs), desc="runs", unit="run", file=sys.stderr, disable=args.quiet) as bar:
        progress = _Progress(bar, configs)
        try:
            return executor.run(dataset, configs, store, on_run=progress.on_run, on_event=progress.on_event)
        except KeyboardInterrupt as exc:  # serial: the trainer stored the one run in progress, as main() says
            if not isinstance(executor, SerialExecutor):
                exc.summary = progress.summary(stored_in_flight=isinstance(executor, LocalPoolExecutor))
            raise
        except Exception as exc:  # serial: the trainer stored the run failed with its error; the grid stops there
            if not isinstance(executor, SerialExecutor):  # a pool or Ray grid stores a failed run and goes on
                raise
            raise MsmixError(_stopped(progress, exc)) from exc


def _failure(run: Run, error: object = None) -> str:
    """One line for a run stored ``failed``: its id and its error (which may span lines)."""
    return f"run {run.id} failed: {' '.join(str(run.error if error is None else error).split())}"


def _stopped(progress: _Progress, exc: Exception) -> str:
    """Why a serial grid stopped: the run the trainer stored failed, as a pool reports it, and what did not train."""
    run = progress.last
    error = exc if isinstance(exc, MsmixError) else f"{type(exc).__name__}: {first_line(exc)}"  # the run keeps it whole
    line = _failure(run, error) if run is not None and run.status == RunStatus.FAILED else f"a run failed: {error}"
    line = " ".join(line.split())
    left = len(progress.configs) - len(progress.statuses)
    return line + (f"; the {left} runs after it did not train" if left else "")


def grid_configs(args: argparse.Namespace, backbones: Sequence[str], variants: Variants) -> list[TrainConfig]:
    """The command line's grid (:func:`~msmix_core.experiments.grid.config_grid`): ``variants`` maps a label
    to (method, knobs); ``--seeds``, ``--set``, ``--backbone-set`` and the training options fill in the rest."""
    methods = list(dict.fromkeys(method for method, _ in variants.values()))
    training = {
        "recipe": args.recipe,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "optimizer": args.optimizer,
        "lr": args.lr,
        "weight_decay": args.weight_decay,
        "schedule": args.schedule,
        "warmup": args.warmup,
        "grad_clip": args.grad_clip,
        "patience": args.patience,
        "loss": args.loss,
        "mix_loss": args.mix_loss,
        "device": args.device,
        "save_weights": not args.no_weights,
    }
    return config_grid(
        variants,
        args.seeds,
        backbones,
        training=training,
        method_knobs=parse_knobs(args.set, methods, "--set"),
        backbone_knobs=parse_knobs(args.backbone_set, backbones, "--backbone-set"),
    )


def run_grid(
    args: argparse.Namespace,
    configs: list[TrainConfig],
    baseline: str | None,
    knob_values: dict[str, dict[str, Any]] | None = None,
    then: Callable[[list[Run], list[str]], None] | None = None,
) -> int:
    """Train every config (checking names and knobs of all of them first), then print the table.

    ``knob_values`` (a sweep's ``label -> {knob: value}``) puts one column per knob in the table, sorted by them;
    ``then(runs, metrics)`` runs after the table is printed (a sweep's plot).
    """
    check_outputs(args.out)
    chosen = make_executor(args, len(configs))  # a bad --ray address fails here, before the data are read
    dataset = load_source(args.dataset)
    store = RunStore(args.runs_dir)
    metrics = args.metrics or TABLE_METRICS[dataset.metrics]
    unknown = [m for m in metrics if m not in METRIC_KEYS[dataset.metrics]]
    if unknown:
        raise MsmixError(f"--metrics {unknown}: {dataset.metrics} data has {list(METRIC_KEYS[dataset.metrics])}")
    device = resolve_device(args.device)
    checked = set()
    for config in configs:  # fail on a bad name or knob before hours of training, not in the middle
        key = json.dumps([config.backbone, config.backbone_kwargs, config.method, config.method_kwargs], default=str)
        if key not in checked:
            build_models(dataset, config, device)
            checked.add(key)
    runs = _train_all(args, chosen, dataset, configs, store)

    long = compare_runs(store.table(runs), baseline=baseline, metrics=metrics)
    if knob_values:
        knobs = list(next(iter(knob_values.values())))
        for position, knob in enumerate(knobs, start=long.columns.get_loc("label")):
            long.insert(position, knob, long["label"].map(lambda label, k=knob: knob_values[label][k]))
        long = long.drop(columns="label").sort_values(["dataset", "backbone", *knobs], kind="stable")
    echo(format_table(long).to_string(index=False))
    if baseline is not None:
        print(f"* / †: significantly better / worse than {baseline!r} (paired t-test over seeds, p < 0.05)")
    print(f"{len(runs)} runs stored in {store.root}")
    write_outputs(args.out, long, format_table(long, p_values=True))
    if then is not None:
        then(runs, metrics)
    failed = [run for run in runs if run.status == RunStatus.FAILED]
    for run in failed:  # a pool or Ray grid goes on past a failed run; the table leaves it out
        echo(f"msmix: error: {_failure(run)}", err=True)
    return 1 if failed else 0


def add_training_options(p: argparse.ArgumentParser) -> None:
    """The options every training subcommand shares, defaults taken from TrainConfig."""
    d = TrainConfig()
    g = p.add_argument_group("data and runs")
    g.add_argument(
        "--dataset",
        default="synthetic",
        help="synthetic, synthetic:PRESET, mosi-utterance:DIR[?split=standard&train_fraction=F&seed=S] (the real "
        "CMU-MOSI utterances, see docs/data.md), or an MMSA .pkl / .npz file",
    )
    g.add_argument("--runs-dir", default=None, help=RUNS_DIR_HELP)
    g.add_argument("--device", default=d.device, help="auto (CUDA when present), cpu, cuda or cuda:N")
    g.add_argument("--seeds", type=seed_value, nargs="+", default=list(DEFAULT_SEEDS), help="one run per seed")
    cores = os.cpu_count() or 1
    g.add_argument(
        "--workers",
        type=positive_int,
        default=None,
        help="train N runs at a time, each in its own process on --threads 1 (each pays the start-up of importing "
        f"torch); 1: one after another in this process. Default: {DEFAULT_WORKERS_RULE}; on this machine "
        f"({cores} cores) {'1' if cores <= SERIAL_CORES else f'min({cores}, runs)'}",
    )
    g.add_argument(
        "--ray",
        nargs="?",
        const="local",
        default=None,
        metavar="ADDRESS",
        help="train each run as a Ray task: --ray starts a local Ray (--workers N > 1 caps its CPUs), --ray ADDRESS "
        "(auto, or the head's HOST:6379) joins a running cluster; needs pip install -r requirements-ray.txt",
    )
    g.add_argument(
        "--threads",
        type=positive_int,
        default=THREADS,
        help="torch threads per run, serial, --workers or --ray alike (default %(default)s); a run's numbers "
        "depend on its seed and its thread count, see docs/cli.md",
    )
    g = p.add_argument_group("training (defaults: the --recipe's; an option given here overrides it)")
    g.add_argument(
        "--recipe",
        choices=list(RECIPES),
        default=d.recipe,
        help=f"{recipes_help()}. Default %(default)s",
    )
    g.add_argument("--epochs", type=int, default=None, help="maximum epochs (mmsa 30, release 200, glomo 70)")
    g.add_argument("--patience", type=int, default=None, help="early stop after N epochs without improvement")
    g.add_argument("--batch-size", type=int, default=None, help="mmsa 32, release 64, glomo 240")
    g.add_argument("--optimizer", choices=list(OPTIMIZERS), default=None, help="mmsa adam, release and glomo adamw")
    g.add_argument("--lr", type=float, default=None, help="peak learning rate (mmsa 1e-3, release 1e-4, glomo 4e-5)")
    g.add_argument("--weight-decay", type=float, default=None, help="mmsa 0, release and glomo 1e-4")
    g.add_argument("--schedule", choices=list(SCHEDULES), default=None, help="mmsa constant, release warmup_cosine")
    g.add_argument("--warmup", type=float, default=None, help="warm-up share of the epochs (release 0.1)")
    g.add_argument("--grad-clip", type=float, default=d.grad_clip, help="clip gradient values at ±C (default off)")
    g.add_argument("--loss", choices=list(LOSSES), default=None, help="task loss (mmsa and glomo l1, release mse)")
    g.add_argument(
        "--mix-loss",
        choices=list(MIX_LOSSES),
        default=None,
        help="loss of the mixed-sample term: mse (every recipe, as the release), l1, or task (= --loss)",
    )
    g.add_argument("--no-weights", action="store_true", help="do not save the best weights of each run")
    g = p.add_argument_group("knobs")
    g.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="[METHOD.]KEY=VALUE",
        help="a mixing-method knob, e.g. --set alpha=2.0 --set msmix.threshold=0.2 (repeatable)",
    )
    g.add_argument(
        "--backbone-set",
        action="append",
        default=[],
        metavar="[BACKBONE.]KEY=VALUE",
        help="a backbone size knob, e.g. --backbone-set tfn.hidden=32 (repeatable)",
    )
    g = p.add_argument_group("output")
    g.add_argument("--metrics", nargs="+", default=None, help="metrics in the table (default: what papers report)")
    g.add_argument("--out", nargs="+", default=[], metavar="FILE", help="write the table to FILE.csv and/or FILE.md")
    g.add_argument("--quiet", action="store_true", help="no progress bars")
