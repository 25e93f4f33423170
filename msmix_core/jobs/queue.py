"""A server-wide queue of training jobs: at most N training processes at once, the rest wait their turn.

A served app (one Streamlit server, many browser sessions) starts a training interpreter for every
Run: thirty students pressing Run together would start thirty processes with torch on a machine of a
few cores, and every one of them, and every page, would crawl. :class:`TrainingQueue` gives out
*slots*: a job takes as many as the processes it trains in (one, or its pool's workers, at most all
the slots) and waits, first come first served, until that many are free. A waiting job knows its
place in line and can leave it (Stop). Training done inside the caller's own process can be bounded
the same way (:meth:`TrainingQueue.holding`). The queue is process-wide (:func:`default_queue`): every
session of the server shares it. Its size is ``$MSMIX_TRAINING_SLOTS``, by default the number of
cores.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from msmix_core.errors import MsmixError

#: The environment variable that sets how many training processes a server runs at once.
SLOTS_ENV = "MSMIX_TRAINING_SLOTS"


@dataclass(eq=False)
class Ticket:
    """A job's place in a :class:`TrainingQueue`: the slots it needs and how to ask it for its time left.

    ``remaining``: seconds the job still needs once it runs (its whole duration while it waits),
    or None when it cannot tell yet.
    """

    need: int
    remaining: Callable[[], float | None] = field(default=lambda: None)


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, which a container or ``taskset`` narrows), else all."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # no affinity on this platform (macOS, Windows)
        return os.cpu_count() or 1


def slots_from_env() -> int:
    """``$MSMIX_TRAINING_SLOTS`` when set (an integer >= 1), else the number of cores this process may use."""
    text = os.environ.get(SLOTS_ENV, "").strip()
    if not text:
        return usable_cores()
    if not text.isdigit() or not 1 <= int(text) <= 4096:
        raise MsmixError(f"${SLOTS_ENV}={text!r}: give the number of trainings the server runs at once (1 to 4096)")
    return int(text)


class TrainingQueue:
    """At most ``slots`` slots taken at once; tickets wait in the order they joined (see the module docstring)."""

    def __init__(self, slots: int) -> None:
        if isinstance(slots, bool) or not isinstance(slots, int) or slots < 1:
            raise MsmixError(f"a training queue needs at least one slot, got {slots!r}")
        self.slots = slots
        self._changed = threading.Condition()
        self._waiting: list[Ticket] = []
        self._running: list[Ticket] = []

    def join(self, need: int, remaining: Callable[[], float | None] = lambda: None) -> Ticket:
        """A new ticket at the end of the line, for ``need`` slots (capped at all of them)."""
        ticket = Ticket(min(max(need, 1), self.slots), remaining)
        with self._changed:
            self._waiting.append(ticket)
        return ticket

    def _free(self) -> int:
        return self.slots - sum(t.need for t in self._running)

    def wait(self, ticket: Ticket, timeout: float | None = None, poll: float = 0.5) -> bool:
        """Block until ``ticket`` is first in line and its slots are free, then take them: True (at once when it
        holds them already). False when the ticket left the line (:meth:`withdraw`) or, still in line, after
        ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            if ticket in self._running:
                return True
            while ticket in self._waiting:
                if self._waiting[0] is ticket and self._free() >= ticket.need:
                    self._waiting.remove(ticket)
                    self._running.append(ticket)
                    return True
                if deadline is not None and time.monotonic() >= deadline:
                    return False
                self._changed.wait(poll)
            return False

    @contextmanager
    def holding(self, need: int = 1) -> Iterator[Ticket]:
        """Wait for ``need`` slots, hold them inside the ``with`` block, then give them back.

        For training that runs in the caller's own process (the exploration pages' briefly trained
        encoders): it counts against the same bound as the jobs' training processes."""
        ticket = self.join(need)
        try:
            self.wait(ticket)
            yield ticket
        finally:
            self.leave(ticket)

    def leave(self, ticket: Ticket) -> None:
        """Give back ``ticket``'s slots, or its place in line; the next in line may start."""
        with self._changed:
            for line in (self._waiting, self._running):
                if ticket in line:
                    line.remove(ticket)
            self._changed.notify_all()

    def withdraw(self, ticket: Ticket) -> bool:
        """Take ``ticket`` out of the line if it still waits (True); a ticket that runs keeps its slots (False)."""
        with self._changed:
            if ticket not in self._waiting:
                return False
            self._waiting.remove(ticket)
            self._changed.notify_all()
            return True

    def position(self, ticket: Ticket) -> int | None:
        """``ticket``'s place in line (1: next to start), None once it runs or left."""
        with self._changed:
            return self._waiting.index(ticket) + 1 if ticket in self._waiting else None

    def busy(self) -> bool:
        """Whether any job holds a slot or waits for one."""
        with self._changed:
            return bool(self._running or self._waiting)

    def wait_estimate(self, ticket: Ticket) -> float | None:
        """Seconds until ``ticket`` would start if every job ahead takes the time it says; 0 once it runs,
        None when a job ahead cannot tell (no pace yet, no stored run of its kind)."""
        with self._changed:
            if ticket not in self._waiting:
                return 0.0
            running, ahead = list(self._running), self._waiting[: self._waiting.index(ticket)]
        free_at = []  # when each slot is free: the running jobs' time left, 0 for a free slot; earliest first
        for job in running:
            left = job.remaining()
            if left is None:
                return None
            free_at += [left] * job.need
        free_at = sorted(free_at + [0.0] * (self.slots - len(free_at)))
        for job in ahead:
            duration = job.remaining()
            if duration is None:
                return None
            start = free_at[job.need - 1]
            free_at[: job.need] = [start + duration] * job.need
            free_at.sort()
        return free_at[ticket.need - 1]


_default: TrainingQueue | None = None
_default_lock = threading.Lock()


def default_queue() -> TrainingQueue:
    """The queue every job of this process joins unless given another (sized once, from :func:`slots_from_env`)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = TrainingQueue(slots_from_env())
        return _default
