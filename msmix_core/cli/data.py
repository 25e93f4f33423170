"""``msmix convert``: an MMSA feature pickle or the MOSI CSVs to the safe .npz format."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from msmix_core.cli.common import echo, load_source
from msmix_core.data.mmsa import load_mmsa
from msmix_core.data.mosi_utterance import PREFIX as MOSI_PREFIX
from msmix_core.data.npz import save_npz
from msmix_core.data.schema import SPLITS
from msmix_core.errors import MsmixError


def add_convert(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "source",
        help="an MMSA .pkl file (aligned_50.pkl, unaligned_50.pkl, unaligned_39.pkl) or mosi-utterance:DIR[?options]",
    )
    p.add_argument("destination", help="the .npz file to write")
    p.add_argument("--family", choices=["mosi", "mosei", "sims"], default=None, help="default: detected")
    p.add_argument("--force", action="store_true", help="replace the destination when it exists")
    p.set_defaults(handler=cmd_convert)


def check_destination(source: str, destination: str, force: bool = False) -> Path:
    """The path ``convert`` may write: a new .npz file (or an existing one with ``force``), never the source.

    A link to the source or another spelling of it counts as the source (resolved paths, samefile).
    """
    path, source_path = Path(destination), Path(source)
    if path.is_dir():
        raise MsmixError(f"{path} is a folder: give the .npz file to write, e.g. {path / 'converted.npz'}")
    same = path.resolve() == source_path.resolve()
    if path.exists() and source_path.exists():
        same = same or os.path.samefile(path, source_path)
    if same:
        raise MsmixError(f"{path} is the source itself: write the .npz to another file")
    if path.suffix.lower() != ".npz":
        raise MsmixError(f"{path}: the destination must end in .npz (train and the app read a dataset by its suffix)")
    if path.exists() and not force:
        raise MsmixError(f"{path} exists: pass --force to replace it, or choose another name")
    return path


def cmd_convert(args: argparse.Namespace) -> int:
    if Path(args.source).suffix.lower() == ".npz":
        raise MsmixError(f"convert takes a .pkl; {args.source} is already .npz: train on it as it is (--dataset)")
    destination = check_destination(args.source, args.destination, args.force)
    if args.source.startswith(MOSI_PREFIX) or Path(args.source).is_dir():  # a bare MOSI folder gets the hint
        dataset = load_source(args.source)
    else:
        dataset = load_mmsa(args.source, dataset=args.family)
    save_npz(dataset, destination)
    sizes = ", ".join(f"{s} {len(dataset.splits[s])}" for s in SPLITS)
    echo(f"wrote {args.destination}: {dataset.name} ({dataset.metrics}), {sizes}, dims {dataset.dims}")
    return 0


PARSERS = {"convert": add_convert}
