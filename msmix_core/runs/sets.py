"""Which stored runs may be compared: sets of experiments that differ in the compared factor alone.

A comparison (an ablation, methods against a baseline, a sweep) varies one *factor*: the method,
MS-Mix's switches, a knob. Two runs belong to one comparison when their defining settings
(:func:`~msmix_core.runs.identity.experiment_fields`) agree on everything but that factor; each
experiment key in the set is one *variant*, and its runs are its seeds. Runs are never swapped
across keys by recency: MS-Mix at 3 epochs is not a newer MS-Mix at 2 epochs, it is another set.

:func:`comparable_sets` finds every set in a store, the default first (the newest that can be tested);
:func:`left_out` says in one line per set what a chosen set leaves out, and why.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from msmix_core.runs.compare import MIN_PAIRED_SEEDS, runs_table
from msmix_core.runs.identity import fields_key, settings_fields
from msmix_core.runs.status import RunStatus

if TYPE_CHECKING:
    from msmix_core.runs.store import Run


def run_label(run: Run) -> str:
    """A run's label (its method when it has none): the default variant name."""
    config = run.config
    return str(config.get("label") or config["method"])


@dataclass(frozen=True)
class ComparisonSet:
    """Experiments that share every setting but the compared factor, with their runs.

    ``variants`` maps a variant's name to its runs (one experiment key, the newest run per seed, in
    seed order), the reference first; ``keys`` maps it to the experiment key; ``missing`` names the
    wanted variants the set lacks.
    """

    settings: dict[str, Any]
    variants: dict[str, list[Run]]
    keys: dict[str, str]
    missing: tuple[str, ...]
    newest: datetime

    @property
    def complete(self) -> bool:
        """Every wanted variant is there, and at least two: something to compare."""
        return not self.missing and len(self.variants) >= 2

    @property
    def settings_key(self) -> str:
        return fields_key(self.settings)

    @property
    def runs(self) -> list[Run]:
        return [run for runs in self.variants.values() for run in runs]

    @property
    def seeds(self) -> list[int]:
        """The seeds every variant has: the ones paired tests use."""
        seeds = [{run.config["seed"] for run in runs} for runs in self.variants.values()]
        return sorted(set.intersection(*seeds)) if seeds else []

    def on_shared_seeds(self, names: Collection[str] | None = None) -> ComparisonSet:
        """The variants ``names`` (default: all) on the seeds they all have, so that each variant's mean is
        over the seeds its paired test uses; :meth:`unpaired` says what this leaves out."""
        names = [name for name in self.variants if names is None or name in names]
        chosen = replace(self, variants={n: self.variants[n] for n in names}, keys={n: self.keys[n] for n in names})
        seeds = set(chosen.seeds)
        return replace(
            chosen, variants={n: [r for r in chosen.variants[n] if r.config["seed"] in seeds] for n in names}
        )

    def unpaired(self, names: Collection[str] | None = None) -> str | None:
        """One line on the runs of ``names`` that :meth:`on_shared_seeds` leaves out for lacking a partner
        seed, and the seeds it keeps; None when it leaves none out."""
        kept = self.on_shared_seeds(names)
        shared = set(kept.seeds)
        dropped = {
            name: [run.config["seed"] for run in self.variants[name] if run.config["seed"] not in shared]
            for name in kept.variants
        }
        dropped = {name: seeds for name, seeds in dropped.items() if seeds}
        if not dropped:
            return None
        which = "; ".join(
            f"{name!r} {'seed' if len(seeds) == 1 else 'seeds'} {_listed(seeds)}" for name, seeds in dropped.items()
        )
        if kept.seeds:
            shown = f"{counted(len(kept.seeds), 'seed')} ({_listed(kept.seeds)})"
            uses = f"the means and tests use {shown}, which every variant has"
        else:
            uses = "no seed is shared by every variant, so nothing is compared: train the variants on the same seeds"
        left = counted(sum(map(len, dropped.values())), "run")
        return f"{left} left out for lacking a partner seed ({which}): {uses}"

    def tier(self, reference: str | None = None) -> int:
        """How far the set goes towards a comparison: 2 when ``reference`` (None: any variant) and another
        variant share :data:`~msmix_core.runs.MIN_PAIRED_SEEDS` seeds (a paired test), 1 when two
        variants share a seed, else 0."""
        seeds = {name: {run.config["seed"] for run in runs} for name, runs in self.variants.items()}
        anchors = list(seeds) if reference is None else [reference] if reference in seeds else []
        if any(len(seeds[a] & seeds[b]) >= MIN_PAIRED_SEEDS for a in anchors for b in seeds if b != a):
            return 2
        return int(any(seeds[a] & seeds[b] for a in seeds for b in seeds if a != b))

    def title(self, varying: Sequence[str] = ()) -> str:
        """One line for a chooser: the ``varying`` settings, the variants × seeds, and the newest run's date."""
        shown = [f"{field}={setting_text(self.settings.get(field))}" for field in varying] or ["same settings"]
        seeds = counted(len({run.config["seed"] for run in self.runs}), "seed")
        return f"{', '.join(shown)} · {counted(len(self.variants), 'variant')} × {seeds} · {self.newest:%Y-%m-%d %H:%M}"

    def table(self) -> pd.DataFrame:
        """:func:`~msmix_core.runs.runs_table` of the set, each run's ``label`` its variant's name."""
        names = {run.id: name for name, runs in self.variants.items() for run in runs}
        table = runs_table(self.runs)
        table["label"] = table["id"].map(names)
        return table


