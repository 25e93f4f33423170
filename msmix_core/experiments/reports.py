"""What a set of runs says: tables, warnings and verdicts in words; plain pandas in and out.

- :func:`history_frame`: per-epoch histories (live or stored) as one long table for the curves.
- :func:`summary_table`: the best-validation epoch of each run, with its test metrics.
- :func:`learning_warnings`: a sentence for each run that did not learn.
- :func:`significance_sentences`: a paired comparison of variants, said in words.
- :func:`run_name`: a stored run named by what differs between it and the others.
- :func:`robustness_table`: :func:`~msmix_core.training.evaluate_robustness` for several stored runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from msmix_core.data.schema import MSADataset
from msmix_core.errors import MsmixError
from msmix_core.runs import Run
from msmix_core.training import evaluate_robustness, load_trained


def history_frame(histories: Mapping[str, Iterable[Mapping[str, Any]]]) -> pd.DataFrame:
    """Long table of per-epoch values: ``run``, ``epoch``, ``split`` (train/valid/test), ``metric``, ``value``.

    Losses appear as metric ``loss`` (``train`` is the total training loss); MMSA's metrics of
    the valid and test splits follow. Non-finite values are dropped (they cannot be drawn).
    """
    rows = []
    for run, history in histories.items():
        for record in history:
            epoch = record["epoch"]
            for split in ("train", "valid", "test"):
                rows.append((run, epoch, split, "loss", record["losses"][split]))
            for split in ("valid", "test"):
                rows += [(run, epoch, split, k, v) for k, v in record[f"{split}_metrics"].items()]
    frame = pd.DataFrame(rows, columns=["run", "epoch", "split", "metric", "value"])
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce").astype(float)
    return frame[np.isfinite(frame["value"])].reset_index(drop=True)


def summary_table(
    histories: Mapping[str, Sequence[Mapping[str, Any]]], split: str = "test", keys: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """One row per run: epochs trained, best (lowest validation loss) epoch and that epoch's ``split`` metrics.

    The same checkpoint the trainer reports, read from the histories, so it also works while a run goes on.
    With ``keys`` (run name -> experiment key), an ``experiment`` column tells runs trained alike from others.
    """
    rows = []
    for run, history in histories.items():
        if not history:
            continue
        best = history[history[-1]["best_epoch"] - 1]
        row = {"run": run} | ({"experiment": keys.get(run)} if keys is not None else {})
        rows.append(row | {"epochs": len(history), "best_epoch": best["epoch"], **best[f"{split}_metrics"]})
    return pd.DataFrame(rows)


#: A run whose best validation loss stays above this share of the best constant prediction's has
#: learned nothing worth showing (the constant is the train labels' median for L1, mean for MSE).
CONSTANT_MARGIN = 0.97


def learning_warnings(histories: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[str]:
    """One sentence per run that did not learn: its best validation loss is no better than its first
    epoch's, or within 3 % of what always predicting one constant scores."""
    out = []
    for run, history in histories.items():
        if len(history) < 2:
            continue
        losses = [e["losses"]["valid"] for e in history]
        best, first = min(losses), losses[0]
        constant = history[0]["losses"].get("valid_constant")
        if constant is not None and best > CONSTANT_MARGIN * constant:
            out.append(
                f"{run} did not learn: its best validation loss {best:.4f} is no better than always predicting "
                f"one constant ({constant:.4f}) after {len(history)} epochs."
            )
        elif best >= first - 1e-6:
            out.append(f"{run} did not learn: its validation loss never fell below its first epoch's ({first:.4f}).")
    return out


def significance_sentences(compared: pd.DataFrame, metric: str) -> list[str]:
    """What :func:`~msmix_core.runs.compare_runs`' paired tests say about ``metric``, one sentence per variant."""
    rows = compared[(compared["metric"] == metric) & (compared["note"] != "baseline")]
    base_rows = compared[(compared["metric"] == metric) & (compared["note"] == "baseline")]
    base_mean = float(base_rows["mean"].iloc[0]) if not base_rows.empty else float("nan")
    out = []
    for _, row in rows.iterrows():
        head = f"{row['label']} against {row['baseline']} on test {metric}: {row['mean']:g} vs {base_mean:g}"
        if pd.isna(row.get("p_value")):
            out.append(f"{head} over {row['n_seeds']} seed(s): no test ({row['note'] or 'no paired seeds'}).")
            continue
        verdict = "better" if row["better"] else "worse"
        if row["significant"]:
            said = f"significantly {verdict} (paired t-test over {row['n_paired']} seeds, p = {row['p_value']:.3f})"
        else:
            said = (
                f"{verdict} by {abs(row['delta']):g}, but not significantly: the gap is within the spread over "
                f"{row['n_paired']} seeds (p = {row['p_value']:.2f})"
            )
        out.append(f"{head}: {said}.")
    return out


def fits(run: Run, dataset: MSADataset) -> bool:
    """Whether ``run`` was trained on data shaped like ``dataset`` and kept its weights."""
    summary = run.config.get("dataset_summary", {})
    same_shape = summary.get("dims") == dataset.dims and summary.get("seq_lens") == dataset.seq_lens
    return run.has_weights and same_shape and run.config.get("dataset") == dataset.name


def run_name(run: Run, others: Iterable[Run] = ()) -> str:
    """A stored run named by what differs between it and ``others``: label, then only the knobs that vary.

    Always the label, seed and the date; the epochs, learning rate, batch size and the MS-Mix
    knobs (δ, α, ...) appear when they are not the same in every run of ``others``.
    """

    def knobs(r: Run) -> dict[str, Any]:
        config = r.config
        flat = {"epochs": len(r.history), "lr": config.get("lr"), "batch": config.get("batch_size")}
        names = {"threshold": "δ", "alpha": "α", "mix_weight": "mix w", "sal_weight": "SAL w"}
        flat |= {names.get(k, k): v for k, v in (config.get("method_kwargs") or {}).items()}
        return flat

    mine, pool = knobs(run), [knobs(r) for r in others] or [knobs(run)]
    varying = [k for k, v in mine.items() if any(p.get(k) != v for p in pool)]
    parts = [str(run.config.get("label", run.config["method"])), f"seed {run.config['seed']}"]
    parts += [f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in mine.items() if k in varying]
    parts += [f"{run.created:%b %d %H:%M}", run.status]
    return " · ".join(parts)


def robustness_table(
    runs: Sequence[Run],
    dataset: MSADataset,
    noise_levels: Sequence[float],
    *,
    seed: int = 0,
    split: str = "test",
    device: str = "auto",
) -> pd.DataFrame:
    """Each run's model scored clean, with each modality zeroed and noised; a ``label`` and ``run`` column first.

    The same ``seed`` draws the same noise for every run, so the methods face identical corruption.
    """
    if not runs:
        raise MsmixError("no stored model to score: train one on the Training page (with the same data) first")
    frames = []
    for run in runs:
        backbone = load_trained(run, dataset, device=device)
        table = evaluate_robustness(backbone, dataset, split=split, noise_levels=noise_levels, seed=seed, device=device)
        table.insert(0, "run", run.id)
        table.insert(0, "label", run.config.get("label", run.config["method"]))
        frames.append(table)
    return pd.concat(frames, ignore_index=True)
