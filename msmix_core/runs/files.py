"""Atomic file writes and checked JSON reads: the rules every run-store file follows.

A reader (or a crash) must see the old file or the new one, never half of one: every write goes
to a temporary file in the same folder, is fsynced and then renamed over the target with
``os.replace``. A file that is missing, cut short or of the wrong type is reported as a
:class:`MsmixError` naming it, so listings skip it instead of crashing.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch

from msmix_core.errors import MsmixError


def _jsonable(value: Any) -> Any:
    """JSON stand-ins for the numpy/torch numbers and paths that configs and records carry."""
    if isinstance(value, np.generic | np.ndarray | torch.Tensor):
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


def write_json(path: Path, value: Any, what: str) -> None:
    data = dumps_json(value, what)
    atomic_write(path, lambda file: file.write(data))


def read_json(path: Path, kind: type) -> Any:
    """The JSON value in ``path``; a MsmixError naming the file when it is missing, cut short or the wrong type."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MsmixError(f"{path.name} is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MsmixError(f"{path.name} is not valid JSON ({exc})") from None
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
    try:
        lines = path.read_bytes().split(b"\n")
    except FileNotFoundError:
        raise MsmixError(f"{path.name} is missing") from None
    tail = lines.pop()  # empty when the file ends with a newline
    values = []
    for number, line in enumerate(lines, 1):
        try:
            values.append(json.loads(line))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise MsmixError(f"{path.name} line {number} is not valid JSON ({exc})") from None
    if not tail:
        return values, []
    try:
        values.append(json.loads(tail))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return values, [f"{path.name} line {len(lines) + 1} was cut short (its process was killed?) and is skipped"]
    return values, []
