"""The ``msmix`` command line (also ``python -m msmix_core``): train, compare and inspect runs.

Subcommands: ``train``, ``compare``, ``ablate``, ``sweep``, ``tune``, ``robustness``, ``partners``,
``methods``, ``runs list|show|diff|tag|note|delete`` and ``convert``. Grids train through an executor (``--workers``).
Every training run is recorded in the run store, so tables can be rebuilt later.
User errors (a missing file, an unknown name, a bad knob value) print one line on stderr and
exit with status 2; anything else is a bug and keeps its traceback. See docs/cli.md.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from tqdm import tqdm

from msmix_core import MODALITIES, __version__
from msmix_core.data.loading import load_dataset
from msmix_core.data.mmsa import load_mmsa
from msmix_core.data.mosi_utterance import PREFIX as MOSI_PREFIX
from msmix_core.data.npz import save_npz
from msmix_core.data.schema import SPLITS, MSADataset
from msmix_core.device import resolve_device
from msmix_core.errors import MsmixError, MsmixWarning, printable
from msmix_core.experiments import ABLATIONS, DEFAULT_ABLATIONS, FULL_LABEL, ablation_label
from msmix_core.experiments.sweeps import format_value, knob_marks, knob_value, parse_value, sweep_table, sweep_variants
from msmix_core.limits import check_size
from msmix_core.metrics import METRIC_KEYS
from msmix_core.mixing.knobs import THRESHOLD
from msmix_core.mixing.registry import describe_methods
from msmix_core.runs import Run, RunStore, compare_runs, format_table, to_markdown
from msmix_core.runs.annotations import read_note, read_tags, tag, write_note
from msmix_core.runs.browse import browse_table, config_diff, filter_table, group_table
from msmix_core.training import TrainConfig, build_models
from msmix_core.training.config import LOSSES, MIX_LOSSES, OPTIMIZERS, RECIPES, SCHEDULES
from msmix_core.training.executors import (
    DEFAULT_WORKERS_RULE,
    SERIAL_CORES,
    THREADS,
    Executor,
    LocalPoolExecutor,
    RayExecutor,
    SerialExecutor,
    default_workers,
)
from msmix_core.training.robustness import evaluate_robustness, load_trained

#: Seeds of a run when none are given: the first three of the five (1111-1115) MMSA's papers average.
DEFAULT_SEEDS: tuple[int, ...] = tuple(range(TrainConfig.seed, TrainConfig.seed + 3))

#: The metrics a printed table shows per dataset family: what papers report (Acc-2 and F1 on Non0).
TABLE_METRICS: dict[str, tuple[str, ...]] = {
    "mosi": ("Has0_acc_2", "Non0_acc_2", "Non0_F1_score", "Mult_acc_7", "MAE", "Corr"),
    "mosei": ("Has0_acc_2", "Non0_acc_2", "Non0_F1_score", "Mult_acc_7", "MAE", "Corr"),
    "sims": ("Mult_acc_2", "F1_score", "Mult_acc_3", "Mult_acc_5", "MAE", "Corr"),
}

#: The most runs one command trains: each is a folder in the store and minutes of training.
MAX_RUNS = 10_000

#: The variants ``msmix ablate`` runs by default: each MS-Mix component off in turn, then all three.
DEFAULT_ABLATE_VARIANTS: tuple[str, ...] = (*DEFAULT_ABLATIONS, "no-parts")


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error on one line (and exits 2, as argparse does)."""

    def error(self, message: str) -> None:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _echo(text: str, err: bool = False) -> None:
    """Print ``text`` (on stderr with ``err``), each line through :func:`printable`: tables and messages quote
    what files hold (run ids, labels, errors, dataset names), and a terminal must show it, never act on it."""
    print("\n".join(map(printable, str(text).split("\n"))), file=sys.stderr if err else sys.stdout)


def _positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer >= 1")
    return value


def _seed(text: str) -> int:
    """An argparse type: a seed torch, numpy and the run store all take, 0 to 2**63 - 1 (else it overflows later)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"{text!r} is not a seed: give an integer from 0 to {2**63 - 1}")
    return value


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

    def _show(self) -> None:
        training = ", ".join(
            f"{self.configs[i].variant} s{self.configs[i].seed} epoch {e}" for i, e in sorted(self.epochs.items())
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
        self.epochs.pop(index, None)
        self.bar.update(1)
        self._show()

    def summary(self, stored_in_flight: bool) -> str:
        """What an interruption of a pool (``stored_in_flight``) or Ray grid left in the store, in words."""
        cut = self.statuses.count("interrupted")
        done = f"{len(self.statuses)} of {len(self.configs)} runs stored"
        if not stored_in_flight:
            return f"{done}; the Ray tasks in progress were cancelled, not stored"
        return f"{done}, the {cut} in progress among them as 'interrupted'"


def _executor(args: argparse.Namespace, runs: int) -> Executor:
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


def _load(args: argparse.Namespace) -> MSADataset:
    return _load_source(args.dataset)


def _load_source(source: str) -> MSADataset:
    """``load_dataset``, with a loader's warnings (a leaky split) shown as one line each on stderr."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = load_dataset(source)
    for warning in caught:
        _echo(f"msmix: warning: {' '.join(str(warning.message).split())}", err=True)
    return dataset


