"""``msmix methods``: the mixing methods and their knobs (what ``--set`` takes)."""

from __future__ import annotations

import argparse

from msmix_core.experiments.sweeps import format_value
from msmix_core.mixing.registry import describe_methods


def add_methods(p: argparse.ArgumentParser) -> None:
    p.set_defaults(handler=cmd_methods)


def cmd_methods(args: argparse.Namespace) -> int:
    for name, entry in describe_methods().items():
        print(f"{name} ({entry['stage']}): {entry['summary']}")
        for knob, declared in entry["knobs"].items():
            print(f"  {knob}={format_value(declared.default)}  {declared.describe()}; {declared.doc}")
    return 0


PARSERS = {"methods": add_methods}
