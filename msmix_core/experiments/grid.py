"""The grid of training runs every command and page trains: backbones × variants × seeds as TrainConfigs.

``msmix train/compare/ablate/sweep/tune`` (through :func:`msmix_core.cli.grid.grid_configs`) and the
Training, Ablation and Sweeps pages build their configs here, so one set of choices gives the same runs
from the command line and from the app.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields, replace
from typing import Any

from msmix_core.errors import MsmixError
from msmix_core.experiments.sweeps import TRAINING_KNOBS
from msmix_core.training import TrainConfig

#: The most runs one grid trains: each is a folder in the store and minutes of training.
MAX_RUNS = 10_000

#: What a grid varies itself, not set through ``training``.
PER_RUN = frozenset({"backbone", "method", "label", "seed", "backbone_kwargs", "method_kwargs"})

#: A grid's variants: label -> (method, knobs). A knob of :data:`~msmix_core.experiments.sweeps.TRAINING_KNOBS`
#: (``lr``, ...) sets that training field of the variant's runs; the others are the method's knobs.
Variants = Mapping[str, tuple[str, Mapping[str, Any]]]


def config_grid(
    variants: Variants,
    seeds: Sequence[int],
    backbones: Sequence[str] = (TrainConfig.backbone,),
    *,
    training: Mapping[str, Any] | None = None,
    method_knobs: Mapping[str, Mapping[str, Any]] | None = None,
    backbone_knobs: Mapping[str, Mapping[str, Any]] | None = None,
    seed_major: bool = False,
) -> list[TrainConfig]:
    """One TrainConfig per backbone × variant × seed, checked before anything trains.

    ``training`` sets the TrainConfig fields every run shares (``recipe``, ``epochs``, ``lr``... None
    leaves a field to the recipe); ``method_knobs`` gives each method's knobs (a variant's own knobs
    win) and ``backbone_knobs`` each backbone's. Runs come backbone by backbone, each variant's seeds
    in turn, or with ``seed_major`` seed by seed (every variant has a result early, as the pages want).
    Refuses more than :data:`MAX_RUNS` runs and a seed given twice.
    """
    seeds = list(seeds)
    runs = len(backbones) * len(variants) * len(seeds)
    if runs > MAX_RUNS:
        raise MsmixError(
            f"this grid has {runs:,} runs (backbones × variants × seeds), more than {MAX_RUNS:,}: split it"
        )
    repeated = sorted({seed for seed in seeds if seeds.count(seed) > 1})
    if repeated:
        raise MsmixError(f"seeds: {repeated} given more than once; each seed trains one run, so give each seed once")
    per_run = sorted(PER_RUN & set(training or {}))
    if per_run:
        raise MsmixError(f"training {per_run}: a grid sets these per run; give them as backbones, variants or seeds")
    unknown = sorted(set(training or {}) - {f.name for f in fields(TrainConfig)})
    if unknown:
        raise MsmixError(f"training {unknown}: not TrainConfig fields")
    base = TrainConfig(**(training or {}))
    method_knobs, backbone_knobs = method_knobs or {}, backbone_knobs or {}

    def config(backbone: str, label: str, seed: int) -> TrainConfig:
        method, knobs = variants[label]
        own = {k: v for k, v in knobs.items() if k not in TRAINING_KNOBS}
        training_knobs = {k: v for k, v in knobs.items() if k in TRAINING_KNOBS}
        return replace(
            base,
            backbone=backbone,
            method=method,
            label=label,
            backbone_kwargs=dict(backbone_knobs.get(backbone, {})),
            method_kwargs={**method_knobs.get(method, {}), **own},
            seed=int(seed),
            **training_knobs,
        )

    if seed_major:
        return [config(b, label, seed) for b in backbones for seed in seeds for label in variants]
    return [config(b, label, seed) for b in backbones for label in variants for seed in seeds]
