"""The ``msmix`` command line (also ``python -m msmix_core``): train, compare and inspect runs.

Subcommands: ``train``, ``compare``, ``ablate``, ``robustness``, ``runs list|show|delete`` and
``convert``. Every training run is recorded in the run store, so tables can be rebuilt later.
User errors (a missing file, an unknown name, a bad knob value) print one line on stderr and
exit with status 2; anything else is a bug and keeps its traceback. See docs/cli.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from msmix_core import MODALITIES, __version__
from msmix_core.analysis.experiments import ABLATIONS, DEFAULT_ABLATIONS, FULL_LABEL, ablation_label
from msmix_core.data.loading import load_dataset
from msmix_core.data.mmsa import load_mmsa
from msmix_core.data.mosi_utterance import PREFIX as MOSI_PREFIX
from msmix_core.data.npz import save_npz
from msmix_core.data.schema import SPLITS, MSADataset
from msmix_core.device import resolve_device
from msmix_core.errors import MsmixError
from msmix_core.metrics import METRIC_KEYS
from msmix_core.runs import RunStore, compare_runs, format_table, to_markdown
from msmix_core.training import Callback, EpochEvent, TrainConfig, TrainResult, build_models, train
from msmix_core.training.robustness import evaluate_robustness, load_trained
from msmix_core.training.trainer import LOSSES, MIX_LOSSES, OPTIMIZERS, RECIPES, SCHEDULES

#: Seeds of a run when none are given: the first three of the five (1111-1115) MMSA's papers average.
DEFAULT_SEEDS: tuple[int, ...] = (1111, 1112, 1113)

#: The metrics a printed table shows per dataset family: what papers report (Acc-2 and F1 on Non0).
TABLE_METRICS: dict[str, tuple[str, ...]] = {
    "mosi": ("Has0_acc_2", "Non0_acc_2", "Non0_F1_score", "Mult_acc_7", "MAE", "Corr"),
    "mosei": ("Has0_acc_2", "Non0_acc_2", "Non0_F1_score", "Mult_acc_7", "MAE", "Corr"),
    "sims": ("Mult_acc_2", "F1_score", "Mult_acc_3", "Mult_acc_5", "MAE", "Corr"),
}

#: The variants ``msmix ablate`` runs by default: each MS-Mix component off in turn, then all three.
DEFAULT_ABLATE_VARIANTS: tuple[str, ...] = (*DEFAULT_ABLATIONS, "no-parts")


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error on one line (and exits 2, as argparse does)."""

    def error(self, message: str) -> None:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _value(text: str) -> Any:
    """A knob value from the command line: JSON (numbers, true/false/null, lists), Python's
    True/False/None, or else the text itself."""
    python = {"True": True, "False": False, "None": None}
    if text in python:
        return python[text]
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


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
            knobs[name][key] = _value(text)
    return knobs


class _EpochBar(Callback):
    """Drives one tqdm bar per run (on stderr): one tick per epoch, valid loss and best epoch shown."""

    def __init__(self, bar: tqdm) -> None:
        self.bar = bar

    def on_epoch_end(self, event: EpochEvent) -> None:
        self.bar.set_postfix(valid_loss=f"{event.losses['valid']:.4f}", best_epoch=event.best_epoch, refresh=False)
        self.bar.update(1)

    def on_train_end(self, result: TrainResult) -> None:
        self.bar.set_postfix_str(f"{result.status}, best epoch {result.best_epoch}")


def _load(args: argparse.Namespace) -> MSADataset:
    return _load_source(args.dataset)


