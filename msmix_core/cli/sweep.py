"""``msmix sweep``: a grid over one or two knobs of a method × seeds, and its metric-against-knob plot."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from msmix_core.cli.common import check_output
from msmix_core.cli.grid import add_training_options, grid_configs, parse_knobs, run_grid
from msmix_core.errors import MsmixError
from msmix_core.experiments.sweeps import format_value, knob_marks, knob_value, sweep_table, sweep_variants
from msmix_core.runs import Run
from msmix_core.training import TrainConfig


def add_sweep(p: argparse.ArgumentParser) -> None:
    add_training_options(p)
    p.add_argument(
        "--knob",
        action="append",
        required=True,
        metavar="METHOD.KNOB=VALUES",
        help="the values of a knob: LOW:HIGH:COUNT (evenly spaced, both ends included) or A,B,C; once or twice, "
        "e.g. --knob msmix.threshold=0.1:0.9:5 --knob msmix.alpha=0.5,1,2",
    )
    p.add_argument("--backbones", nargs="+", default=[TrainConfig.backbone], help="default %(default)s")
    p.add_argument(
        "--plot",
        metavar="FILE.html",
        help="also draw the first --metrics (test) against the first knob, mean ± std over seeds, one line per "
        "backbone and value of the second knob, as a self-contained HTML page",
    )
    p.set_defaults(handler=cmd_sweep)


def cmd_sweep(args: argparse.Namespace) -> int:
    method, variants = sweep_variants(args.knob)
    swept = next(iter(variants.values()))
    fixed = parse_knobs(args.set, [method], "--set")[method]
    clash = sorted(set(fixed) & set(swept))
    if clash:
        raise MsmixError(f"--set {clash}: these knobs are swept by --knob; drop them from --set")
    configs = grid_configs(args, args.backbones, {label: (method, knobs) for label, knobs in variants.items()})
    if args.plot is not None:
        check_output(args.plot, "--plot", (".html",))

    def plot(runs: list[Run], metrics: list[str]) -> None:
        """The first metric against the first knob, one line per backbone and value of the second knob."""
        from msmix_core.figures.sweeps import sweep_chart  # imported here: it loads Optuna, slow to import

        first, *rest = swept
        lines: dict[str, list[Run]] = {}
        for run in runs:
            parts = [run.config["backbone"], *(f"{k}={format_value(knob_value(run.config, k))}" for k in rest)]
            lines.setdefault(" · ".join(parts), []).append(run)
        tables = {name: sweep_table(group, first, metrics[0]) for name, group in lines.items()}
        path = Path(args.plot)
        path.parent.mkdir(parents=True, exist_ok=True)
        sweep_chart(tables, first, metrics[0], knob_marks(method, first)).write_html(path, include_plotlyjs=True)
        print(f"wrote {path}", file=sys.stderr)

    return run_grid(args, configs, baseline=None, knob_values=variants, then=plot if args.plot else None)


PARSERS = {"sweep": add_sweep}
