"""The experiments behind docs/findings.md: why MS-Mix stalled under the old defaults, one per hypothesis.

    .venv/bin/python bench/findings.py --runs-dir runs/findings                 # every experiment
    .venv/bin/python bench/findings.py --runs-dir runs/findings --only H1 H3    # some of them

Each experiment trains its variants over the seeds on each dataset and backbone and prints one
markdown table per dataset: mean ± std over seeds, and the paired t-test of each variant against
the experiment's reference (``*`` better, ``†`` worse, p < 0.05). Runs already in the store (same
dataset, backbone, label, seed) are reused, so an interrupted call resumes where it stopped. H5
measures pairs instead of training variants; S measures the intensity predictors after training.
Tables go to stdout and, with ``--out``, to a file.
Model selection is on the validation split; the test split is only reported.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from msmix_core import MODALITIES
from msmix_core.analysis.alignment import intensity_tracking
from msmix_core.analysis.latents import encode_batch, fit_encoder
from msmix_core.data import SplitLoader, load_dataset
from msmix_core.data.schema import MSADataset
from msmix_core.mixing.ms_mix import candidate_mask, opposite_sign, sass_similarity
from msmix_core.runs import Run, RunStatus, RunStore, compare_runs, format_table, to_markdown
from msmix_core.training import LOSSES, TrainConfig, build_models, step_losses, train

SEEDS = (1111, 1112, 1113, 1114, 1115)
METRICS = ("Non0_acc_2", "Non0_F1_score", "MAE", "Corr")
BACKBONES = ("late_fusion", "tfn")

#: Every variant the experiments train, by its label in the store: (method, method knobs, TrainConfig overrides).
#: One label is one configuration, so experiments that share a variant share its runs.
Variant = tuple[str, dict[str, Any], dict[str, Any]]
ATTACHED = {"detach_predictor_input": False}  # the release's gradient paths, whatever msmix's default
VARIANTS: dict[str, Variant] = {
    "none": ("none", {}, {}),
    "mixup": ("mixup", {}, {}),
    "msmix": ("msmix", ATTACHED, {}),
    "msmix mix=L1": ("msmix", ATTACHED, {"mix_loss": "l1"}),
    "msmix sal=0": ("msmix", {**ATTACHED, "sal_weight": 0.0}, {}),
    "msmix sal=0.25 (0.5·B/64)": ("msmix", {**ATTACHED, "sal_weight": 0.25}, {}),
    "msmix ratios detached": ("msmix", {**ATTACHED, "detach_ratios": True}, {}),
    "msmix ratios detached sal=0": ("msmix", {**ATTACHED, "detach_ratios": True, "sal_weight": 0.0}, {}),
    "msmix detached": ("msmix", {"detach_predictor_input": True}, {}),
    "msmix detached mix=L1": ("msmix", {"detach_predictor_input": True}, {"mix_loss": "l1"}),
    "none release": ("none", {}, {"recipe": "release"}),
    "msmix release": ("msmix", ATTACHED, {"recipe": "release"}),
    "msmix detached release": ("msmix", {"detach_predictor_input": True}, {"recipe": "release"}),
}


@dataclass
class Experiment:
    question: str
    variants: tuple[str, ...]
    reference: str
    datasets: tuple[str, ...] = ("synthetic", "mosi", "mosi-0.25")


EXPERIMENTS: dict[str, Experiment] = {
    "H1": Experiment(
        "Does the mixed-term loss matter (L1, the task loss, against the release's MSE)?",
        ("msmix", "msmix mix=L1", "msmix detached", "msmix detached mix=L1", "none"),
        reference="msmix",
    ),
    "H2": Experiment(
        "Does the release's recipe (AdamW 1e-4, warm-up + cosine, batch 64, MSE) let MS-Mix learn?",
        ("none release", "msmix release", "msmix detached release", "none", "msmix"),
        reference="none release",
    ),
    "H3": Experiment(
        "SAL's strength and where its gradient goes",
        ("msmix", "msmix sal=0", "msmix sal=0.25 (0.5·B/64)", "msmix detached", "none"),
        reference="msmix",
    ),
    "H4": Experiment(
        "The gradient of the mixed loss through the SIG ratios into the predictors and encoders",
        ("msmix", "msmix ratios detached", "msmix ratios detached sal=0", "msmix sal=0", "none"),
        reference="msmix",
    ),
    "H6": Experiment(
        "The regime: small data and label noise (does augmentation help where data is scarce or noisy?)",
        ("none", "mixup", "msmix", "msmix detached"),
        reference="none",
        datasets=("synthetic-256", "synthetic-noise1.0", "mosi-0.25"),
    ),
}


def dataset_by_key(key: str, mosi_dir: str) -> MSADataset:
    """The datasets the experiments use, by a short key."""
    if key == "synthetic":
        return load_dataset("synthetic")
    if key.startswith("synthetic-noise"):
        return load_dataset("synthetic", label_noise=float(key.removeprefix("synthetic-noise")))
    if key.startswith("synthetic-"):
        return load_dataset("synthetic", n_train=int(key.removeprefix("synthetic-")))
    fraction = key.removeprefix("mosi").removeprefix("-") or "1.0"
    return load_dataset(f"mosi-utterance:{mosi_dir}?train_fraction={fraction}")


def _dataset_label(key: str, data: MSADataset) -> str:
    return f"{key} ({len(data.train)} train)"


def run_experiment(name: str, exp: Experiment, args: argparse.Namespace) -> str:
    """Train what the store lacks, then return the experiment's markdown section."""
    store = RunStore(args.runs_dir)
    finished = {
        (r.config["dataset"], r.config["backbone"], r.config["label"], r.config["seed"])
        for r in store.list()
        if r.status == RunStatus.FINISHED
    }
    sections = [f"### {name}: {exp.question}\n"]
    for key in [k for k in exp.datasets if args.datasets is None or k in args.datasets]:
        data = dataset_by_key(key, args.mosi)
        for backbone in args.backbones:
            for label in exp.variants:
                method, knobs, overrides = VARIANTS[label]
                for seed in args.seeds:
                    if (data.name, backbone, label, seed) in finished:
                        continue
                    config = TrainConfig(
                        backbone=backbone,
                        method=method,
                        method_kwargs=knobs,
                        label=label,
                        seed=seed,
                        save_weights=False,
                        **({"epochs": args.epochs} | overrides | _release_epochs(overrides, args)),
                    )
                    result = train(data, config, store=store)
                    print(f"{name} {key} {backbone} {label} {seed}: {result.test_metrics['Corr']:.3f}", file=sys.stderr)
        table = store.table()
        table = table[(table["dataset"] == data.name) & table["label"].isin(exp.variants)]
        compared = compare_runs(table, baseline=exp.reference, metrics=METRICS)
        sections.append(f"**{_dataset_label(key, data)}**, reference `{exp.reference}`\n")
        sections.append(to_markdown(format_table(compared, p_values=True)))
        runs = [r for r in store.list() if r.id in set(table["id"])]
        sections.append(plateau_table(runs))
    return "\n".join(sections)


