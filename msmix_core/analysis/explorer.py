"""The pair explorer of the Pair selection page: which drawn pairs to look at, and how to name them.

A class looks for a kind of pair (opposite signs, a modality that contradicts the others, one
speaker twice, a large label gap) among the pairs SASS drew; :class:`PairFilter` keeps those, and
its text form (``"conflict,gap1.5"``) is what a link carries, so a tour step can open a filtered view.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from msmix_core import MODALITIES
from msmix_core.data.schema import Split
from msmix_core.errors import MsmixError

#: Filter id -> what a kept pair has (the ids are the URL's words).
PAIR_KINDS: dict[str, str] = {
    "contradictory": "opposite-sign labels",
    "conflict": "a modality conflict (one side's modality expresses the opposite sentiment)",
    "same_speaker": "the same speaker on both sides",
}
#: The table column each filter reads; a table without it (data that names no speakers, real data
#: without conflict flags) cannot be filtered that way.
KIND_COLUMNS = {"contradictory": "contradictory", "conflict": "conflict", "same_speaker": "same_speaker"}
GAP_PREFIX = "gap"
#: The largest label gap a filter may ask for: labels lie within [-3, 3].
MAX_GAP = 6.0


@dataclass(frozen=True)
class PairFilter:
    """Keep the pairs that have every kind of ``kinds`` and a label gap ``|y_a − y_b|`` above ``min_gap``."""

    kinds: tuple[str, ...] = ()
    min_gap: float = 0.0

    def __post_init__(self) -> None:
        unknown = [kind for kind in self.kinds if kind not in PAIR_KINDS]
        if unknown:
            raise MsmixError(f"unknown pair filter {unknown[0]!r}: choose from {', '.join(PAIR_KINDS)}")
        if not (math.isfinite(self.min_gap) and 0.0 <= self.min_gap <= MAX_GAP):
            raise MsmixError(f"the label gap of a pair filter must lie in [0, {MAX_GAP:g}], got {self.min_gap}")

    @classmethod
    def parse(cls, text: str) -> PairFilter:
        """From the text form: filter ids and ``gap<x>``, comma-separated (``"conflict,gap1.5"``; empty: no filter)."""
        kinds, gap = [], 0.0
        for item in (part.strip() for part in text.split(",")):
            if item.startswith(GAP_PREFIX):
                try:
                    gap = float(item[len(GAP_PREFIX) :])
                except ValueError:
                    raise MsmixError(f"write a label gap as gap<number>, e.g. gap1.5; got {item!r}") from None
            elif item:
                kinds.append(item)
        order = list(PAIR_KINDS)
        return cls(tuple(sorted(set(kinds), key=lambda k: order.index(k) if k in order else -1)), gap)

    def text(self) -> str:
        """The text form :meth:`parse` reads; kinds in :data:`PAIR_KINDS`' order (as :meth:`parse` puts them)."""
        items = [kind for kind in PAIR_KINDS if kind in self.kinds]
        return ",".join(items + ([f"{GAP_PREFIX}{self.min_gap:g}"] if self.min_gap > 0 else []))

    def apply(self, table: pd.DataFrame) -> pd.DataFrame:
        """The rows of ``table`` (a :func:`pair_table` with :func:`with_sources` and :func:`with_conflicts`)
        this filter keeps; the index is kept, so a row still names its place among the drawn pairs."""
        gap = np.abs(table["label_a"] - table["label_b"]).to_numpy()
        keep = gap > self.min_gap if self.min_gap > 0 else np.ones(len(table), dtype=bool)
        for kind in self.kinds:
            column = KIND_COLUMNS[kind]
            if column not in table:
                raise MsmixError(f"this data cannot be filtered by {kind!r}: it has no {column} information")
            keep &= table[column].astype(bool).to_numpy()
        return table[keep]


def available_kinds(table: pd.DataFrame) -> list[str]:
    """The filters ``table`` has the columns for, in :data:`PAIR_KINDS`' order."""
    return [kind for kind in PAIR_KINDS if KIND_COLUMNS[kind] in table]


def with_conflicts(table: pd.DataFrame, split: Split) -> pd.DataFrame:
    """``table`` plus a ``conflict`` column when ``split`` flags modality conflicts (the synthetic data does).

    The column names the conflicting modality of each side (``"a: audio"``, ``"a: text, b: vision"``),
    empty when neither side has one.
    """
    if "conflict" not in split.extras:
        return table
    flags, which = np.asarray(split.extras["conflict"]), np.asarray(split.extras["conflict_modality"])
    names = []
    for row_a, row_b in zip(table["row_a"].to_numpy(), table["row_b"].to_numpy(), strict=True):
        sides = [f"{side}: {MODALITIES[which[row]]}" for side, row in (("a", row_a), ("b", row_b)) if flags[row]]
        names.append(", ".join(sides))
    out = table.copy()
    out.insert(out.columns.get_loc("label_b") + 1, "conflict", names)
    return out


def first_words(text: str, words: int = 4, chars: int = 24) -> str:
    """The first ``words`` words of a sentence (fewer when they pass ``chars`` characters), with an ellipsis when it
    goes on: a picker entry stays short enough to read whole."""
    parts = str(text).split()
    kept = parts[:1]
    for word in parts[1:words]:
        if len(" ".join([*kept, word])) > chars:
            break
        kept.append(word)
    return " ".join(kept) + ("…" if len(kept) < len(parts) else "")


def readable_id(sample_id: str) -> str:
    """An MMSA id as a person reads it: ``"synth_spk38$_$0020"`` -> ``"spk38 clip 20"``."""
    video, sep, clip = str(sample_id).partition("$_$")
    if not sep:
        return str(sample_id)
    video = video.removeprefix("synth_")
    return f"{video} clip {int(clip)}" if clip.isdigit() else f"{video} clip {clip}"


def pair_labels(table: pd.DataFrame, split: Split, words: int = 4, chars: int = 24) -> list[str]:
    """One picker entry per row of ``table``: both sides' scores and first words (or ids when there is no text).

    ``"+1.6 “THIS MOVIE IS GREAT …” × −0.6 “I DID NOT …”"``; a row keeps its number among the drawn pairs.
    """
    texts = None if split.raw_text is None else np.asarray(split.raw_text)
    entries = []
    for number, row in zip(table.index, table.itertuples(index=False), strict=True):
        sides = []
        for label, source in ((row.label_a, row.row_a), (row.label_b, row.row_b)):
            name = readable_id(split.ids[source]) if texts is None else f"“{first_words(texts[source], words, chars)}”"
            sides.append(f"{signed(label)} {name}")
        entries.append(f"#{number}: {sides[0]} × {sides[1]}")
    return entries


def signed(value: float, decimals: int = 2) -> str:
    """A label with its sign and a typographic minus, to ``decimals`` places (``-0.6667`` -> ``−0.67``)."""
    text = f"{abs(float(value)):.{decimals}f}"
    return ("−" if float(value) < 0 and float(text) != 0 else "+") + text
