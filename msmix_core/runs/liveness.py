"""Whether a run stored as ``running`` is still being trained, told from the process that trains it.

A run records its process (pid, host, start time); a reader on the same host asks whether that pid
lives and is still the same process (a reused pid started at another time). Where the process cannot
be checked (another host, a run from before msmix recorded it), files untouched for
:data:`ABANDONED_AFTER` say the run was abandoned. Optuna trials are told apart the same way.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import time
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

from msmix_core.errors import MsmixError
from msmix_core.runs.files import loads_checked, read_regular

#: A ``running`` run whose process cannot be checked (another host, or a run from before msmix
#: recorded its process) is reported ``interrupted`` when its files have not changed for this long.
ABANDONED_AFTER = timedelta(hours=24)


def this_process() -> dict[str, Any]:
    """Who trains a run, so that readers can tell a live run from an abandoned one."""
    return {"pid": os.getpid(), "host": socket.gethostname(), "started": _process_started(os.getpid())}


def _process_started(pid: int) -> str | None:
    """The start time of process ``pid`` in clock ticks since boot (Linux), which tells a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # after the command name, which may hold spaces
    return None if fields[0] == "Z" else fields[19]  # a zombie has exited: no start time


def process_alive(process: dict[str, Any]) -> bool | None:
    """Whether a run's process still runs; None when this machine cannot tell (another host, not POSIX)."""
    if process.get("host") != socket.gethostname() or os.name != "posix":
        return None
    if not 0 < process["pid"] <= _pid_max():  # 0 and -1 would ask about a whole process group
        return False
    try:
        os.kill(process["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, owned by another user
    started = _process_started(process["pid"])
    if process.get("started") is None:
        return True
    return started == process["started"]  # None: a zombie, or /proc is gone


def _pid_max() -> int:
    """The largest process id this system hands out (Linux's ``pid_max``; else the largest a pid can be)."""
    try:
        return int(Path("/proc/sys/kernel/pid_max").read_text())
    except (OSError, ValueError):
        return 2**31 - 1


def abandoned(process: dict[str, Any] | None, files: Iterable[Path], after: timedelta = ABANDONED_AFTER) -> bool:
    """Whether nobody trains a run any more: its ``process`` is gone, or else its ``files`` are all stale
    beyond ``after`` (``files`` are looked at only when the process cannot be checked).
    """
    alive = process_alive(process) if isinstance(process, dict) and isinstance(process.get("pid"), int) else None
    if alive is not None:
        return not alive
    newest = max(file.stat().st_mtime for file in files)
    return time.time() - newest > after.total_seconds()


#: A hidden folder of the store's (a run being assembled, ``.ID.new``; a run being deleted, ``.ID.deleted-…``)
#: whose writer cannot be checked is debris of a killed process once untouched for this long.
DEBRIS_AFTER = timedelta(minutes=10)


def remove_debris(root: Path, names: Iterable[str]) -> list[str]:
    """Remove the hidden staging and trash folders among ``names`` (entries of the store ``root``) that a process
    killed mid-publish or mid-delete left behind; returns the names removed.

    A staging folder names its writer in its ``result.json`` (written first): it is debris once that process
    is gone, never while it lives; otherwise, and for trash, once nothing in it changed for
    :data:`DEBRIS_AFTER`. Best effort: what cannot be removed (a read-only store) stays, silently.
    """
    removed = []
    for name in names:
        if not name.startswith(".") or not (name.endswith(".new") or ".deleted-" in name):
            continue
        path = root / name
        with contextlib.suppress(OSError, MsmixError):
            if path.is_symlink() or not path.is_dir():
                continue
            process = None
            if name.endswith(".new") and (path / "result.json").exists():
                with contextlib.suppress(OSError, MsmixError):
                    result = loads_checked(read_regular(path / "result.json", 1 << 16), "result.json")
                    process = result.get("process") if isinstance(result, dict) else None
            if abandoned(process, [path, *path.iterdir()], after=DEBRIS_AFTER):
                shutil.rmtree(path)
                removed.append(name)
    return removed
