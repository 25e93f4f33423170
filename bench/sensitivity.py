"""How sensitive MS-Mix is to δ (SASS's threshold) and α (the Beta parameter of SIG's ratios).

    .venv/bin/python bench/sensitivity.py --dataset synthetic --runs-dir runs/sensitivity/syn --train
    .venv/bin/python bench/sensitivity.py --dataset mosi-utterance:DIR --runs-dir runs/sensitivity/mosi

``--train`` first fills the run store: ``msmix sweep`` over δ ∈ {0.2, 0.4, 0.6, 0.8} × α ∈ {0.5,
1, 2, 4} and ``msmix compare`` for no mixing, 5 seeds each, late fusion, the default (mmsa)
recipe, one torch thread (runs already stored are not reused: train into a fresh folder). Then,
with or without ``--train``, it prints one markdown table per metric: δ down, α across, mean ±
std over seeds, and the paired t-test of each cell against the release's defaults (δ 0.4, α 2:
``*`` better, ``†`` worse) and against no mixing (``+`` better, ``−`` worse), p < 0.05,
uncorrected for the 16 comparisons. The validation MAE is shown beside the test metrics because
a knob would be chosen on it; the test split is only reported.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pandas as pd

from msmix_core.runs import RunStatus, RunStore, compare_runs, runs_table

SEEDS = ("1111", "1112", "1113", "1114", "1115")
DELTAS = (0.2, 0.4, 0.6, 0.8)
ALPHAS = (0.5, 1, 2, 4)
DEFAULT = (0.4, 2)
#: (split, metric) pairs in the order printed.
TABLES = (("valid", "MAE"), ("test", "MAE"), ("test", "Corr"), ("test", "Non0_acc_2"))


def train(dataset: str, runs_dir: str) -> None:
    """The sweep and its no-mixing reference, through the CLI as a user would run them."""
    common = ["--dataset", dataset, "--runs-dir", runs_dir, "--seeds", *SEEDS, "--threads", "1", "--quiet"]
    common += ["--no-weights"]
    knobs = [
        "--knob",
        f"msmix.threshold={','.join(map(str, DELTAS))}",
        "--knob",
        f"msmix.alpha={','.join(map(str, ALPHAS))}",
    ]
    for command in (["sweep", *knobs], ["compare", "--methods", "none", "--backbones", "late_fusion"]):
        subprocess.run([sys.executable, "-m", "msmix_core", *command, *common], check=True)


def cell_labels(table: pd.DataFrame) -> pd.DataFrame:
    """The sweep's runs with their δ and α as columns (no-mixing runs get NaN)."""
    knobs = table["label"].str.extract(r"threshold=(?P<delta>[\d.]+) alpha=(?P<alpha>[\d.]+)").astype(float)
    return table.join(knobs)


def grid(compared: pd.DataFrame, against_none: pd.DataFrame, table: pd.DataFrame, split: str, metric: str) -> str:
    """One metric as a δ × α markdown grid, each cell marked by its two paired tests."""
    digits = 1 if "acc" in metric or "F1" in metric else 3  # compare_runs gives accuracies in %
    cells = cell_labels(table).drop_duplicates("label").set_index("label")[["delta", "alpha"]].dropna()
    rows = {delta: {} for delta in DELTAS}
    for frame, marks in ((compared, ("*", "†")), (against_none, ("+", "−"))):
        picked = frame[frame["metric"] == metric].set_index("label")
        for label, row in picked.iterrows():
            if label not in cells.index:
                continue
            key = (cells.at[label, "delta"], cells.at[label, "alpha"])
            text = rows[key[0]].get(key[1]) or f"{row['mean']:.{digits}f} ± {row['std']:.{digits}f} "
            if pd.notna(row["significant"]) and bool(row["significant"]):
                text += marks[0] if bool(row["better"]) else marks[1]
            rows[key[0]][key[1]] = text
    none = against_none[(against_none["metric"] == metric) & (against_none["label"] == "none")]
    head = f"**{split} {metric}** (no mixing: "
    head += f"{none['mean'].iloc[0]:.{digits}f} ± {none['std'].iloc[0]:.{digits}f})" if len(none) else "-)"
    lines = [head, "", "| δ \\ α | " + " | ".join(f"{a:g}" for a in ALPHAS) + " |", "|---" * (len(ALPHAS) + 1) + "|"]
    for delta in DELTAS:
        cells_text = [
            rows[delta].get(float(a), "-").strip() + (" (default)" if (delta, a) == DEFAULT else "") for a in ALPHAS
        ]
        lines.append(f"| {delta:g} | " + " | ".join(cells_text) + " |")
    return "\n".join(lines)


def report(runs_dir: str) -> str:
    table = runs_table(RunStore(runs_dir).list())
    table = table[(table["status"] == RunStatus.FINISHED) & (table["backbone"] == "late_fusion")]
    if table.empty:
        raise SystemExit(f"no finished runs in {runs_dir}: run with --train first")
    default = f"msmix threshold={DEFAULT[0]:g} alpha={DEFAULT[1]:g}"
    out = [f"{table['dataset'].iloc[0]} · {table['backbone'].iloc[0]} · {table['seed'].nunique()} seeds", ""]
    for split, metric in TABLES:
        compared = compare_runs(table, baseline=default, metrics=[metric], split=split)
        against_none = compare_runs(table, baseline="none", metrics=[metric], split=split)
        out += [grid(compared, against_none, table, split, metric), ""]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="synthetic", help="what msmix sweep --dataset takes")
    parser.add_argument("--runs-dir", required=True, help="the run store of this sensitivity study")
    parser.add_argument("--train", action="store_true", help="train the grid into --runs-dir first")
    args = parser.parse_args()
    if args.train:
        Path(args.runs_dir).mkdir(parents=True, exist_ok=True)
        train(args.dataset, args.runs_dir)
    print(report(args.runs_dir))


if __name__ == "__main__":
    main()
