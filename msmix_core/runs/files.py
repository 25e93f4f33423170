"""Atomic file writes and checked JSON reads: the rules every run-store file follows.

A reader (or a crash) must see the old file or the new one, never half of one: every write goes
to a temporary file in the same folder, is fsynced and then renamed over the target with
``os.replace``. A file that is missing, cut short or of the wrong type is reported as a
:class:`MsmixError` naming it, so listings skip it instead of crashing.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import stat
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from msmix_core.errors import FILE_KINDS, MsmixError
from msmix_core.limits import JSON_DEPTH_LIMIT, too_deep

#: The most bytes the store reads from a ``config.json`` or ``result.json``: far beyond what msmix writes,
#: small enough that a stray huge file cannot take a listing's memory.
JSON_FILE_LIMIT = 16 << 20
#: The most bytes of a run's history (200 epochs of msmix's records take well under 1 MiB).
HISTORY_FILE_LIMIT = 256 << 20


def _jsonable(value: Any) -> Any:
    """JSON stand-ins for the numpy/torch numbers and paths that configs and records carry."""
    torch = sys.modules.get("torch")  # a tensor exists only once torch is imported: listing runs never imports it
    if isinstance(value, np.generic | np.ndarray) or (torch is not None and isinstance(value, torch.Tensor)):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"a {type(value).__name__} is not JSON-serialisable")


def dumps_json(value: Any, what: str, indent: int | None = 2) -> bytes:
    """``value`` as JSON bytes (``indent=None``: on one line); a MsmixError naming ``what`` if it cannot be."""
    try:
        return json.dumps(value, indent=indent, default=_jsonable).encode()
    except (TypeError, ValueError) as exc:
        raise MsmixError(f"{what} cannot be stored as JSON ({exc}): use numbers, strings, lists and dicts") from exc


def fsync_dir(folder: Path) -> None:
    """Make a rename inside ``folder`` durable (POSIX only: Windows cannot open a folder)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write ``path`` through ``write(file)`` so that it is replaced whole or not at all.

    The bytes go to a temporary file in the same folder, are fsynced, and the file is renamed
    over ``path`` with ``os.replace``; if anything fails before the rename, ``path`` is untouched.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


#: The errors of a full disk or quota, after which a file can still be rewritten where it is.
_NO_SPACE = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


@contextlib.contextmanager
def write_errors(action: str, folder: Path) -> Iterator[None]:
    """An ``OSError`` of a write (a full disk, a read-only or unwritable store) as a one-line MsmixError."""
    try:
        yield
    except OSError as exc:
        raise MsmixError(
            f"cannot {action} in {folder} ({exc.strerror or exc}): free some disk space, or give a writable "
            "runs folder (--runs-dir, $MSMIX_RUNS_DIR)"
        ) from exc


def overwrite_json(path: Path, value: Any, what: str) -> None:
    """Write ``path`` atomically; on a full disk, rewrite it where it is (its old blocks are freed first).

    For a run's last word (its outcome and error): a full disk refuses the temporary file of an atomic
    write, and a run left ``running`` would say nothing of why it stopped.
    """
    data = dumps_json(value, what)
    try:
        atomic_write(path, lambda file: file.write(data))
    except OSError as exc:
        if exc.errno not in _NO_SPACE or not path.is_file():
            raise
        with open(path, "r+b") as file:
            file.truncate(0)
            file.write(data)
            file.flush()
            os.fsync(file.fileno())


@contextlib.contextmanager
def signals_deferred(redeliver: bool = True) -> Iterator[list[int]]:
    """Hold SIGINT and SIGTERM until the block ends, so that storing is never cut in half by a second Ctrl-C.

    Yields the signals caught meanwhile. ``redeliver``: the first is then raised as it would have been;
    else it is dropped (the caller is stopping already). Only the main thread can handle signals.
    """
    caught: list[int] = []
    watched = (signal.SIGINT, signal.SIGTERM)
    if threading.current_thread() is not threading.main_thread() or None in map(signal.getsignal, watched):
        yield caught
        return
    previous = {signum: signal.signal(signum, lambda signum, frame: caught.append(signum)) for signum in watched}
    try:
        yield caught
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if caught and redeliver:
            signal.raise_signal(caught[0])


