"""Sweeps: a grid over one or two knobs of a mixing method, checked against the registry's declaration.

``msmix sweep --knob msmix.threshold=0.1:0.9:5 --knob msmix.alpha=0.5,1,2`` trains one variant per
combination of knob values (and per seed); this module turns the ``--knob`` specs into those
variants, each labelled with its values (``msmix threshold=0.1 alpha=0.5``), so the runs can be
found and tabulated later like any other. Every value is checked with the knob's declared range
(:func:`msmix_core.mixing.registry.method_knobs`) before anything trains.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from msmix_core.errors import MsmixError
from msmix_core.mixing.registry import Knob, method_knobs
from msmix_core.runs import Run, RunStatus, newest_by_seed, settings_fields
from msmix_core.runs.identity import fields_key
from msmix_core.runs.sets import counted
from msmix_core.training import TrainConfig
from msmix_core.training.config import MAX_LR, MAX_WEIGHT_DECAY

#: How many knobs one sweep may vary (a table of metric against one or two knob values).
MAX_SWEEP_KNOBS = 2

_EXAMPLE = "e.g. --knob msmix.threshold=0.1:0.9:5 or --knob msmix.alpha=0.5,1,2"


def parse_value(text: str) -> Any:
    """A knob value written on the command line: JSON (numbers, true/false/null, lists), Python's
    True/False/None, or else the text itself."""
    python = {"True": True, "False": False, "None": None}
    if text in python:
        return python[text]
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _number(where: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise MsmixError(f"{where}: {text!r} is not a number; {_EXAMPLE}")
    return value


#: The most values one knob of a sweep may take: each is a run per backbone and seed.
MAX_VALUES = 1000
#: The most combinations of the swept knobs' values (each a variant trained per backbone and seed).
MAX_COMBINATIONS = 10_000


def _range(where: str, text: str, name: str, knob: Knob) -> list[Any]:
    """``LOW:HIGH:COUNT``: COUNT evenly spaced values from LOW to HIGH, both included."""
    parts = text.split(":")
    if len(parts) != 3:
        raise MsmixError(f"{where}: a range is LOW:HIGH:COUNT; {_EXAMPLE}")
    if knob.kind == "bool":
        raise MsmixError(f"{where}: {name} is true or false, not a range: write {name}=true,false")
    low, high = _number(where, parts[0]), _number(where, parts[1])
    count = _number(where, parts[2])
    if count != int(count) or not 2 <= count <= MAX_VALUES:
        raise MsmixError(f"{where}: COUNT must be an integer from 2 to {MAX_VALUES}, got {parts[2]!r}; {_EXAMPLE}")
    values = [float(f"{v:.12g}") for v in np.linspace(low, high, int(count))]  # 0.3, not 0.30000000000000004
    if knob.kind == "int":
        if any(v != int(v) for v in values):
            raise MsmixError(f"{where}: {name} is an integer knob and this range gives {values}: pick ends")
        return [int(v) for v in values]
    return values


def _values(where: str, name: str, knob: Knob, text: str, full_name: str) -> list[Any]:
    """The values ``text`` gives a knob (a range or a list), each checked against its declaration."""
    if ":" in text:
        values = _range(where, text, name, knob)
    else:
        values = [parse_value(item.strip()) for item in text.split(",")]
        if knob.kind == "float":  # 1 means 1.0 for a float knob; the label shows it as written
            values = [float(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in values]
    for value in values:
        if not knob.accepts(value):
            raise MsmixError(f"{where}: {value!r} is not valid; {full_name} must be {knob.describe()}")
    if len(set(map(repr, values))) != len(values):
        raise MsmixError(f"{where}: a value is given twice; give each value once")
    return values


def parse_knob_spec(spec: str) -> tuple[str, str, list[Any]]:
    """``METHOD.KNOB=LOW:HIGH:COUNT`` or ``METHOD.KNOB=A,B,C`` -> ``(method, knob, values)``, all checked."""
    name, sep, text = spec.partition("=")
    method, dot, knob_name = name.partition(".")
    if not (sep and dot and method and knob_name and text):
        raise MsmixError(f"--knob {spec!r}: write METHOD.KNOB=LOW:HIGH:COUNT or METHOD.KNOB=A,B,C; {_EXAMPLE}")
    try:
        knobs = method_knobs(method)
    except MsmixError as exc:
        raise MsmixError(f"--knob {spec!r}: {exc}") from None
    if knob_name not in knobs:
        raise MsmixError(f"--knob {spec!r}: {method} has no knob {knob_name!r}; its knobs are {sorted(knobs)}")
    values = _values(f"--knob {spec!r}", knob_name, knobs[knob_name], text, f"{method}.{knob_name}")
    return method, knob_name, values


def format_value(value: Any) -> str:
    """A knob value as labels show it: ``0.1``, ``2``, ``true``."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def sweep_variants(specs: Sequence[str]) -> tuple[str, dict[str, dict[str, Any]]]:
    """The method and one variant per combination of the specs' values: ``label -> {knob: value}``.

    Labels read ``METHOD KNOB=VALUE [KNOB=VALUE]``, in the order the specs are given.
    """
    if not 1 <= len(specs) <= MAX_SWEEP_KNOBS:
        raise MsmixError(f"--knob: give one or two knobs to sweep, got {len(specs)}; {_EXAMPLE}")
    parsed = [parse_knob_spec(spec) for spec in specs]
    methods = sorted({method for method, _, _ in parsed})
    if len(methods) > 1:
        raise MsmixError(f"--knob: a sweep varies the knobs of one method, got {methods}: sweep each method alone")
    names = [name for _, name, _ in parsed]
    if len(set(names)) != len(names):
        raise MsmixError(f"--knob {names[0]}: given twice; list all its values in one --knob")
    combinations = math.prod(len(values) for _, _, values in parsed)
    if combinations > MAX_COMBINATIONS:  # refused before a million labels are built
        raise MsmixError(
            f"--knob: {combinations:,} combinations of values, more than {MAX_COMBINATIONS:,}: sweep fewer"
        )
    variants = {}
    for combination in itertools.product(*(values for _, _, values in parsed)):
        knobs = dict(zip(names, combination, strict=True))
        label = " ".join([methods[0], *(f"{k}={format_value(v)}" for k, v in knobs.items())])
        variants[label] = knobs
    return methods[0], variants


