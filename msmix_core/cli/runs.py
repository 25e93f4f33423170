"""``msmix runs list|show|diff|tag|note|delete``: browse and annotate the run store.

Torch-free, like the run store itself: listing 2,000 runs must not pay for importing the trainer.
"""

from __future__ import annotations

import argparse
import json

import pandas as pd

from msmix_core.cli.common import RUNS_DIR_HELP, echo
from msmix_core.errors import MsmixError
from msmix_core.runs import RunStatus, RunStore
from msmix_core.runs.annotations import read_note, read_tags, tag, write_note
from msmix_core.runs.browse import browse_table, config_diff, filter_table, group_table


def add_runs(runs: argparse.ArgumentParser) -> None:
    """``msmix runs ACTION``: each action's options are declared beside its handler (``_ACTIONS``)."""
    actions = runs.add_subparsers(dest="runs_command", required=True, metavar="ACTION")
    for name, (add_options, help_text) in _ACTIONS.items():
        p = actions.add_parser(name, help=help_text)
        p.add_argument("--runs-dir", default=None, help=RUNS_DIR_HELP)
        add_options(p)


#: The columns ``msmix runs list`` prints (metrics: those the runs have), and how long a note may be there.
LIST_COLUMNS = ["id", "status", "dataset", "backbone", "label", "seed", "epochs", "best_epoch", "experiment", "tags"]
LIST_NOTE_CHARS = 40


def _list_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="keep runs whose column KEY is VALUE (* wildcards; !=, <, <=, >, >= for numbers and dates; "
        "tags=T: tagged T); repeat to narrow. KEY: any column, e.g. label, test_MAE, method_kwargs.alpha",
    )
    p.add_argument(
        "--group-by",
        default=None,
        metavar="COLUMNS",
        help="mean ± std over seeds of the finished runs per group; 'experiment' (runs trained alike but "
        "for the seed) or comma-separated columns, e.g. label,epochs",
    )
    p.set_defaults(handler=cmd_runs_list)


def cmd_runs_list(args: argparse.Namespace) -> int:
    store = RunStore(args.runs_dir)
    runs, damaged = store.scan()
    table = filter_table(browse_table(runs, paths=True), args.where)
    if table.empty:
        echo(f"no runs in {store.root}" + (f" where {' and '.join(args.where)}" if args.where else ""))
    elif args.group_by:
        grouped = group_table(table, [c.strip() for c in args.group_by.split(",")], _printed_metrics(table))
        echo(grouped.to_string(index=False))
    else:
        cut = LIST_NOTE_CHARS - 1
        table = table.assign(note=table["note"].map(lambda n: n if len(n) <= LIST_NOTE_CHARS else n[:cut] + "…"))
        columns = [*LIST_COLUMNS, *(f"test_{m}" for m in _printed_metrics(table)), "note"]
        echo(table[columns].to_string(index=False))
    for path, reason in damaged:
        echo(f"damaged run folder {path}: {reason}", err=True)
    return 0


def _printed_metrics(table: pd.DataFrame) -> list[str]:
    return [m for m in ("MAE", "Corr") if f"test_{m}" in table.columns]


def _show_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_id", metavar="RUN_ID")
    p.set_defaults(handler=cmd_runs_show)


def cmd_runs_show(args: argparse.Namespace) -> int:
    run = RunStore(args.runs_dir).load(args.run_id)
    echo(f"run {run.id}: {run.status}" + (f" ({run.error})" if run.error else ""))
    echo(f"folder: {run.path}\nexperiment: {run.experiment_key}\ntags: {', '.join(read_tags(run.path))}")
    note = read_note(run.path)
    echo("note: " + note.replace("\n", "\n  ") if note else "note:")
    print(json.dumps({"config": run.config, "best_epoch": run.best_epoch, "metrics": run.metrics}, indent=2))
    if run.history:
        echo(_curve(run.history).to_string(index=False, float_format="{:.4f}".format))
    return 0


def _diff_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_ids", nargs="+", metavar="RUN_ID", help="two runs or more")
    p.add_argument("--all", action="store_true", help="also the fields that are the same")
    p.set_defaults(handler=cmd_runs_diff)


def cmd_runs_diff(args: argparse.Namespace) -> int:
    store = RunStore(args.runs_dir)
    diff = config_diff([store.load(run_id) for run_id in args.run_ids], paths=True)
    shown = diff if args.all else diff[diff["differs"]]
    echo(shown.drop(columns="differs").to_string() if not shown.empty else "the runs' configs are the same")
    return 0


def _tag_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_id", metavar="RUN_ID")
    p.add_argument("tags", nargs="+", metavar="TAG", help="one word each (no spaces or commas)")
    p.add_argument("--remove", action="store_true", help="remove these tags instead")
    p.set_defaults(handler=cmd_runs_tag)


def cmd_runs_tag(args: argparse.Namespace) -> int:
    run = RunStore(args.runs_dir).load(args.run_id)
    tags = tag(run.path, add=[] if args.remove else args.tags, remove=args.tags if args.remove else [])
    echo(f"{run.id}: tags {', '.join(tags) or '(none)'}")
    return 0


def _note_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_id", metavar="RUN_ID")
    p.add_argument("text", nargs="*", metavar="TEXT", help="the note (replaces the old one)")
    p.set_defaults(handler=cmd_runs_note)


def cmd_runs_note(args: argparse.Namespace) -> int:
    run = RunStore(args.runs_dir).load(args.run_id)
    note = write_note(run.path, " ".join(args.text))
    echo(f"{run.id}: " + (f"note saved ({len(note)} characters)" if note else "note removed"))
    return 0


def _curve(history: list[dict]) -> pd.DataFrame:
    """The learning curve of a run's history; a record without some field (not the trainer's) shows it empty."""
    rows = []
    for record in history:
        losses = record.get("losses") if isinstance(record.get("losses"), dict) else {}
        row = {"epoch": record.get("epoch")} | {
            f"{split}_loss": losses.get(split) for split in ("train", "valid", "test")
        }
        rows.append(row | {"seconds": record.get("wall_time")})
    return pd.DataFrame(rows)


def _delete_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_ids", nargs="+", metavar="RUN_ID")
    p.add_argument("--force", action="store_true", help="also delete runs that are still running")
    p.set_defaults(handler=cmd_runs_delete)


def cmd_runs_delete(args: argparse.Namespace) -> int:
    store = RunStore(args.runs_dir)
    for run_id in args.run_ids:  # refuse a typo or a live run before deleting anything
        run = store.load(run_id)
        if run.status == RunStatus.RUNNING and not args.force:
            who = f" (process {run.process['pid']} on {run.process['host']})" if run.process else ""
            raise MsmixError(f"run {run_id} is still running{who}: stop it first, or pass --force to delete it anyway")
    for run_id in args.run_ids:
        store.delete(run_id)
        echo(f"deleted {run_id}")
    return 0


#: Each ``msmix runs`` action: what adds its options and handler, and its line in ``msmix runs --help``.
_ACTIONS = {
    "list": (_list_options, "one line per stored run, newest first"),
    "show": (_show_options, "config, tags, note, metrics and learning curve of a run"),
    "diff": (_diff_options, "runs' configs side by side: the fields that differ"),
    "tag": (_tag_options, "add tags to a run (or remove them)"),
    "note": (_note_options, "write a run's note (no text: remove it)"),
    "delete": (_delete_options, "delete runs"),
}

PARSERS = {"runs": add_runs}
