"""``msmix train``, ``compare`` and ``ablate``: one method, a methods × backbones grid, MS-Mix's ablations."""

from __future__ import annotations

import argparse

from msmix_core.cli.grid import add_training_options, grid_configs, run_grid
from msmix_core.errors import MsmixError
from msmix_core.experiments import ABLATIONS, DEFAULT_ABLATIONS, FULL_LABEL, ablation_variants
from msmix_core.training import TrainConfig

#: The variants ``msmix ablate`` runs by default: each MS-Mix component off in turn, then all three.
DEFAULT_ABLATE_VARIANTS: tuple[str, ...] = (*DEFAULT_ABLATIONS, "no-parts")


def add_train(p: argparse.ArgumentParser) -> None:
    add_training_options(p)
    p.add_argument("--backbone", default=TrainConfig.backbone, help="default %(default)s")
    p.add_argument("--method", default=TrainConfig.method, help="default %(default)s")
    p.add_argument("--label", default=None, help="name of these runs in tables (default: the method)")
    p.set_defaults(handler=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    variants = {args.label or args.method: (args.method, {})}
    return run_grid(args, grid_configs(args, [args.backbone], variants), baseline=None)


def add_compare(p: argparse.ArgumentParser) -> None:
    add_training_options(p)
    p.add_argument("--backbones", nargs="+", default=["late_fusion", "tfn"], help="default %(default)s")
    p.add_argument("--methods", nargs="+", default=["none", "mixup", "msmix"], help="default %(default)s")
    p.add_argument("--baseline", default="none", help="method each one is tested against (default %(default)s)")
    p.set_defaults(handler=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> int:
    if args.baseline not in args.methods:
        raise MsmixError(f"--baseline {args.baseline!r} is not among --methods {args.methods}: add it or pick another")
    variants = {method: (method, {}) for method in args.methods}
    return run_grid(args, grid_configs(args, args.backbones, variants), baseline=args.baseline)


def add_ablate(p: argparse.ArgumentParser) -> None:
    add_training_options(p)
    p.add_argument("--backbones", nargs="+", default=[TrainConfig.backbone], help="default %(default)s")
    p.add_argument(
        "--variants",
        nargs="+",
        choices=list(ABLATIONS),
        default=list(DEFAULT_ABLATE_VARIANTS),
        metavar="VARIANT",
        help=f"of {list(ABLATIONS)}; 'full' is the baseline and always runs (default %(default)s)",
    )
    p.set_defaults(handler=cmd_ablate)


def cmd_ablate(args: argparse.Namespace) -> int:
    chosen = dict.fromkeys(["full", *args.variants])  # full MS-Mix is every test's baseline
    return run_grid(args, grid_configs(args, args.backbones, ablation_variants(list(chosen))), baseline=FULL_LABEL)


PARSERS = {"train": add_train, "compare": add_compare, "ablate": add_ablate}