def setting_text(value: Any) -> str:
    """A setting as the notes and choosers write it: floats in short form, None as 'unset'."""
    return "unset" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def counted(count: int, noun: str) -> str:
    """``1 seed``, ``3 seeds``: a count with its noun in the right number (nouns that take an s)."""
    return f"{count} {noun}{'s' * (count != 1)}"


def _listed(values: Iterable[Any]) -> str:
    """Values as a comma-separated list: ``1, 2, 3``."""
    return ", ".join(map(str, values))


def varying_settings(sets: Sequence[ComparisonSet]) -> list[str]:
    """The settings whose values differ between ``sets`` (what tells them apart), in field order."""
    fields = list(dict.fromkeys(field for s in sets for field in s.settings))
    return [f for f in fields if len({repr(s.settings.get(f)) for s in sets}) > 1]


def newest_by_seed(runs: Iterable[Run]) -> dict[str, dict[int, Run]]:
    """The runs per experiment key and seed, a seed run twice under one key counted once with its newest run
    (the later ``created``, then the larger id): a rerun replaces its seed, never adds a second one."""
    by_key: dict[str, dict[int, Run]] = {}
    for run in sorted(runs, key=lambda r: (r.created, r.id)):
        by_key.setdefault(run.experiment_key, {})[run.config["seed"]] = run
    return by_key


def comparable_sets(
    runs: Iterable[Run],
    factor: Collection[str],
    *,
    reference: str | None = None,
    wanted: Sequence[str] | None = None,
    name: Callable[[Run], str] = run_label,
    statuses: Collection[str] = (RunStatus.FINISHED,),
) -> list[ComparisonSet]:
    """Group ``runs`` into sets that differ in ``factor`` alone, the default set first.

    ``factor`` names the compared fields of :func:`~msmix_core.runs.identity.experiment_fields`
    (``"method"`` covers the method and its knobs; ``"method.use_sal"`` one knob). Within a set each
    experiment key is a variant named by ``name`` (its newest run's; a name two keys share gets the
    key appended); a seed run twice under one key counts once, with its newest run. ``wanted``
    (default: every name seen) names what a set lacks (:attr:`ComparisonSet.missing`).

    The default is what a researcher who just trained expects to see: the **newest set that can be
    tested**, one that holds ``reference`` (any variant when None) and another variant on at least
    :data:`~msmix_core.runs.MIN_PAIRED_SEEDS` shared seeds. Sets come in three tiers, each newest
    first: testable, then sets with two variants that share a seed, then the rest. Which variants
    other sets hold does not matter: an older set with more variants does not hide a newer one.
    """
    by_key = newest_by_seed(r for r in runs if r.status in statuses)
    grouped: dict[str, tuple[dict[str, Any], list[str]]] = {}
    for key, seeds in by_key.items():
        settings = settings_fields(max(seeds.values(), key=lambda r: r.created).config, factor)
        grouped.setdefault(fields_key(settings), (settings, []))[1].append(key)

    sets = []
    for settings, keys in grouped.values():
        named: dict[str, str] = {}
        for key in sorted(keys, key=lambda k: max(r.created for r in by_key[k].values())):
            newest = max(by_key[key].values(), key=lambda r: r.created)
            label = name(newest)
            named[f"{label} [{key[:6]}]" if label in named else label] = key
        order = sorted(named, key=lambda n: (n != reference, n))
        variants = {n: [by_key[named[n]][seed] for seed in sorted(by_key[named[n]])] for n in order}
        newest = max(run.created for runs in variants.values() for run in runs)
        sets.append(ComparisonSet(settings, variants, {n: named[n] for n in order}, (), newest))

    seen = list(dict.fromkeys(n for s in sets for n in s.variants)) if wanted is None else list(wanted)
    sets = [
        ComparisonSet(s.settings, s.variants, s.keys, tuple(n for n in seen if n not in s.variants), s.newest)
        for s in sets
    ]
    sets.sort(key=lambda s: (s.tier(reference), s.newest), reverse=True)
    return sets


def left_out(sets: Sequence[ComparisonSet], chosen: ComparisonSet, limit: int = 6) -> list[str]:
    """One line per set not compared: how many runs of which variants, their settings, and why.

    E.g. ``3 'msmix' runs with epochs=3 not compared: no 'msmix -SAL' runs with those settings``.
    More than ``limit`` sets end with a line that counts the rest.
    """
    lines = []
    others = [s for s in sets if s is not chosen]
    for other in others[:limit]:
        diff = [
            f"{field}={setting_text(other.settings.get(field))}"
            for field in dict.fromkeys([*other.settings, *chosen.settings])
            if repr(other.settings.get(field)) != repr(chosen.settings.get(field))
        ]
        runs = ", ".join(f"{len(runs)} {variant!r}" for variant, runs in other.variants.items())
        plural = "s" * (len(other.runs) != 1)
        lacking = [n for n in chosen.variants if n not in other.variants] or list(other.missing)
        if lacking:
            why = f"no {', '.join(repr(n) for n in lacking)} runs with those settings"
        else:
            why = "another set is shown (choose it above)"
        lines.append(f"{runs} run{plural} with {', '.join(diff) or 'other settings'} not compared: {why}")
    if len(others) > limit:
        rest = others[limit:]
        lines.append(
            f"{counted(sum(len(s.runs) for s in rest), 'run')} in {counted(len(rest), 'more set')} not compared"
        )
    return lines
