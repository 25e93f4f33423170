"""The one grid builder: backbones × variants × seeds as TrainConfigs, for the CLI and the pages alike."""

import pytest

from msmix_core.cli import build_parser
from msmix_core.cli.grid import grid_configs
from msmix_core.errors import MsmixError
from msmix_core.experiments import MAX_RUNS, config_grid
from msmix_core.training import RECIPES


def test_a_grid_is_backbones_by_variants_by_seeds_with_shared_training_and_knobs():
    variants = {"none": ("none", {}), "msmix d0.2": ("msmix", {"threshold": 0.2}), "msmix lr": ("msmix", {"lr": 0.01})}
    configs = config_grid(
        variants,
        [3, 4],
        ["late_fusion", "tfn"],
        training={"epochs": 2, "lr": None},
        method_knobs={"msmix": {"threshold": 0.6, "alpha": 1.0}},
        backbone_knobs={"tfn": {"dropout": 0.3}},
    )
    assert [(c.backbone, c.label, c.seed) for c in configs[:4]] == [
        ("late_fusion", "none", 3),
        ("late_fusion", "none", 4),
        ("late_fusion", "msmix d0.2", 3),
        ("late_fusion", "msmix d0.2", 4),
    ]
    assert len(configs) == 12 and {c.epochs for c in configs} == {2}
    by_label = {c.label: c for c in configs if c.backbone == "tfn" and c.seed == 3}
    assert by_label["none"].method_kwargs == {} and by_label["none"].backbone_kwargs["dropout"] == 0.3
    assert by_label["msmix d0.2"].method_kwargs == {"threshold": 0.2, "alpha": 1.0}  # the variant's knob wins
    assert by_label["msmix lr"].lr == 0.01 and "lr" not in by_label["msmix lr"].method_kwargs  # a training knob
    assert by_label["none"].lr == RECIPES["mmsa"].fields["lr"]  # None: the recipe's
    seed_major = config_grid(variants, [3, 4], seed_major=True)
    assert [(c.seed, c.label) for c in seed_major[:3]] == [(3, "none"), (3, "msmix d0.2"), (3, "msmix lr")]


def test_a_grid_refuses_too_many_runs_a_repeated_seed_and_per_run_fields_as_training():
    with pytest.raises(MsmixError, match="more than 10,000: split it"):
        config_grid({"none": ("none", {})}, range(MAX_RUNS + 1))
    with pytest.raises(MsmixError, match=r"seeds: \[1\] given more than once"):
        config_grid({"none": ("none", {})}, [1, 2, 1])
    with pytest.raises(MsmixError, match=r"training \['seed'\]"):
        config_grid({"none": ("none", {})}, [1], training={"seed": 5})
    with pytest.raises(MsmixError, match=r"training \['epoch'\]: not TrainConfig fields"):
        config_grid({"none": ("none", {})}, [1], training={"epoch": 5})


def test_the_command_line_and_the_pages_build_the_same_grid():
    argv = ["compare", "--methods", "none", "msmix", "--seeds", "1", "2", "--epochs", "3", "--set", "msmix.alpha=1"]
    args = build_parser().parse_args(argv)
    variants = {m: (m, {}) for m in args.methods}
    cli = grid_configs(args, args.backbones, variants)
    knobs = {"msmix": {"alpha": 1.0}}
    assert len(cli) == 4 * len(args.backbones)
    assert cli == config_grid(variants, [1, 2], args.backbones, training={"epochs": 3}, method_knobs=knobs)