#: Training knobs a sweep can vary besides the method's (TrainConfig fields, stored at the top of a run's
#: config); their ranges as the trainer checks them.
TRAINING_KNOBS: dict[str, Knob] = {
    "lr": Knob(default=None, kind="float", low=0.0, low_inclusive=False, high=MAX_LR),
    "weight_decay": Knob(default=None, kind="float", low=0.0, high=MAX_WEIGHT_DECAY),
    "batch_size": Knob(default=None, kind="int", low=1),
}

#: Published values to mark next to a knob's default: the MS-Mix paper's text says δ = 0.2, while its
#: released code (msmix's default) uses 0.4.
PAPER_VALUES: dict[tuple[str, str], float] = {("msmix", "threshold"): 0.2}


def knob_declaration(method: str, knob: str) -> Knob:
    """The declared range of a method knob or a training knob (:data:`TRAINING_KNOBS`)."""
    if knob in TRAINING_KNOBS:
        return TRAINING_KNOBS[knob]
    knobs = method_knobs(method)
    if knob not in knobs:
        raise MsmixError(f"{method} has no knob {knob!r}; its knobs are {sorted(knobs)} and {sorted(TRAINING_KNOBS)}")
    return knobs[knob]


def knob_value(config: dict[str, Any], knob: str) -> Any:
    """The value a stored run trained with: its config's, or the knob's declared default when it set none
    (None for a knob its method does not have)."""
    if knob in TRAINING_KNOBS:
        return config.get(knob)
    kwargs = config.get("method_kwargs") or {}
    if knob in kwargs:
        return kwargs[knob]
    try:
        declared = method_knobs(str(config.get("method")))
    except MsmixError:  # a method msmix no longer has
        return None
    return declared[knob].default if knob in declared else None


def knob_field(knob: str) -> str:
    """The knob's name among :func:`~msmix_core.runs.experiment_fields`: ``lr``, or ``method.threshold``."""
    return knob if knob in TRAINING_KNOBS else f"method.{knob}"


def knob_marks(method: str, knob: str, base: TrainConfig | None = None) -> dict[str, float]:
    """Values worth a line on a sweep's chart: the default (a training knob's from ``base``'s recipe), the paper's."""
    default = getattr(base or TrainConfig(method=method), knob) if knob in TRAINING_KNOBS else None
    if default is None:
        default = knob_declaration(method, knob).default
    marks = {} if default is None or isinstance(default, bool) else {"default": float(default)}
    if (method, knob) in PAPER_VALUES:
        marks = {"default (release code)": marks["default"], "paper": PAPER_VALUES[(method, knob)]}
    return marks


