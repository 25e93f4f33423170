"""What every ``msmix`` command shares: one-line usage errors, printing, argument types, output files, signals.

Torch-free on purpose: ``msmix runs ...`` imports this and its own module only.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from msmix_core.errors import MsmixError, MsmixWarning, printable

if TYPE_CHECKING:
    import pandas as pd

    from msmix_core.data.schema import MSADataset

#: The help of every command's ``--runs-dir``.
RUNS_DIR_HELP = "run store folder (default: $MSMIX_RUNS_DIR or ./runs)"


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage error on one line (and exits 2, as argparse does)."""

    def error(self, message: str) -> None:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def echo(text: str, err: bool = False) -> None:
    """Print ``text`` (on stderr with ``err``), each line through :func:`printable`: tables and messages quote
    what files hold (run ids, labels, errors, dataset names), and a terminal must show it, never act on it."""
    print("\n".join(map(printable, str(text).split("\n"))), file=sys.stderr if err else sys.stdout)


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer >= 1")
    return value


def seed_value(text: str) -> int:
    """An argparse type: a seed torch, numpy and the run store all take, 0 to 2**63 - 1 (else it overflows later)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"{text!r} is not a seed: give an integer from 0 to {2**63 - 1}")
    return value


def load_source(source: str) -> MSADataset:
    """``load_dataset``, with a loader's warnings (a leaky split) shown as one line each on stderr."""
    from msmix_core.data.loading import load_dataset  # here: the loaders import torch, which runs commands never need

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = load_dataset(source)
    for warning in caught:
        echo(f"msmix: warning: {' '.join(str(warning.message).split())}", err=True)
    return dataset


def check_outputs(paths: Sequence[str]) -> None:
    """Every ``--out`` file may be written (see :func:`check_output`), and none is given twice."""
    for path in paths:
        check_output(path, "--out", (".csv", ".md"))
    resolved = [Path(path).resolve() for path in paths]
    if len(set(resolved)) < len(resolved):
        raise MsmixError(f"--out {' '.join(paths)}: a file is given more than once; give each file once")


def check_output(path: str, option: str, suffixes: Sequence[str]) -> Path:
    """``path`` if a file may be written there, checked before any training so that a table is never lost:
    the right suffix, not a folder or a device, in a folder that exists (or can be made) and is writable."""
    checked = Path(path)
    if checked.suffix.lower() not in suffixes:
        raise MsmixError(f"{option} {path}: the file name must end in {' or '.join(suffixes)}")
    if checked.is_dir() or (checked.exists() and not checked.is_file()):
        raise MsmixError(f"{option} {path}: there is a folder or a device of that name; give a file name")
    folder = checked.absolute().parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise MsmixError(f"{option} {path}: {folder} is a file, so no folder can be made there")
    try:
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as exc:
        raise MsmixError(f"{option} {path}: cannot write in {folder} ({exc.strerror or exc}); choose another") from exc
    return checked


def write_outputs(paths: Sequence[str], long: pd.DataFrame, wide: pd.DataFrame) -> None:
    """``.csv`` gets the long table (every number), ``.md`` the printed table with p-values."""
    from msmix_core.runs import to_markdown

    for path in map(Path, paths):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.suffix == ".csv":
                long.to_csv(path, index=False)
            else:
                path.write_text(to_markdown(wide))
        except OSError as exc:  # the table is printed above and its runs are stored: rebuild it with compare
            raise MsmixError(f"--out {path}: cannot write it ({exc.strerror or exc}); the runs are stored") from exc
        print(f"wrote {path}", file=sys.stderr)


_default_showwarning = warnings.showwarning


def show_warning(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    """msmix's own warnings as one line on stderr, like its errors; others as Python shows them."""
    if issubclass(category, MsmixWarning):
        echo(f"msmix: warning: {' '.join(str(message).split())}", err=True)
    else:
        _default_showwarning(message, category, *args, **kwargs)


class Terminated(KeyboardInterrupt):
    """SIGTERM (``timeout``, ``docker stop``, schedulers), handled like Ctrl-C: the current run ends ``interrupted``."""


_WATCHED = (signal.SIGINT, signal.SIGTERM)


def _ignore_interrupts() -> None:
    for signum in _WATCHED:
        signal.signal(signum, signal.SIG_IGN)


def _interrupt(signum: int, frame: object) -> None:
    """The first Ctrl-C or SIGTERM: from now on the command is handling it, and further ones are ignored."""
    _ignore_interrupts()
    if signum == signal.SIGTERM:
        raise Terminated("terminated by SIGTERM")
    raise KeyboardInterrupt


@contextmanager
def sigterm_as_interrupt(hold: bool = False) -> Iterator[None]:
    """While the command runs, SIGTERM raises :class:`Terminated` like Ctrl-C (signals reach only the main thread).

    The first of them is the one handled: from then on further SIGINT and SIGTERM are ignored, while the runs
    in flight are stored and the pool shuts down, and on the way out, where a second signal would kill the
    process (exit -2 or -15 instead of 130 or 143, the storing cut short). ``hold``: after an interrupt they stay
    ignored when the block ends (the program is about to exit); else the handlers are put back (a caller that
    goes on in this process).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    kept = [signum for signum in _WATCHED if signal.getsignal(signum) is not signal.SIG_IGN]  # nohup's, say
    previous = {signum: signal.signal(signum, _interrupt) for signum in kept}
    try:
        yield
    except KeyboardInterrupt:  # a signal, or raised in code (a callback): handled once as well
        _ignore_interrupts()
        if hold:
            previous = {}
        raise
    finally:
        for signum, handler in previous.items():
            if handler is not None:  # None: set outside Python, which cannot be put back
                signal.signal(signum, handler)