def _configs(args: argparse.Namespace, backbones: Sequence[str], variants: dict[str, tuple[str, dict]]) -> list:
    """One TrainConfig per backbone × variant × seed; ``variants`` maps a label to (method, knobs)."""
    runs = len(backbones) * len(variants) * len(args.seeds)
    if runs > MAX_RUNS:
        raise MsmixError(
            f"this grid has {runs:,} runs (backbones × variants × seeds), more than {MAX_RUNS:,}: split it"
        )
    repeated = sorted({seed for seed in args.seeds if args.seeds.count(seed) > 1})
    if repeated:
        raise MsmixError(f"--seeds: {repeated} given more than once; each seed trains one run, so give each seed once")
    methods = list(dict.fromkeys(method for method, _ in variants.values()))
    method_knobs = parse_knobs(args.set, methods, "--set")
    backbone_knobs = parse_knobs(args.backbone_set, backbones, "--backbone-set")
    base = TrainConfig(
        recipe=args.recipe,
        epochs=args.epochs,
        batch_size=args.batch_size,
        optimizer=args.optimizer,
        lr=args.lr,
        weight_decay=args.weight_decay,
        schedule=args.schedule,
        warmup=args.warmup,
        grad_clip=args.grad_clip,
        patience=args.patience,
        loss=args.loss,
        mix_loss=args.mix_loss,
        device=args.device,
        save_weights=not args.no_weights,
    )
    return [
        replace(
            base,
            backbone=backbone,
            method=method,
            label=label,
            backbone_kwargs=backbone_knobs[backbone],
            method_kwargs={**method_knobs[method], **knobs},
            seed=seed,
        )
        for backbone in backbones
        for label, (method, knobs) in variants.items()
        for seed in args.seeds
    ]


def _check_outputs(paths: Sequence[str]) -> None:
    for path in paths:
        check_output(path, "--out", (".csv", ".md"))
    resolved = [Path(path).resolve() for path in paths]
    if len(set(resolved)) < len(resolved):
        raise MsmixError(f"--out {' '.join(paths)}: a file is given more than once; give each file once")


def check_output(path: str, option: str, suffixes: Sequence[str]) -> Path:
    """``path`` if a file may be written there, checked before any training so that a table is never lost:
    the right suffix, not a folder or a device, in a folder that exists (or can be made) and is writable."""
    checked = Path(path)
    if checked.suffix.lower() not in suffixes:
        raise MsmixError(f"{option} {path}: the file name must end in {' or '.join(suffixes)}")
    if checked.is_dir() or (checked.exists() and not checked.is_file()):
        raise MsmixError(f"{option} {path}: there is a folder or a device of that name; give a file name")
    folder = checked.absolute().parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise MsmixError(f"{option} {path}: {folder} is a file, so no folder can be made there")
    try:
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as exc:
        raise MsmixError(f"{option} {path}: cannot write in {folder} ({exc.strerror or exc}); choose another") from exc
    return checked


def _write_outputs(paths: Sequence[str], long: pd.DataFrame, wide: pd.DataFrame) -> None:
    """``.csv`` gets the long table (every number), ``.md`` the printed table with p-values."""
    for path in map(Path, paths):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.suffix == ".csv":
                long.to_csv(path, index=False)
            else:
                path.write_text(to_markdown(wide))
        except OSError as exc:  # the table is printed above and its runs are stored: rebuild it with compare
            raise MsmixError(f"--out {path}: cannot write it ({exc.strerror or exc}); the runs are stored") from exc
        print(f"wrote {path}", file=sys.stderr)


