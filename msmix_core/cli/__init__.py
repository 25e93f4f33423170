"""The ``msmix`` command line (also ``python -m msmix_core``): train, compare and inspect runs.

Subcommands: ``train``, ``compare``, ``ablate``, ``sweep``, ``tune``, ``robustness``, ``partners``,
``methods``, ``runs list|show|diff|tag|note|delete`` and ``convert``. Grids train through an executor (``--workers``).
Every training run is recorded in the run store, so tables can be rebuilt later.
User errors (a missing file, an unknown name, a bad knob value) print one line on stderr and
exit with status 2; anything else is a bug and keeps its traceback. See docs/cli.md.

Each command's options and handler live in one module of this package (``COMMANDS``), imported only when that
command runs: ``msmix runs list`` never imports torch, the trainer or the data loaders.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import importlib
import os
import signal
import sys
import warnings
from collections.abc import Collection, Sequence
from typing import NoReturn

from msmix_core import __version__
from msmix_core.cli.common import Parser, Terminated, echo, show_warning, sigterm_as_interrupt
from msmix_core.errors import MsmixError

#: Each command: the module of this package with its options and handler, and its line in ``msmix --help``.
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("train", "train one backbone with one method over seeds"),
    "compare": ("train", "a grid of backbones × methods × seeds"),
    "ablate": ("train", "MS-Mix with SASS, SIG, SAL switched off in turn"),
    "sweep": ("sweep", "a grid over one or two knobs of a method × seeds"),
    "tune": ("tune", "Optuna search over a method's knobs, on valid"),
    "robustness": ("robustness", "score stored runs with each modality zeroed or noised"),
    "partners": ("partners", "each sample's SASS partners over a whole split"),
    "methods": ("methods", "the mixing methods and their knobs (what --set takes)"),
    "runs": ("runs", "list, show, compare, tag, annotate or delete stored runs"),
    "convert": ("data", "convert an MMSA feature pickle or the MOSI CSVs to the safe .npz format"),
}


def build_parser(configured: Collection[str] | None = None) -> argparse.ArgumentParser:
    """The parser of every command, with the options of those in ``configured`` (default: all).

    A command left out is still listed by ``msmix --help``; its options are not built, as they import its module.
    """
    parser = Parser(prog="msmix", description="Emotion-aware mixup (MS-Mix) for multimodal sentiment analysis.")
    parser.add_argument("--version", action="version", version=f"msmix {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = commands.add_parser(name, help=help_text)
        if configured is None or name in configured:
            importlib.import_module(f"{__name__}.{module}").PARSERS[name](p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; exit status 2 for user errors (one line on stderr), 130 for Ctrl-C, 143 for SIGTERM."""
    program = argv is None  # the process's own command line: it exits when this returns
    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = [next((word for word in argv if not word.startswith("-")), "")]  # msmix has no option taking a value
    args = build_parser(chosen).parse_args(argv)
    try:
        with sigterm_as_interrupt(hold=program), warnings.catch_warnings():
            warnings.showwarning = show_warning
            code = args.handler(args)
            sys.stdout.flush()  # a closed pipe (`msmix runs show ID | head`) shows up here, not at exit
            return code
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left to flush at exit
        return 141  # 128 + SIGPIPE: what a shell reports for a program whose reader went away
    except MsmixError as exc:
        echo(f"msmix: error: {' '.join(str(exc).split())}", err=True)
        return 2
    except KeyboardInterrupt as exc:
        left = getattr(exc, "summary", "a run in progress is stored as 'interrupted'")
        if isinstance(exc, Terminated):
            echo(f"msmix: terminated by SIGTERM; {left}", err=True)
            code = 128 + signal.SIGTERM
        else:
            echo(f"msmix: interrupted; {left}", err=True)
            code = 130
        if program:
            _exit_now(code)
        return code


def _exit_now(code: int) -> NoReturn:
    """End an interrupted command with ``code`` once what it stores is stored, the exit handlers have run
    (multiprocessing's among them: they release the pool's semaphores) and its output is flushed.

    The rest of the interpreter's teardown is skipped: under load, a tune interrupted by Ctrl-C was seen to
    exit by SIGINT (-2) after all this had run and SIGINT was ignored (1 in 5-10 tries on a loaded 2-core
    machine, not seen in isolation or under strace), and a command told to stop has nothing left to do.
    """
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)