def knob_variants(method: str, knob: str, values: Sequence[Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """One grid variant per value (:func:`~msmix_core.experiments.grid.config_grid`), labelled
    ``METHOD KNOB=VALUE`` like ``msmix sweep``'s runs; ``knob`` may be a method's or a training knob."""
    declared = knob_declaration(method, knob)
    variants = {}
    for value in values:
        if not declared.accepts(value):
            raise MsmixError(f"{value!r} is not valid for {knob}: it must be {declared.describe()}")
        variants[f"{method} {knob}={format_value(value)}"] = (method, {knob: value})
    if len(variants) != len(values):
        raise MsmixError(f"{knob}: a value is given more than once; give each value once")
    return variants


def parse_values(method: str, knob: str, text: str) -> list[Any]:
    """Values written as on the command line (``LOW:HIGH:COUNT`` or ``A,B,C``), checked like ``--knob``'s."""
    return _values(f"{knob} values {text!r}", knob, knob_declaration(method, knob), text.strip(), knob)


def sweep_table(runs: Iterable[Run], knob: str, metric: str, split: str = "test") -> pd.DataFrame:
    """``metric`` against the knob's value over finished runs: one row per value with mean, std (MMSA's
    population std over seeds) and n; runs without the knob or the metric are left out.

    The runs at one value must be one experiment (the same :attr:`Run.experiment_key`): runs trained
    otherwise are another sweep (:func:`stored_sweeps`), never averaged into this one. A seed run twice
    at one value (an ablation's full MS-Mix and a sweep's point at the default share a key) counts
    once, with its newest run, as in every comparison (:func:`~msmix_core.runs.newest_by_seed`).
    """
    finished = newest_by_seed(run for run in runs if run.status == RunStatus.FINISHED)
    rows = []
    for run in (run for seeds in finished.values() for run in seeds.values()):
        value = knob_value(run.config, knob)
        score = run.metrics.get(split, {}).get(metric)
        if value is not None and score is not None and math.isfinite(score):
            rows.append({knob: value, metric: score, "experiment": run.experiment_key})
    frame = pd.DataFrame(rows, columns=[knob, metric, "experiment"])
    keys = frame.groupby(knob)["experiment"].unique()
    mixed = keys[keys.map(len) > 1]
    if not mixed.empty:
        raise MsmixError(
            f"the runs at {knob}={format_value(mixed.index[0])} were trained differently (experiments "
            f"{', '.join(mixed.iloc[0])}): tabulate one sweep's runs (stored_sweeps) at a time"
        )
    table = frame.groupby(knob).agg(
        mean=(metric, "mean"),
        std=(metric, lambda s: s.std(ddof=0)),
        n=(metric, "size"),
        experiment=("experiment", "first"),
    )
    return table.reset_index().sort_values(knob, kind="stable").reset_index(drop=True)


def stored_sweeps(runs: Iterable[Run], method: str, knob: str, dataset: str) -> dict[str, list[Run]]:
    """Finished runs of ``method`` on ``dataset`` grouped into sweeps of ``knob``: runs whose settings
    (:func:`~msmix_core.runs.settings_fields`) differ only in the knob's value and the seed, with at least
    two values. A run at the knob's default belongs to a sweep whatever its label (a Training or ablation
    run of full MS-Mix is the default's point), an ablation variant does not (its switch is another
    setting). Named by backbone, epochs, size and the newest run's date."""
    groups: dict[str, list[Run]] = {}
    for run in runs:
        config = run.config
        mine = run.status == RunStatus.FINISHED and config.get("method") == method and config.get("dataset") == dataset
        if mine and knob_value(config, knob) is not None:
            groups.setdefault(fields_key(settings_fields(config, [knob_field(knob)])), []).append(run)
    sweeps = {}
    for members in groups.values():
        values = {repr(knob_value(run.config, knob)) for run in members}
        if len(values) < 2:
            continue
        newest, seeds = max(members, key=lambda r: (r.created, r.id)), {run.config["seed"] for run in members}
        name = (
            f"{newest.config['backbone']}, {newest.config.get('epochs')} epochs: {len(values)} values × "
            f"{counted(len(seeds), 'seed')} ({newest.created:%Y-%m-%d %H:%M})"
        )
        sweeps[name if name not in sweeps else f"{name} #{len(sweeps) + 1}"] = members
    return sweeps