def _run_grid(
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
    _check_outputs(args.out)
    executor = _executor(args, len(configs))  # a bad --ray address fails here, before the data are read
    dataset = _load(args)
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
    runs = _train_all(args, executor, dataset, configs, store)

    long = compare_runs(store.table(runs), baseline=baseline, metrics=metrics)
    if knob_values:
        knobs = list(next(iter(knob_values.values())))
        for position, knob in enumerate(knobs, start=long.columns.get_loc("label")):
            long.insert(position, knob, long["label"].map(lambda label, k=knob: knob_values[label][k]))
        long = long.drop(columns="label").sort_values(["dataset", "backbone", *knobs], kind="stable")
    _echo(format_table(long).to_string(index=False))
    if baseline is not None:
        print(f"* / †: significantly better / worse than {baseline!r} (paired t-test over seeds, p < 0.05)")
    print(f"{len(runs)} runs stored in {store.root}")
    _write_outputs(args.out, long, format_table(long, p_values=True))
    if then is not None:
        then(runs, metrics)
    failed = [run for run in runs if run.status == "failed"]
    for run in failed:  # a pool or Ray grid goes on past a failed run; the table leaves it out
        _echo(f"msmix: error: run {run.id} failed: {' '.join(str(run.error).split())}", err=True)
    return 1 if failed else 0


def cmd_train(args: argparse.Namespace) -> int:
    variants = {args.label or args.method: (args.method, {})}
    return _run_grid(args, _configs(args, [args.backbone], variants), baseline=None)


def cmd_compare(args: argparse.Namespace) -> int:
    if args.baseline not in args.methods:
        raise MsmixError(f"--baseline {args.baseline!r} is not among --methods {args.methods}: add it or pick another")
    variants = {method: (method, {}) for method in args.methods}
    return _run_grid(args, _configs(args, args.backbones, variants), baseline=args.baseline)


def cmd_ablate(args: argparse.Namespace) -> int:
    chosen = dict.fromkeys(["full", *args.variants])  # full MS-Mix is every test's baseline
    variants = {ablation_label(v): ("msmix", ABLATIONS[v]) for v in chosen}
    return _run_grid(args, _configs(args, args.backbones, variants), baseline=FULL_LABEL)


def cmd_sweep(args: argparse.Namespace) -> int:
    method, variants = sweep_variants(args.knob)
    swept = next(iter(variants.values()))
    fixed = parse_knobs(args.set, [method], "--set")[method]
    clash = sorted(set(fixed) & set(swept))
    if clash:
        raise MsmixError(f"--set {clash}: these knobs are swept by --knob; drop them from --set")
    configs = _configs(args, args.backbones, {label: (method, knobs) for label, knobs in variants.items()})
    if args.plot is not None:
        check_output(args.plot, "--plot", (".html",))

    def plot(runs: list[Run], metrics: list[str]) -> None:
        """The first metric against the first knob, one line per backbone and value of the second knob."""
        from msmix_core.figures.sweeps import sweep_chart  # imported here: it loads Optuna, slow to import

        first, *rest = swept
        lines: dict[str, list[Run]] = {}
        for run in runs:
            parts = [run.config["backbone"], *(f"{k}={format_value(knob_value(run.config, k))}" for k in rest)]
            lines.setdefault(" · ".join(parts), []).append(run)
        tables = {name: sweep_table(group, first, metrics[0]) for name, group in lines.items()}
        path = Path(args.plot)
        path.parent.mkdir(parents=True, exist_ok=True)
        sweep_chart(tables, first, metrics[0], knob_marks(method, first)).write_html(path, include_plotlyjs=True)
        print(f"wrote {path}", file=sys.stderr)

    return _run_grid(args, configs, baseline=None, knob_values=variants, then=plot if args.plot else None)


def cmd_tune(args: argparse.Namespace) -> int:
    import optuna  # imported here: Optuna (and SQLAlchemy) take a while to load, and only this command needs them

    from msmix_core.experiments.tuning import best_knobs, open_study, search_space, tune

    _executor(args, 1)  # a bad --threads, --workers or --ray fails before the first trial, not after the last
    if args.trial_seed in args.seeds:
        seeds = f"--trial-seed {args.trial_seed} is among --seeds {args.seeds}"
        raise MsmixError(f"{seeds}: the best knobs are scored on fresh seeds, so pick another trial seed")
    _check_outputs(args.out)
    dataset = _load(args)
    store = RunStore(args.runs_dir)
    base = replace(_configs(args, [args.backbone], {args.method: (args.method, {})})[0], seed=args.trial_seed)
    build_models(dataset, base, resolve_device(base.device))  # a bad name or knob fails before the first trial
    space = search_space(args.method, args.params, fixed=base.method_kwargs)
    if args.storage is None:
        try:
            store.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MsmixError(f"cannot create the runs folder {store.root} ({exc.strerror or exc})") from exc
    storage = args.storage or f"sqlite:///{store.root / 'tune.db'}"
    name = args.study or f"{args.method}-{args.backbone}-{dataset.name}"
    setup = {"method": args.method, "backbone": args.backbone, "dataset": dataset.name, "knobs": sorted(space)}
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # a bar, and one line per failed trial, not tracebacks
    study = open_study(storage, name, setup)
    with tqdm(total=args.trials, desc="trials", unit="trial", file=sys.stderr, disable=args.quiet) as bar:

        def done(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
            bar.set_postfix_str(f"#{trial.number} {trial.state.name.lower()}", refresh=False)
            bar.update(1)
            if trial.state == optuna.trial.TrialState.FAIL:
                failed = f"msmix: warning: trial #{trial.number} failed: {trial.user_attrs.get('error')}"
                bar.write(printable(failed), file=sys.stderr)

        tune(dataset, base, trials=args.trials, study=study, space=space, seed=args.trial_seed, on_trial=done)
    best, knobs = best_knobs(study)
    states = {s.name.lower(): sum(t.state == s for t in study.trials) for s in optuna.trial.TrialState}
    counts = ", ".join(f"{n} {state}" for state, n in states.items() if n)
    print(f"study {name!r} in {storage}: {len(study.trials)} trials ({counts})")
    print(f"best valid loss {best.value:.4f} (trial #{best.number}, seed {args.trial_seed}): {json.dumps(knobs)}")
    print(f"scoring the best knobs against the defaults on test over seeds {args.seeds}")
    variants = {args.method: (args.method, {}), f"{args.method} tuned": (args.method, knobs)}
    return _run_grid(args, _configs(args, [args.backbone], variants), baseline=args.method)


def cmd_robustness(args: argparse.Namespace) -> int:
    _check_outputs(args.out)
    dataset = _load(args)
    store = RunStore(args.runs_dir)
    tables = []
    for run_id in args.run_ids:
        run = store.load(run_id)
        backbone = load_trained(run, dataset, device=args.device)
        table = evaluate_robustness(
            backbone,
            dataset,
            split=args.split,
            modalities=args.modalities,
            noise_levels=args.noise_levels,
            seed=args.seed,
            device=args.device,
        )
        config = run.config
        tables.append(
            table.assign(run=run.id, backbone=config["backbone"], label=config["label"], experiment=run.experiment_key)
        )
    table = pd.concat(tables, ignore_index=True)
    front = ["run", "backbone", "label", "experiment", "condition", "modality", "level"]
    table = table[front + [c for c in table.columns if c not in front]]
    _echo(table.to_string(index=False))
    _write_outputs(args.out, table, table)
    return 0


def cmd_partners(args: argparse.Namespace) -> int:
    if args.out is not None:
        check_output(args.out, "--out", (".csv",))
    from msmix_core.analysis.latents import encode_split, fit_encoder  # UMAP and the trainer: only when asked
    from msmix_core.analysis.partners import candidate_partners, partner_table

    dataset = _load(args)
    size = len(dataset.splits[args.split])
    if args.top_k >= size:
        raise MsmixError(
            f"--top-k {args.top_k}: the {args.split} split has {size} samples, so at most {size - 1} partners"
        )
    tile = min(args.block_size, size)
    check_size(
        3 * 4 * tile * tile, f"--block-size {args.block_size} ({tile}² similarities a tile)", "give a smaller one"
    )
    model, _ = fit_encoder(dataset, args.backbone, seed=args.seed, epochs=args.epochs, device=args.device)
    split = dataset.splits[args.split]
    pool = candidate_partners(
        encode_split(model, dataset, args.split),
        args.threshold,
        labels=torch.from_numpy(split.labels),
        block_size=args.block_size,
        top_k=args.top_k,
    )
    table = partner_table(split, pool)
    encoder = f"trained {args.epochs} epochs" if args.epochs else "untrained"
    candidates = int(table["candidates"].sum())
    opposite = int(table["contradictory"].sum()) / candidates if candidates else 0.0
    _echo(f"{dataset.name} {args.split}, {len(table)} samples, {args.backbone} latents ({encoder}, seed {args.seed}):")
    print(
        f"SASS candidates at δ = {args.threshold:g}: {table['candidates'].mean():.1f} per sample, none for "
        f"{int((table['candidates'] == 0).sum())} samples; {100 * opposite:.1f} % of them of the opposite sentiment"
    )
    _echo(table.head(args.show).to_string(index=False, float_format="{:.3f}".format))
    if args.out is not None:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out, index=False)
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


def cmd_methods(args: argparse.Namespace) -> int:
    for name, entry in describe_methods().items():
        print(f"{name} ({entry['stage']}): {entry['summary']}")
        for knob, declared in entry["knobs"].items():
            print(f"  {knob}={format_value(declared.default)}  {declared.describe()}; {declared.doc}")
    return 0


#: The columns ``msmix runs list`` prints (metrics: those the runs have), and how long a note may be there.
LIST_COLUMNS = ["id", "status", "dataset", "backbone", "label", "seed", "epochs", "best_epoch", "experiment", "tags"]
LIST_NOTE_CHARS = 40


def cmd_runs_list(args: argparse.Namespace) -> int:
    store = RunStore(args.runs_dir)
    runs, damaged = store.scan()
    table = filter_table(browse_table(runs), args.where)
    if table.empty:
        _echo(f"no runs in {store.root}" + (f" where {' and '.join(args.where)}" if args.where else ""))
    elif args.group_by:
        grouped = group_table(table, [c.strip() for c in args.group_by.split(",")], _printed_metrics(table))
        _echo(grouped.to_string(index=False))
    else:
        cut = LIST_NOTE_CHARS - 1
        table = table.assign(note=table["note"].map(lambda n: n if len(n) <= LIST_NOTE_CHARS else n[:cut] + "…"))
        columns = [*LIST_COLUMNS, *(f"test_{m}" for m in _printed_metrics(table)), "note"]
        _echo(table[columns].to_string(index=False))
    for path, reason in damaged:
        _echo(f"damaged run folder {path}: {reason}", err=True)
    return 0


def _printed_metrics(table: pd.DataFrame) -> list[str]:
    return [m for m in ("MAE", "Corr") if f"test_{m}" in table.columns]


def cmd_runs_show(args: argparse.Namespace) -> int:
    run = RunStore(args.runs_dir).load(args.run_id)
    _echo(f"run {run.id}: {run.status}" + (f" ({run.error})" if run.error else ""))
    _echo(f"folder: {run.path}\nexperiment: {run.experiment_key}\ntags: {', '.join(read_tags(run.path))}")
    note = read_note(run.path)
    _echo("note: " + note.replace("\n", "\n  ") if note else "note:")
    print(json.dumps({"config": run.config, "best_epoch": run.best_epoch, "metrics": run.metrics}, indent=2))
    if run.history:
        _echo(_curve(run.history).to_string(index=False, float_format="{:.4f}".format))
    return 0


def cmd_runs_diff(args: argparse.Namespace) -> int:
    store = RunStore(args.runs_dir)
    diff = config_diff([store.load(run_id) for run_id in args.run_ids])
    shown = diff if args.all else diff[diff["differs"]]
    _echo(shown.drop(columns="differs").to_string() if not shown.empty else "the runs' configs are the same")
    return 0


def cmd_runs_tag(args: argparse.Namespace) -> int:
    run = RunStore(args.runs_dir).load(args.run_id)
    tags = tag(run.path, add=[] if args.remove else args.tags, remove=args.tags if args.remove else [])
    _echo(f"{run.id}: tags {', '.join(tags) or '(none)'}")
    return 0


def cmd_runs_note(args: argparse.Namespace) -> int:
    run = RunStore(args.runs_dir).load(args.run_id)
    note = write_note(run.path, " ".join(args.text))
    _echo(f"{run.id}: " + (f"note saved ({len(note)} characters)" if note else "note removed"))
    return 0


def _curve(history: list[dict]) -> pd.DataFrame:
    """The learning curve of a run's history; a record without some field (not the trainer's) shows it empty."""
    rows = []
    for record in history:
        losses = record.get("losses") if isinstance(record.get("losses"), dict) else {}
        row = {"epoch": record.get("epoch")} | {
            f"{split}_loss": losses.get(split) for split in ("train", "valid", "test")
        }
        rows.append(row | {"seconds": record.get("wall_time")})
    return pd.DataFrame(rows)


def cmd_runs_delete(args: argparse.Namespace) -> int:
    store = RunStore(args.runs_dir)
    for run_id in args.run_ids:  # refuse a typo or a live run before deleting anything
        run = store.load(run_id)
        if run.status == "running" and not args.force:
            who = f" (process {run.process['pid']} on {run.process['host']})" if run.process else ""
            raise MsmixError(f"run {run_id} is still running{who}: stop it first, or pass --force to delete it anyway")
    for run_id in args.run_ids:
        store.delete(run_id)
        _echo(f"deleted {run_id}")
    return 0


def check_destination(source: str, destination: str, force: bool = False) -> Path:
    """The path ``convert`` may write: a new .npz file (or an existing one with ``force``), never the source.

    A link to the source or another spelling of it counts as the source (resolved paths, samefile).
    """
    path, source_path = Path(destination), Path(source)
    if path.is_dir():
        raise MsmixError(f"{path} is a folder: give the .npz file to write, e.g. {path / 'converted.npz'}")
    same = path.resolve() == source_path.resolve()
    if path.exists() and source_path.exists():
        same = same or os.path.samefile(path, source_path)
    if same:
        raise MsmixError(f"{path} is the source itself: write the .npz to another file")
    if path.suffix.lower() != ".npz":
        raise MsmixError(f"{path}: the destination must end in .npz (train and the app read a dataset by its suffix)")
    if path.exists() and not force:
        raise MsmixError(f"{path} exists: pass --force to replace it, or choose another name")
    return path


def cmd_convert(args: argparse.Namespace) -> int:
    if Path(args.source).suffix.lower() == ".npz":
        raise MsmixError(f"convert takes a .pkl; {args.source} is already .npz: train on it as it is (--dataset)")
    destination = check_destination(args.source, args.destination, args.force)
    if args.source.startswith(MOSI_PREFIX) or Path(args.source).is_dir():  # a bare MOSI folder gets the hint
        dataset = _load_source(args.source)
    else:
        dataset = load_mmsa(args.source, dataset=args.family)
    save_npz(dataset, destination)
    sizes = ", ".join(f"{s} {len(dataset.splits[s])}" for s in SPLITS)
    _echo(f"wrote {args.destination}: {dataset.name} ({dataset.metrics}), {sizes}, dims {dataset.dims}")
    return 0


def _training_options() -> argparse.ArgumentParser:
    """The options every training subcommand shares, defaults taken from TrainConfig."""
    d = TrainConfig()
    p = _Parser(add_help=False)
    g = p.add_argument_group("data and runs")
    g.add_argument(
        "--dataset",
        default="synthetic",
        help="synthetic, synthetic:PRESET, mosi-utterance:DIR[?split=standard&train_fraction=F&seed=S] (the real "
        "CMU-MOSI utterances, see docs/data.md), or an MMSA .pkl / .npz file",
    )
    g.add_argument("--runs-dir", default=None, help="run store folder (default: $MSMIX_RUNS_DIR or ./runs)")
    g.add_argument("--device", default=d.device, help="auto (CUDA when present), cpu, cuda or cuda:N")
    g.add_argument("--seeds", type=_seed, nargs="+", default=list(DEFAULT_SEEDS), help="one run per seed")
    cores = os.cpu_count() or 1
    g.add_argument(
        "--workers",
        type=_positive_int,
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
        type=_positive_int,
        default=THREADS,
        help="torch threads per run, serial, --workers or --ray alike (default %(default)s); a run's numbers "
        "depend on its seed and its thread count, see docs/cli.md",
    )
    g = p.add_argument_group("training (defaults: the --recipe's; an option given here overrides it)")
    g.add_argument(
        "--recipe",
        choices=list(RECIPES),
        default=d.recipe,
        help="mmsa: MMSA's MOSI configs (Adam 1e-3, batch 32, L1, patience 8, 30 epochs); release: MS-Mix's "
        "released trainer (AdamW 1e-4, wd 1e-4, warm-up + cosine, batch 64, MSE, patience 32, 200 epochs). "
        "Default %(default)s",
    )
    g.add_argument("--epochs", type=int, default=None, help="maximum epochs (mmsa 30, release 200)")
    g.add_argument("--patience", type=int, default=None, help="early stop after N epochs without improvement")
    g.add_argument("--batch-size", type=int, default=None, help="mmsa 32, release 64")
    g.add_argument("--optimizer", choices=list(OPTIMIZERS), default=None, help="mmsa adam, release adamw")
    g.add_argument("--lr", type=float, default=None, help="peak learning rate (mmsa 1e-3, release 1e-4)")
    g.add_argument("--weight-decay", type=float, default=None, help="mmsa 0, release 1e-4")
    g.add_argument("--schedule", choices=list(SCHEDULES), default=None, help="mmsa constant, release warmup_cosine")
    g.add_argument("--warmup", type=float, default=None, help="warm-up share of the epochs (release 0.1)")
    g.add_argument("--grad-clip", type=float, default=d.grad_clip, help="clip gradient values at ±C (default off)")
    g.add_argument("--loss", choices=list(LOSSES), default=None, help="task loss (mmsa l1, release mse)")
    g.add_argument(
        "--mix-loss",
        choices=list(MIX_LOSSES),
        default=None,
        help="loss of the mixed-sample term: mse (both recipes, as the release), l1, or task (= --loss)",
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
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="msmix", description="Emotion-aware mixup (MS-Mix) for multimodal sentiment analysis.")
    parser.add_argument("--version", action="version", version=f"msmix {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    training = _training_options()

    p = commands.add_parser("train", parents=[training], help="train one backbone with one method over seeds")
    p.add_argument("--backbone", default=TrainConfig.backbone, help="default %(default)s")
    p.add_argument("--method", default=TrainConfig.method, help="default %(default)s")
    p.add_argument("--label", default=None, help="name of this variant in tables (default: the method)")
    p.set_defaults(handler=cmd_train)

    p = commands.add_parser("compare", parents=[training], help="a grid of backbones × methods × seeds")
    p.add_argument("--backbones", nargs="+", default=["late_fusion", "tfn"], help="default %(default)s")
    p.add_argument("--methods", nargs="+", default=["none", "mixup", "msmix"], help="default %(default)s")
    p.add_argument("--baseline", default="none", help="method each one is tested against (default %(default)s)")
    p.set_defaults(handler=cmd_compare)

    p = commands.add_parser("ablate", parents=[training], help="MS-Mix with SASS, SIG, SAL switched off in turn")
    p.add_argument("--backbones", nargs="+", default=[TrainConfig.backbone], help="default %(default)s")
    p.add_argument(
        "--variants",
        nargs="+",
        choices=list(ABLATIONS),
        default=list(DEFAULT_ABLATE_VARIANTS),
        metavar="VARIANT",
        help=f"of {list(ABLATIONS)}; 'full' is the baseline and always runs (default %(default)s)",
    )
    p.set_defaults(handler=cmd_ablate)

    p = commands.add_parser("sweep", parents=[training], help="a grid over one or two knobs of a method × seeds")
    p.add_argument(
        "--knob",
        action="append",
        required=True,
        metavar="METHOD.KNOB=VALUES",
        help="the values of a knob: LOW:HIGH:COUNT (evenly spaced, both ends included) or A,B,C; once or twice, "
        "e.g. --knob msmix.threshold=0.1:0.9:5 --knob msmix.alpha=0.5,1,2",
    )
    p.add_argument("--backbones", nargs="+", default=[TrainConfig.backbone], help="default %(default)s")
    p.add_argument(
        "--plot",
        metavar="FILE.html",
        help="also draw the first --metrics (test) against the first knob, mean ± std over seeds, one line per "
        "backbone and value of the second knob, as a self-contained HTML page",
    )
    p.set_defaults(handler=cmd_sweep)

    p = commands.add_parser("tune", parents=[training], help="Optuna search over a method's knobs, on valid")
    p.add_argument("--method", default="msmix", help="default %(default)s")
    p.add_argument("--backbone", default=TrainConfig.backbone, help="default %(default)s")
    p.add_argument("--trials", type=_positive_int, default=40, help="trials to add to the study (default %(default)s)")
    p.add_argument(
        "--storage",
        default=None,
        help="an Optuna storage URL, e.g. sqlite:///runs/tune.db or a database many machines share "
        "(default: tune.db in the runs folder); the same storage and --study go on where a study stopped",
    )
    p.add_argument("--study", default=None, help="study name (default: METHOD-BACKBONE-DATASET)")
    p.add_argument(
        "--params", nargs="+", default=None, metavar="KNOB", help="knobs to search (default: every tunable knob)"
    )
    p.add_argument(
        "--trial-seed", type=_seed, default=0, help="seed of every trial's run; --seeds score the best (default 0)"
    )
    p.set_defaults(handler=cmd_tune)

    p = commands.add_parser("robustness", help="score stored runs with each modality zeroed or noised")
    p.add_argument("run_ids", nargs="+", metavar="RUN_ID", help="runs to score (see 'msmix runs list')")
    p.add_argument("--dataset", default="synthetic", help="the data the runs were trained on (default %(default)s)")
    p.add_argument("--runs-dir", default=None, help="run store folder (default: $MSMIX_RUNS_DIR or ./runs)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--split", choices=list(SPLITS), default="test", help="default %(default)s")
    p.add_argument("--modalities", nargs="+", choices=list(MODALITIES), default=list(MODALITIES))
    p.add_argument(
        "--noise-levels", type=float, nargs="+", default=[0.0, 0.5, 1.0], help="noise std in units of feature std"
    )
    p.add_argument("--seed", type=_seed, default=0, help="seed of the noise (default %(default)s)")
    p.add_argument("--out", nargs="+", default=[], metavar="FILE", help="write the table to FILE.csv and/or FILE.md")
    p.set_defaults(handler=cmd_robustness)

    p = commands.add_parser("partners", help="each sample's SASS partners over a whole split")
    p.add_argument("--dataset", default="synthetic", help="as for train (default %(default)s)")
    p.add_argument("--split", choices=list(SPLITS), default="train", help="default %(default)s")
    p.add_argument("--backbone", default=TrainConfig.backbone, help="whose latents SASS compares (default %(default)s)")
    p.add_argument(
        "--epochs", type=int, default=0, help="train the backbone with msmix this long first; 0: untrained (default 0)"
    )
    p.add_argument("--seed", type=_seed, default=DEFAULT_SEEDS[0], help="seed of the backbone (default %(default)s)")
    p.add_argument("--threshold", type=float, default=THRESHOLD.default, help="SASS's δ (default %(default)s)")
    p.add_argument("--top-k", type=_positive_int, default=5, help="partners listed per sample (default %(default)s)")
    p.add_argument(
        "--block-size", type=_positive_int, default=2048, help="tile size of the search; memory ~ its square"
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--show", type=int, default=10, help="rows printed (default %(default)s; --out has them all)")
    p.add_argument("--out", default=None, metavar="FILE.csv", help="write one row per sample to FILE.csv")
    p.set_defaults(handler=cmd_partners)

    p = commands.add_parser("methods", help="the mixing methods and their knobs (what --set takes)")
    p.set_defaults(handler=cmd_methods)

    runs = commands.add_parser("runs", help="list, show, compare, tag, annotate or delete stored runs")
    runs_commands = runs.add_subparsers(dest="runs_command", required=True, metavar="ACTION")
    for name, handler, help_text in (
        ("list", cmd_runs_list, "one line per stored run, newest first"),
        ("show", cmd_runs_show, "config, tags, note, metrics and learning curve of a run"),
        ("diff", cmd_runs_diff, "runs' configs side by side: the fields that differ"),
        ("tag", cmd_runs_tag, "add tags to a run (or remove them)"),
        ("note", cmd_runs_note, "write a run's note (no text: remove it)"),
        ("delete", cmd_runs_delete, "delete runs"),
    ):
        p = runs_commands.add_parser(name, help=help_text)
        p.add_argument("--runs-dir", default=None, help="run store folder (default: $MSMIX_RUNS_DIR or ./runs)")
        if name == "list":
            p.add_argument(
                "--where",
                action="append",
                default=[],
                metavar="KEY=VALUE",
                help="keep runs whose column KEY is VALUE (* wildcards; !=, <, <=, >, >= for numbers and dates; "
                "tags=T: tagged T); repeat to narrow. KEY: any column, e.g. label, test_MAE, method_kwargs.alpha",
            )
            p.add_argument(
                "--group-by",
                default=None,
                metavar="COLUMNS",
                help="mean ± std over seeds of the finished runs per group; 'experiment' (runs trained alike but "
                "for the seed) or comma-separated columns, e.g. label,epochs",
            )
        elif name in ("show", "tag", "note"):
            p.add_argument("run_id", metavar="RUN_ID")
        if name == "tag":
            p.add_argument("tags", nargs="+", metavar="TAG", help="one word each (no spaces or commas)")
            p.add_argument("--remove", action="store_true", help="remove these tags instead")
        elif name == "note":
            p.add_argument("text", nargs="*", metavar="TEXT", help="the note (replaces the old one)")
        elif name == "diff":
            p.add_argument("run_ids", nargs="+", metavar="RUN_ID", help="two runs or more")
            p.add_argument("--all", action="store_true", help="also the fields that are the same")
        elif name == "delete":
            p.add_argument("run_ids", nargs="+", metavar="RUN_ID")
            p.add_argument("--force", action="store_true", help="also delete runs that are still running")
        p.set_defaults(handler=handler)

    p = commands.add_parser("convert", help="convert an MMSA feature pickle or the MOSI CSVs to the safe .npz format")
    p.add_argument(
        "source",
        help="an MMSA .pkl file (aligned_50.pkl, unaligned_50.pkl, unaligned_39.pkl) or mosi-utterance:DIR[?options]",
    )
    p.add_argument("destination", help="the .npz file to write")
    p.add_argument("--family", choices=["mosi", "mosei", "sims"], default=None, help="default: detected")
    p.add_argument("--force", action="store_true", help="replace the destination when it exists")
    p.set_defaults(handler=cmd_convert)
    return parser


_default_showwarning = warnings.showwarning


def _show_warning(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    """msmix's own warnings as one line on stderr, like its errors; others as Python shows them."""
    if issubclass(category, MsmixWarning):
        _echo(f"msmix: warning: {' '.join(str(message).split())}", err=True)
    else:
        _default_showwarning(message, category, *args, **kwargs)


class Terminated(KeyboardInterrupt):
    """SIGTERM (``timeout``, ``docker stop``, schedulers), handled like Ctrl-C: the current run ends ``interrupted``."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated("terminated by SIGTERM")


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """While the command runs, SIGTERM raises :class:`Terminated` (signals reach only the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; exit status 2 for user errors (one line on stderr), 130 for Ctrl-C, 143 for SIGTERM."""
    args = build_parser().parse_args(argv)
    try:
        with _sigterm_as_interrupt(), warnings.catch_warnings():
            warnings.showwarning = _show_warning
            code = args.handler(args)
            sys.stdout.flush()  # a closed pipe (`msmix runs show ID | head`) shows up here, not at exit
            return code
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left to flush at exit
        return 141  # 128 + SIGPIPE: what a shell reports for a program whose reader went away
    except MsmixError as exc:
        _echo(f"msmix: error: {' '.join(str(exc).split())}", err=True)
        return 2
    except KeyboardInterrupt as exc:
        left = getattr(exc, "summary", "a run in progress is stored as 'interrupted'")
        if isinstance(exc, Terminated):
            _echo(f"msmix: terminated by SIGTERM; {left}", err=True)
            return 128 + signal.SIGTERM
        _echo(f"msmix: interrupted; {left}", err=True)
        return 130