def _load_source(source: str) -> MSADataset:
    """``load_dataset``, with a loader's warnings (a leaky split) shown as one line each on stderr."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = load_dataset(source)
    for warning in caught:
        print(f"msmix: warning: {' '.join(str(warning.message).split())}", file=sys.stderr)
    return dataset


def _configs(args: argparse.Namespace, backbones: Sequence[str], variants: dict[str, tuple[str, dict]]) -> list:
    """One TrainConfig per backbone × variant × seed; ``variants`` maps a label to (method, knobs)."""
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
        if Path(path).suffix not in (".csv", ".md"):
            raise MsmixError(f"--out {path}: the file name must end in .csv or .md")


def _write_outputs(paths: Sequence[str], long: pd.DataFrame, wide: pd.DataFrame) -> None:
    """``.csv`` gets the long table (every number), ``.md`` the printed table with p-values."""
    for path in map(Path, paths):
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".csv":
            long.to_csv(path, index=False)
        else:
            path.write_text(to_markdown(wide))
        print(f"wrote {path}", file=sys.stderr)


def _run_grid(args: argparse.Namespace, configs: list[TrainConfig], baseline: str | None) -> int:
    """Train every config (checking names and knobs of all of them first), then print the table."""
    _check_outputs(args.out)
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
    runs = []
    for i, config in enumerate(configs, 1):
        desc = f"[{i}/{len(configs)}] {config.backbone} {config.variant} seed {config.seed}"
        with tqdm(total=config.epochs, desc=desc, unit="epoch", file=sys.stderr, disable=args.quiet) as bar:
            result = train(dataset, config, callbacks=[_EpochBar(bar)], store=store)
        runs.append(store.load(result.run_id))

    long = compare_runs(store.table(runs), baseline=baseline, metrics=metrics)
    print(format_table(long).to_string(index=False))
    if baseline is not None:
        print(f"* / †: significantly better / worse than {baseline!r} (paired t-test over seeds, p < 0.05)")
    print(f"{len(runs)} runs stored in {store.root}")
    _write_outputs(args.out, long, format_table(long, p_values=True))
    return 0


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
        tables.append(table.assign(run=run.id, backbone=run.config["backbone"], label=run.config["label"]))
    table = pd.concat(tables, ignore_index=True)
    front = ["run", "backbone", "label", "condition", "modality", "level"]
    table = table[front + [c for c in table.columns if c not in front]]
    print(table.to_string(index=False))
    _write_outputs(args.out, table, table)
    return 0


def cmd_runs_list(args: argparse.Namespace) -> int:
    store = RunStore(args.runs_dir)
    table = store.table()
    if table.empty:
        print(f"no runs in {store.root}")
    else:
        columns = ["id", "status", "dataset", "backbone", "label", "seed", "epochs", "best_epoch"]
        columns += [c for c in ("test_MAE", "test_Corr") if c in table.columns]
        print(table[columns].to_string(index=False))
    for path, reason in store.damaged():
        print(f"damaged run folder {path}: {reason}", file=sys.stderr)
    return 0


def cmd_runs_show(args: argparse.Namespace) -> int:
    run = RunStore(args.runs_dir).load(args.run_id)
    print(f"run {run.id}: {run.status}" + (f" ({run.error})" if run.error else ""))
    print(json.dumps({"config": run.config, "best_epoch": run.best_epoch, "metrics": run.metrics}, indent=2))
    if run.history:
        curve = pd.DataFrame(
            {
                "epoch": e["epoch"],
                "train_loss": e["losses"]["train"],
                "valid_loss": e["losses"]["valid"],
                "test_loss": e["losses"]["test"],
                "seconds": e["wall_time"],
            }
            for e in run.history
        )
        print(curve.to_string(index=False, float_format="{:.4f}".format))
    return 0


def cmd_runs_delete(args: argparse.Namespace) -> int:
    store = RunStore(args.runs_dir)
    for run_id in args.run_ids:
        store.load(run_id)  # refuse a typo before deleting anything
    for run_id in args.run_ids:
        store.delete(run_id)
        print(f"deleted {run_id}")
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    if args.source.startswith(MOSI_PREFIX) or Path(args.source).is_dir():  # a bare MOSI folder gets the hint
        dataset = _load_source(args.source)
    else:
        dataset = load_mmsa(args.source, dataset=args.family)
    save_npz(dataset, args.destination)
    sizes = ", ".join(f"{s} {len(dataset.splits[s])}" for s in SPLITS)
    print(f"wrote {args.destination}: {dataset.name} ({dataset.metrics}), {sizes}, dims {dataset.dims}")
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
    g.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS), help="one run per seed")
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
    p.add_argument("--backbones", nargs="+", default=["late_fusion"], help="default %(default)s")
    p.add_argument(
        "--variants",
        nargs="+",
        choices=list(ABLATIONS),
        default=list(DEFAULT_ABLATE_VARIANTS),
        metavar="VARIANT",
        help=f"of {list(ABLATIONS)}; 'full' is the baseline and always runs (default %(default)s)",
    )
    p.set_defaults(handler=cmd_ablate)

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
    p.add_argument("--seed", type=int, default=0, help="seed of the noise (default %(default)s)")
    p.add_argument("--out", nargs="+", default=[], metavar="FILE", help="write the table to FILE.csv and/or FILE.md")
    p.set_defaults(handler=cmd_robustness)

    runs = commands.add_parser("runs", help="list, show or delete stored runs")
    runs_commands = runs.add_subparsers(dest="runs_command", required=True, metavar="ACTION")
    for name, handler, help_text in (
        ("list", cmd_runs_list, "one line per stored run, newest first"),
        ("show", cmd_runs_show, "config, metrics and learning curve of a run"),
        ("delete", cmd_runs_delete, "delete runs"),
    ):
        p = runs_commands.add_parser(name, help=help_text)
        p.add_argument("--runs-dir", default=None, help="run store folder (default: $MSMIX_RUNS_DIR or ./runs)")
        if name == "show":
            p.add_argument("run_id", metavar="RUN_ID")
        elif name == "delete":
            p.add_argument("run_ids", nargs="+", metavar="RUN_ID")
        p.set_defaults(handler=handler)

    p = commands.add_parser("convert", help="convert an MMSA feature pickle or the MOSI CSVs to the safe .npz format")
    p.add_argument(
        "source",
        help="an MMSA .pkl file (aligned_50.pkl, unaligned_50.pkl, unaligned_39.pkl) or mosi-utterance:DIR[?options]",
    )
    p.add_argument("destination", help="the .npz file to write")
    p.add_argument("--family", choices=["mosi", "mosei", "sims"], default=None, help="default: detected")
    p.set_defaults(handler=cmd_convert)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 for user errors, one line on stderr)."""
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except MsmixError as exc:
        print(f"msmix: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("msmix: interrupted", file=sys.stderr)
        return 130
