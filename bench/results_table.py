"""docs/results.md's tables on real CMU-MOSI: train what the run store lacks, then print the table.

    .venv/bin/python bench/results_table.py --runs-dir runs/results/full --backbones mult almt glomo
    .venv/bin/python bench/results_table.py --runs-dir runs/results/full --report-only   # table only

Trains the grid ``backbones × methods × seeds`` exactly as ``msmix compare --epochs 15 --no-weights``
does (the ``mmsa`` recipe, each method's default knobs, one torch thread per run, ``--workers`` runs at a
time), but skips every (dataset, backbone, label, seed) the store already holds as finished, so an
interrupted call resumes where it stopped. Then it prints the markdown table of ``msmix compare`` (mean ±
std over seeds, paired test against ``none``, p-values), a per-run wall-time table, and the cells
(backbone × method) that have fewer seeds than asked. Model selection is on valid; test is only reported.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

import pandas as pd

from msmix_core.data import load_dataset
from msmix_core.runs import RunStatus, RunStore, compare_runs, format_table, to_markdown
from msmix_core.training import TrainConfig
from msmix_core.training.executors import LocalPoolExecutor

SEEDS = (1111, 1112, 1113, 1114, 1115)
#: ``none`` and ``msmix`` first: if time runs short, the paired test of MS-Mix has its runs.
METHODS = ("none", "msmix", "mixup", "manifold", "cmixup", "multimix", "powmix")
BACKBONES = ("late_fusion", "tfn", "lmf", "mult", "misa", "almt", "glomo")
METRICS = ("Has0_acc_2", "Non0_acc_2", "Non0_F1_score", "Mult_acc_7", "MAE", "Corr")


def missing_configs(store: RunStore, dataset_name: str, args: argparse.Namespace) -> list[TrainConfig]:
    """The grid's configs without a finished run in ``store``, seeds innermost and methods in :data:`METHODS` order."""
    done = {
        (r.config["dataset"], r.config["backbone"], r.config["label"], r.config["seed"])
        for r in store.list()
        if r.status == RunStatus.FINISHED
    }
    base = TrainConfig(epochs=args.epochs, save_weights=False)
    return [
        replace(base, backbone=backbone, method=method, label=method, seed=seed)
        for method in args.methods
        for backbone in args.backbones
        for seed in args.seeds
        if (dataset_name, backbone, method, seed) not in done
    ]


def wall_times(runs: list) -> pd.DataFrame:
    """Seconds per finished run (its last epoch's ``elapsed``) and epochs, mean ± std per backbone and method."""
    rows = [
        {
            "backbone": r.config["backbone"],
            "label": r.config["label"],
            "seconds": r.history[-1]["elapsed"],
            "epochs": len(r.history),
        }
        for r in runs
        if r.status == RunStatus.FINISHED and r.history
    ]
    frame = pd.DataFrame(rows, columns=["backbone", "label", "seconds", "epochs"])
    grouped = frame.groupby(["backbone", "label"], sort=True)
    return pd.DataFrame(
        {
            "runs": grouped.size(),
            "seconds per run": grouped["seconds"].agg(lambda s: f"{s.mean():.0f} ± {s.std(ddof=0):.0f}"),
            "epochs": grouped["epochs"].agg(lambda s: f"{s.mean():.1f}"),
        }
    ).reset_index()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mosi", default="../shared/data/mosi-utterance", help="the CMU-MOSI utterance folder")
    parser.add_argument("--runs-dir", default="runs/results/full")
    parser.add_argument("--backbones", nargs="+", default=list(BACKBONES))
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    parser.add_argument("--epochs", type=int, default=15, help="the epoch cap (default %(default)s)")
    parser.add_argument("--workers", type=int, default=2, help="runs at a time, one process each")
    parser.add_argument("--report-only", action="store_true", help="train nothing; print the tables of the store")
    args = parser.parse_args(argv)

    dataset = load_dataset(f"mosi-utterance:{args.mosi}")
    store = RunStore(args.runs_dir)
    todo = [] if args.report_only else missing_configs(store, dataset.name, args)
    if todo:
        print(f"training {len(todo)} runs into {store.root}", file=sys.stderr)
        LocalPoolExecutor(args.workers).run(
            dataset, todo, store, on_run=lambda _, run: print(run.id, run.status, file=sys.stderr)
        )
    runs = [
        r
        for r in store.list()
        if r.config["dataset"] == dataset.name
        and r.config["backbone"] in args.backbones
        and r.config["label"] in args.methods
        and r.config["seed"] in args.seeds
    ]
    compared = compare_runs(store.table(runs), baseline="none", metrics=list(METRICS))
    print(to_markdown(format_table(compared, p_values=True)))
    print(to_markdown(wall_times(runs)))
    finished = store.table(runs).query("status == 'finished'").groupby(["backbone", "label"]).size()
    short = [
        f"{b} {m}: {finished.get((b, m), 0)} of {len(args.seeds)} seeds"
        for b in args.backbones
        for m in args.methods
        if finished.get((b, m), 0) < len(args.seeds)
    ]
    print("missing cells: " + ("; ".join(short) if short else "none"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
