"""``msmix robustness``: stored runs scored with each modality zeroed or noised."""

from __future__ import annotations

import argparse

import pandas as pd

from msmix_core import MODALITIES
from msmix_core.cli.common import RUNS_DIR_HELP, check_outputs, echo, load_source, seed_value, write_outputs
from msmix_core.data.schema import SPLITS
from msmix_core.runs import RunStore
from msmix_core.training.robustness import evaluate_robustness, load_trained


def add_robustness(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_ids", nargs="+", metavar="RUN_ID", help="runs to score (see 'msmix runs list')")
    p.add_argument("--dataset", default="synthetic", help="the data the runs were trained on (default %(default)s)")
    p.add_argument("--runs-dir", default=None, help=RUNS_DIR_HELP)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--split", choices=list(SPLITS), default="test", help="default %(default)s")
    p.add_argument("--modalities", nargs="+", choices=list(MODALITIES), default=list(MODALITIES))
    p.add_argument(
        "--noise-levels", type=float, nargs="+", default=[0.0, 0.5, 1.0], help="noise std in units of feature std"
    )
    p.add_argument("--seed", type=seed_value, default=0, help="seed of the noise (default %(default)s)")
    p.add_argument("--out", nargs="+", default=[], metavar="FILE", help="write the table to FILE.csv and/or FILE.md")
    p.set_defaults(handler=cmd_robustness)


def cmd_robustness(args: argparse.Namespace) -> int:
    check_outputs(args.out)
    dataset = load_source(args.dataset)
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
    echo(table.to_string(index=False))
    write_outputs(args.out, table, table)
    return 0


PARSERS = {"robustness": add_robustness}