def plateau_table(runs: list[Run]) -> str:
    """How long each variant sits at the constant predictor: the first epoch whose validation loss is
    below 95 % of the best constant prediction's, as mean over seeds, and how many seeds never get there."""
    first: dict[tuple[str, str], list[int | None]] = {}
    for run in runs:
        below = [e["epoch"] for e in run.history if e["losses"]["valid"] < 0.95 * e["losses"]["valid_constant"]]
        first.setdefault((run.config["backbone"], run.config["label"]), []).append(below[0] if below else None)
    rows = [
        "| backbone | label | first epoch below 0.95 × constant (mean) | seeds that never learned |",
        "|---|---|---|---|",
    ]
    for (backbone, label), epochs in sorted(first.items()):
        learned = [e for e in epochs if e is not None]
        mean = f"{np.mean(learned):.1f}" if learned else "–"
        rows.append(f"| {backbone} | {label} | {mean} | {len(epochs) - len(learned)} of {len(epochs)} |")
    return "\n" + "\n".join(rows) + "\n"


def _release_epochs(overrides: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    return {"epochs": args.release_epochs} if overrides.get("recipe") == "release" else {}


def sass_selectivity(args: argparse.Namespace) -> str:
    """H5: share of ordered pairs a ≠ b above δ per training batch, and how many of them clash in sign."""
    rows = ["| data | backbone | encoder | δ | pairs kept | contradictory among kept | contradictory, random |"]
    rows.append("|---|---|---|---|---|---|---|")
    for key in [k for k in ("synthetic", "mosi", "mosi-0.25") if args.datasets is None or k in args.datasets]:
        data = dataset_by_key(key, args.mosi)
        for backbone in args.backbones:
            stats: dict[tuple[str, float], list[tuple[float, float, float]]] = {}
            for seed in args.seeds:
                config = TrainConfig(
                    backbone=backbone,
                    method="msmix",
                    method_kwargs={"detach_predictor_input": True},  # msmix's default, pinned
                    seed=seed,
                    epochs=args.epochs,
                )
                for encoder, epochs in (("untrained", 0), (f"trained (MS-Mix, {args.epochs} epochs)", args.epochs)):
                    model = _trained_backbone(data, config, epochs)
                    for delta in (0.2, 0.4, 0.6):
                        stats.setdefault((encoder, delta), []).append(_batch_pair_rates(model, data, delta, seed))
            for (encoder, delta), values in stats.items():
                kept, clash_kept, clash_all = np.mean(values, axis=0)
                rows.append(
                    f"| {key} | {backbone} | {encoder} | {delta} | {kept:.1%} | {clash_kept:.1%} | {clash_all:.1%} |"
                )
    return "### H5: how selective is SASS on trained latents?\n\n" + "\n".join(rows) + "\n"


def sal_tracking(args: argparse.Namespace) -> str:
    """S: after MS-Mix training (with SAL), do the predicted intensities follow |label|, or saturate near ±3?

    Per dataset, backbone and encoder: Spearman ρ of |intensity| with |label| and the share of saturated
    intensities (|I| >= 2.7) on the first shuffled train batch of 128, mean over the seeds, as the SIG
    page computes them (:func:`msmix_core.analysis.alignment.intensity_tracking`).
    """
    rows = ["| data | backbone | predictor | modality | ρ(abs intensity, abs label) | saturated | SAL term |"]
    rows.append("|---|---|---|---|---|---|---|")
    for key in [k for k in ("synthetic", "mosi") if args.datasets is None or k in args.datasets]:
        data = dataset_by_key(key, args.mosi)
        for backbone in args.backbones:
            for encoder, epochs in (("untrained", 0), (f"trained ({args.epochs} epochs)", args.epochs)):
                tables = [
                    intensity_tracking(encode_batch(*fit_encoder(data, backbone, seed=seed, epochs=epochs), data, 128))
                    for seed in args.seeds
                ]
                mean = pd.concat(tables).groupby("modality", sort=False)[["spearman_abs", "saturated", "sal"]].mean()
                for m, row in mean.iterrows():
                    rows.append(
                        f"| {key} | {backbone} | {encoder} | {m} | {row['spearman_abs']:.2f} | "
                        f"{row['saturated']:.0%} | {row['sal']:.2f} |"
                    )
    return "### S: do trained intensities follow |label|?\n\n" + "\n".join(rows) + "\n"


def _trained_backbone(data: MSADataset, config: TrainConfig, epochs: int) -> torch.nn.Module:
    if epochs == 0:
        backbone, _ = build_models(data, config, torch.device("cpu"))
        return backbone.eval()
    return train(data, config).backbone.eval()


@torch.no_grad()
def _batch_pair_rates(model: torch.nn.Module, data: MSADataset, delta: float, seed: int) -> tuple[float, float, float]:
    """Over the train split's batches of 32: kept share, contradictory share among kept, among all pairs."""
    kept, clash_kept, clash_all, total = 0, 0, 0, 0
    for batch in SplitLoader(data.train, 32, shuffle=True, seed=seed, device=torch.device("cpu")):
        latents = model.encode(batch)
        b = batch["labels"].shape[0]
        if b < 2:
            continue
        mask = candidate_mask(sass_similarity({m: latents[m] for m in MODALITIES}), delta)
        clash = opposite_sign(batch["labels"])
        kept += int(mask.sum())
        clash_kept += int((mask & clash).sum())
        clash_all += int(clash.sum())
        total += b * (b - 1)
    return kept / total, clash_kept / max(kept, 1), clash_all / total


def gradient_norms(args: argparse.Namespace) -> str:
    """Where the loss terms push the backbone at initialisation: the gradient norm of each weighted term
    (task, 0.7 · mixed, 0.5 · SAL) on the backbone's parameters, first training batch, mean over seeds."""
    rows = ["| data | backbone | predictor input | task | 0.7 · mixed | 0.5 · SAL |", "|---|---|---|---|---|---|"]
    for key in [k for k in ("synthetic", "mosi") if args.datasets is None or k in args.datasets]:
        data = dataset_by_key(key, args.mosi)
        for backbone in args.backbones:
            for detach in (False, True):
                norms = []
                for seed in args.seeds:
                    config = TrainConfig(
                        backbone=backbone, method="msmix", seed=seed, method_kwargs={"detach_predictor_input": detach}
                    )
                    model, method = build_models(data, config, torch.device("cpu"))
                    batch = next(
                        iter(SplitLoader(data.train, config.batch_size, shuffle=True, seed=seed, device="cpu"))
                    )
                    per_term = []
                    for part, weight in (("task", 1.0), ("mix", method.mix_weight), ("sal", method.sal_weight)):
                        model.zero_grad()
                        method.zero_grad()
                        losses, _ = step_losses(
                            model,
                            method,
                            batch,
                            LOSSES[config.loss],
                            torch.Generator().manual_seed(seed),
                            LOSSES["mse"],
                        )
                        (weight * losses[part]).backward()
                        grads = [p.grad.pow(2).sum() for p in model.parameters() if p.grad is not None]
                        per_term.append(float(torch.stack(grads).sum().sqrt()) if grads else 0.0)
                    norms.append(per_term)
                task, mix, sal = np.mean(norms, axis=0)
                source = "detached (default)" if detach else "attached (release)"
                rows.append(f"| {key} | {backbone} | {source} | {task:.3f} | {mix:.3f} | {sal:.3f} |")
    return "### G: gradient norms at initialisation\n\n" + "\n".join(rows) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs-dir", default="runs/findings")
    parser.add_argument(
        "--only", nargs="+", choices=["G", *EXPERIMENTS, "H5", "S"], default=["G", *EXPERIMENTS, "H5", "S"]
    )
    parser.add_argument("--mosi", default=os.environ.get("MSMIX_MOSI_DIR", "../shared/data/mosi-utterance"))
    parser.add_argument("--datasets", nargs="+", default=None, help="only these dataset keys (default: all)")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--backbones", nargs="+", default=list(BACKBONES))
    parser.add_argument("--epochs", type=int, default=10, help="epoch cap of the mmsa recipe runs")
    parser.add_argument("--release-epochs", type=int, default=100, help="epoch budget of the release recipe runs")
    parser.add_argument("--out", default=None, help="also append the markdown to this file")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name in args.only:
        special = {"G": gradient_norms, "H5": sass_selectivity, "S": sal_tracking}
        text = special[name](args) if name in special else run_experiment(name, EXPERIMENTS[name], args)
        print(text, flush=True)
        if args.out:
            with open(args.out, "a") as out:
                out.write(text + "\n")


if __name__ == "__main__":
    main()
