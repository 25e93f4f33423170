"""How a run stands: :class:`RunStatus` and :data:`STATUSES`, one spelling for the store, trainer, CLI and app."""

from enum import StrEnum


class RunStatus(StrEnum):
    """A run is ``running`` until it ends as ``finished``, ``stopped`` (by the user), ``failed`` (with
    an error) or ``interrupted`` (Ctrl-C, SIGTERM; also how a ``running`` run whose process is gone is
    reported). Members are strings, so ``run.status == "finished"`` holds and JSON stores the name.
    """

    RUNNING = "running"
    FINISHED = "finished"
    STOPPED = "stopped"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


#: The status names, in :class:`RunStatus` order.
STATUSES: tuple[str, ...] = tuple(status.value for status in RunStatus)
