"""How the pairing strategies pick pairs, measured with the real mixing methods.

A mixed sample is only as good as its label: mixing a clearly positive clip with a clearly
negative one produces a target near zero for features that express neither. These functions
count how often each strategy does that (contradictory-pair rate) and how far apart the mixed
labels are (mean ``|Δy|``), and lay out per-pair tables for inspection.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from msmix_core import MODALITIES
from msmix_core.analysis.latents import LatentBatch
from msmix_core.data.schema import Split
from msmix_core.errors import MsmixError
from msmix_core.mixing.ms_mix import candidate_mask, ms_mix, sass_similarity
from msmix_core.mixing.registry import build_method, method_knobs
from msmix_core.mixing.result import MixResult


@dataclass(frozen=True)
class Strategy:
    """A pairing strategy of the exploration pages: its display label and the method whose pairs it draws.

    Call it with a batch, a generator and any of ``threshold`` (SASS's δ), ``alpha`` and ``sigma``
    (C-Mixup's bandwidth) as keywords; a knob left out (or one the method lacks) keeps the method's
    declared default. SASS strategies mix with the batch's own predicted intensities.
    """

    label: str
    method: str

    @property
    def uses_threshold(self) -> bool:
        """Whether δ changes this strategy's pairs (it has SASS's ``threshold`` knob)."""
        return "threshold" in method_knobs(self.method)

    def __call__(
        self,
        batch: LatentBatch,
        generator: torch.Generator,
        *,
        threshold: float | None = None,
        alpha: float | None = None,
        sigma: float | None = None,
    ) -> MixResult:
        declared = method_knobs(self.method)
        given = {"threshold": threshold, "alpha": alpha, "sigma": sigma}
        knobs = {k: declared[k].default if v is None else v for k, v in given.items() if k in declared}
        features, labels = batch.tensors()
        if self.method in ("msmix", "msmix_guard"):
            intensities = {m: torch.from_numpy(batch.intensities[m]) for m in MODALITIES}
            guard = self.method == "msmix_guard"
            return ms_mix(features, labels, intensities, generator=generator, label_guard=guard, **knobs)
        return build_method(self.method, **knobs)(features, labels, generator=generator)


#: How many seeded draws :func:`pair_statistics` averages by default.
DRAWS = 5

#: Strategy id -> strategy; the ids are what code and URLs use, the labels what tables and charts show.
STRATEGIES: dict[str, Strategy] = {
    "sass": Strategy("SASS (MS-Mix)", "msmix"),
    "random": Strategy("random (Manifold Mixup)", "manifold"),
    "cmixup": Strategy("C-Mixup", "cmixup"),
    "guard": Strategy("label-aware guard", "msmix_guard"),
}


def pair_statistics(
    batch: LatentBatch,
    *,
    threshold: float | None = None,
    alpha: float | None = None,
    sigma: float | None = None,
    repeats: int = DRAWS,
    seed: int = 0,
    strategies: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One row per strategy: contradictory-pair rate and mean ``|Δy|``, averaged over ``repeats`` draws.

    ``id`` is the strategy's id, ``strategy`` its label. ``candidates`` counts the ordered pairs
    ``a ≠ b`` a strategy draws from and ``candidate_share`` their share of ``B·(B−1)``.

    ``threshold`` is SASS's δ, ``alpha`` the Beta(α, α) of every method, ``sigma`` C-Mixup's
    bandwidth; None keeps each method's declared default. Averaging several seeded draws keeps the
    comparison from hinging on one lucky permutation. ``strategies``: ids of :data:`STRATEGIES` to
    compute (default all); each strategy draws from its own seeded generator, so a row does not
    depend on which others are computed with it.
    """
    rows, pairs_in_batch = [], max(ordered_pair_count(len(batch.labels)), 1)
    knobs = {"threshold": threshold, "alpha": alpha, "sigma": sigma}
    unknown = set(strategies or ()) - set(STRATEGIES)
    if unknown:
        raise MsmixError(f"unknown strategies {sorted(unknown)}: choose from {list(STRATEGIES)}")
    for strategy_id in STRATEGIES if strategies is None else strategies:
        strategy = STRATEGIES[strategy_id]
        generator = torch.Generator().manual_seed(seed)
        draws = [strategy(batch, generator, **knobs).diagnostics for _ in range(repeats)]
        rows.append(
            {
                "id": strategy_id,
                "strategy": strategy.label,
                "contradictory_rate": float(np.mean([d["contradictory_rate"] for d in draws])),
                "mean_abs_label_gap": float(np.mean([d["mean_abs_label_gap"] for d in draws])),
                "candidates": float(np.mean([d["num_candidates"] for d in draws])),
                "candidate_share": float(np.mean([d["num_candidates"] for d in draws])) / pairs_in_batch,
                "fallback_rate": float(np.mean([d["fallback"] for d in draws])),
            }
        )
    return pd.DataFrame(rows)


def pair_table(batch: LatentBatch, result: MixResult, similarity: np.ndarray | None = None) -> pd.DataFrame:
    """One row per mixed pair: the two sources (batch position and split row), labels, similarity, ratios."""
    pairs = result.pairs.cpu().numpy()
    a, b = pairs[:, 0], pairs[:, 1]
    table = pd.DataFrame(
        {
            "pos_a": a,
            "pos_b": b,
            "row_a": batch.index[a],
            "row_b": batch.index[b],
            "label_a": batch.labels[a],
            "label_b": batch.labels[b],
        }
    )
    if similarity is not None:
        table["similarity"] = similarity[a, b]
    for key in (*MODALITIES, "label"):
        table[f"lam_{key}"] = result.lam[key].cpu().numpy()
    table["mixed_label"] = result.mixed_labels.cpu().numpy()
    table["contradictory"] = (table["label_a"] * table["label_b"]) < 0
    return table


def speakers(split: Split) -> np.ndarray | None:
    """Who speaks each sample: the video id of real MOSI data (one speaker per video), else a speaker code."""
    for key in ("video", "speaker"):
        if key in split.extras:
            return np.asarray(split.extras[key])
    return None


def with_sources(table: pd.DataFrame, split: Split) -> pd.DataFrame:
    """``table`` (with ``row_a``/``row_b`` rows of ``split``) plus each side's sentence and speaker when known.

    Adds ``text_a``/``text_b`` from ``raw_text`` and ``speaker_a``/``speaker_b`` (and ``same_speaker``)
    from :func:`speakers`, right after the labels, so a reader sees which sentences a pair blends.
    """
    out = table.copy()
    at = out.columns.get_loc("label_b") + 1
    who = speakers(split)
    for side in ("b", "a"):  # inserted at the same place: a before b
        rows = out[f"row_{side}"].to_numpy()
        if who is not None:
            out.insert(at, f"speaker_{side}", who[rows])
        if split.raw_text is not None:
            out.insert(at, f"text_{side}", np.asarray(split.raw_text)[rows])
    if who is not None:
        out.insert(out.columns.get_loc("speaker_b") + 1, "same_speaker", out["speaker_a"] == out["speaker_b"])
    return out


def sample_captions(split: Split, rows: np.ndarray, width: int = 80) -> list[str]:
    """One short caption per row: the sentence (cut at ``width`` characters) and the speaker, when known."""
    who = speakers(split)
    captions = []
    for row in np.asarray(rows).tolist():
        parts = []
        if split.raw_text is not None:
            sentence = str(split.raw_text[row])
            parts.append(f"“{sentence if len(sentence) <= width else sentence[: width - 1] + '…'}”")
        if who is not None:
            parts.append(f"speaker {who[row]}")
        captions.append(" · ".join(parts))
    return captions


def intensity_table(batch: LatentBatch) -> pd.DataFrame:
    """Long format for a scatter: one row per (sample, modality) with its label and predicted intensity."""
    frames = [
        pd.DataFrame(
            {
                "row": batch.index,
                "modality": m,
                "label": batch.labels,
                "abs_label": np.abs(batch.labels),
                "intensity": batch.intensities[m],
            }
        )
        for m in MODALITIES
    ]
    return pd.concat(frames, ignore_index=True)


def modality_similarity(batch: LatentBatch) -> dict[str, np.ndarray]:
    """SASS's averaged similarity ``[B, B]`` (key ``"averaged"``) and each modality's own, same normalisation."""
    features, _ = batch.tensors()
    out = {"averaged": sass_similarity(features).numpy()}
    for m in MODALITIES:
        out[m] = sass_similarity(dict.fromkeys(MODALITIES, features[m])).numpy()
    return out


#: How the heatmap's rows and columns can be ordered: by label, by speaker (then label), as drawn.
ORDERS: tuple[str, ...] = ("label", "speaker", "batch")


def display_order(labels: np.ndarray, by: str = "label", speaker: np.ndarray | None = None) -> np.ndarray:
    """Batch positions in display order, so that blocks of like sentiment (or one speaker) sit together.

    ``by``: ``"label"`` (ascending, ties in batch order), ``"speaker"`` (grouped by ``speaker``,
    labels ascending inside a group) or ``"batch"`` (as drawn).
    """
    if by not in ORDERS:
        raise MsmixError(f"unknown order {by!r}: choose one of {', '.join(ORDERS)}")
    labels = np.asarray(labels)
    if by == "batch":
        return np.arange(len(labels))
    if by == "speaker":
        if speaker is None:
            raise MsmixError("this data names no speakers: order the heatmap by label or batch order")
        return np.lexsort((labels, np.asarray(speaker)))
    return np.argsort(labels, kind="stable")


def ordered_pair_count(batch_size: int) -> int:
    """The ordered pairs ``(a, b)`` with ``a ≠ b`` of a batch: ``B·(B−1)``, the one count every page uses."""
    return batch_size * (batch_size - 1)


def kept_share(similarity: np.ndarray, threshold: float) -> tuple[int, float]:
    """How many ordered pairs ``a ≠ b`` pass δ, and their share of ``B·(B−1)``."""
    kept = int(candidate_mask(torch.from_numpy(np.asarray(similarity)), threshold).sum())
    total = ordered_pair_count(len(similarity))
    return kept, kept / total if total else 0.0


def read_selection(threshold: float, share: float, stats: pd.DataFrame) -> str:
    """One or two sentences that read the pair-selection picture for the user, from the numbers on it.

    ``share``: SASS's kept share at δ = ``threshold``; ``stats``: :func:`pair_statistics` at that δ.
    """
    rate = dict(zip(stats["id"], stats["contradictory_rate"], strict=True))
    sass, rand = rate["sass"], rate["random"]
    if share >= 0.8:
        verdict = "close to random pairing"
    elif share >= 0.2:
        verdict = "a real filter"
    elif share > 0:
        verdict = "only the most similar pairs"
    else:
        verdict = "no pair at all, so SASS falls back to the most similar pairs"
    if sass < rand - 0.02:
        compare = "fewer than"
    elif sass > rand + 0.02:
        compare = "more than"
    else:
        compare = "about as many as"
    text = (
        f"At δ = {threshold:.2f} SASS keeps {100 * share:.0f} % of the ordered pairs: {verdict}. "
        f"Of the pairs it draws, {100 * sass:.0f} % have opposite signs (mean of {DRAWS} seeded draws) against "
        f"{100 * rand:.0f} % for random pairing ({compare} random)"
    )
    if "guard" in rate:
        text += f"; the label-aware guard's {100 * rate['guard']:.0f} %"
    return text + "."
