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


def dumps_json(value: Any, what: str) -> bytes:
    try:
        return json.dumps(value, indent=2, default=_jsonable).encode()
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
