"""``msmix partners``: each sample's SASS partners over a whole split."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from msmix_core.cli.common import check_output, echo, load_source, positive_int, seed_value
from msmix_core.data.schema import SPLITS
from msmix_core.errors import MsmixError
from msmix_core.limits import check_size
from msmix_core.mixing.knobs import THRESHOLD
from msmix_core.training import TrainConfig


def add_partners(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="synthetic", help="as for train (default %(default)s)")
    p.add_argument("--split", choices=list(SPLITS), default="train", help="default %(default)s")
    p.add_argument("--backbone", default=TrainConfig.backbone, help="whose latents SASS compares (default %(default)s)")
    p.add_argument(
        "--epochs", type=int, default=0, help="train the backbone with msmix this long first; 0: untrained (default 0)"
    )
    p.add_argument(
        "--seed", type=seed_value, default=TrainConfig.seed, help="seed of the backbone (default %(default)s)"
    )
    p.add_argument("--threshold", type=float, default=THRESHOLD.default, help="SASS's δ (default %(default)s)")
    p.add_argument("--top-k", type=positive_int, default=5, help="partners listed per sample (default %(default)s)")
    p.add_argument("--block-size", type=positive_int, default=2048, help="tile size of the search; memory ~ its square")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--show", type=int, default=10, help="rows printed (default %(default)s; --out has them all)")
    p.add_argument("--out", default=None, metavar="FILE.csv", help="write one row per sample to FILE.csv")
    p.set_defaults(handler=cmd_partners)


def cmd_partners(args: argparse.Namespace) -> int:
    if args.out is not None:
        check_output(args.out, "--out", (".csv",))
    from msmix_core.analysis.latents import encode_split, fit_encoder  # UMAP and the trainer: only when asked
    from msmix_core.analysis.partners import candidate_partners, partner_table

    dataset = load_source(args.dataset)
    size = len(dataset.splits[args.split])
    if args.top_k >= size:
        raise MsmixError(
            f"--top-k {args.top_k}: the {args.split} split has {size} samples, so at most {size - 1} partners"
        )
    tile = min(args.block_size, size)
    check_size(
        3 * 4 * tile * tile, f"--block-size {args.block_size} ({tile}² similarities a tile)", "give a smaller one"
    )
    model, _ = fit_encoder(dataset, args.backbone, seed=args.seed, epochs=args.epochs, device=args.device)
    split = dataset.splits[args.split]
    pool = candidate_partners(
        encode_split(model, dataset, args.split),
        args.threshold,
        labels=torch.from_numpy(split.labels),
        block_size=args.block_size,
        top_k=args.top_k,
    )
    table = partner_table(split, pool)
    encoder = f"trained {args.epochs} epochs" if args.epochs else "untrained"
    candidates = int(table["candidates"].sum())
    opposite = int(table["contradictory"].sum()) / candidates if candidates else 0.0
    echo(f"{dataset.name} {args.split}, {len(table)} samples, {args.backbone} latents ({encoder}, seed {args.seed}):")
    print(
        f"SASS candidates at δ = {args.threshold:g}: {table['candidates'].mean():.1f} per sample, none for "
        f"{int((table['candidates'] == 0).sum())} samples; {100 * opposite:.1f} % of them of the opposite sentiment"
    )
    echo(table.head(args.show).to_string(index=False, float_format="{:.3f}".format))
    if args.out is not None:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out, index=False)
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


PARSERS = {"partners": add_partners}