def write_json(path: Path, value: Any, what: str) -> None:
    data = dumps_json(value, what)
    atomic_write(path, lambda file: file.write(data))


def read_regular(path: Path, limit: int) -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``limit`` bytes; else a MsmixError naming it.

    Opened without blocking, so a FIFO or a device where a file belongs is refused, never waited on or read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise MsmixError(f"{path.name} is missing") from None
    except OSError as exc:
        raise MsmixError(f"{path.name} cannot be opened ({exc.strerror or exc})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise MsmixError(f"{path.name} is {FILE_KINDS.get(stat.S_IFMT(info.st_mode), 'not a file')}, not a file")
        if info.st_size > limit:
            raise MsmixError(f"{path.name} holds {info.st_size:,} bytes, more than the {limit:,} msmix reads from it")
        with os.fdopen(os.dup(fd), "rb") as file:
            data = file.read(limit + 1)  # the file may have grown since fstat
    except OSError as exc:
        raise MsmixError(f"{path.name} cannot be read ({exc.strerror or exc})") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise MsmixError(f"{path.name} holds more than the {limit:,} bytes msmix reads from it")
    return data


def loads_checked(data: bytes, where: str) -> Any:
    """``json.loads`` of stored bytes; a MsmixError naming ``where`` when they are not JSON or nest too deep."""
    try:
        value = json.loads(data)
        deep = too_deep(value)
    except RecursionError:
        deep = True
    except ValueError as exc:  # JSONDecodeError, a bad encoding, an integer of too many digits
        raise MsmixError(f"{where} is not valid JSON ({exc})") from None
    if deep:
        raise MsmixError(f"{where} nests lists or dicts deeper than {JSON_DEPTH_LIMIT} levels: not msmix's")
    return value


def read_json(path: Path, kind: type) -> Any:
    """The JSON value in ``path``; a MsmixError naming the file when it is missing, cut short or the wrong type."""
    value = loads_checked(read_regular(path, JSON_FILE_LIMIT), path.name)
    if not isinstance(value, kind):
        raise MsmixError(f"{path.name} holds a {type(value).__name__} where a {kind.__name__} belongs")
    return value


def json_lines(values: list[Any], what: str) -> bytes:
    """``values`` as JSON lines: one compact value per line, each ended by a newline."""
    return b"".join(dumps_json(value, what, indent=None) + b"\n" for value in values)


def append_json_line(path: Path, value: Any, what: str) -> None:
    """Append ``value`` to ``path`` as one JSON line, flushed and fsynced.

    Appending costs one line per call where rewriting the file grew with it. If the write fails,
    the file is cut back to its old end, so a later append never lands after half a line.
    """
    data = json_lines([value], what)
    with open(path, "ab") as file:
        end = file.tell()
        try:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        except BaseException:
            file.truncate(end)
            raise


def read_json_lines(path: Path) -> tuple[list[Any], list[str]]:
    """The values of a JSON-lines file, and notes on what was skipped.

    A last line without its newline that does not parse is what a process killed mid-append
    leaves behind: it is skipped with a note. Any other bad line is damage: a MsmixError naming it.
    """
    lines = read_regular(path, HISTORY_FILE_LIMIT).split(b"\n")
    tail = lines.pop()  # empty when the file ends with a newline
    values = [loads_checked(line, f"{path.name} line {number}") for number, line in enumerate(lines, 1)]
    if not tail:
        return values, []
    try:
        values.append(loads_checked(tail, f"{path.name} line {len(lines) + 1}"))
    except MsmixError:
        return values, [f"{path.name} line {len(lines) + 1} was cut short (its process was killed?) and is skipped"]
    return values, []
