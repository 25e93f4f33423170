"""What a training run tells its observers: epoch events, the result, callbacks, and recording into the store.

Observers (the app's live curves, the CLI's progress bar, the run store) receive events through
callbacks; a ``threading.Event`` (any :class:`StopFlag`) stops a run cleanly after the current batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Protocol

from msmix_core.mixing.base import MixMethod
from msmix_core.models.base import Backbone
from msmix_core.runs.status import RunStatus
from msmix_core.training.config import TrainConfig

if TYPE_CHECKING:
    from msmix_core.runs import Run


@dataclass
class EpochEvent:
    """What an epoch produced, sent to ``on_epoch_end`` and kept in the history (as a dict).

    ``losses``: ``train`` (the loss the optimiser minimised), ``task``, ``mix``, ``sal``, ``aux``
    (backbone auxiliary), means over the epoch's training samples of the *unweighted* terms, and
    ``valid``/``test`` task losses, and ``valid_constant``: the validation loss of the best constant
    prediction (the train labels' median for L1, their mean for MSE), the bar a run must beat to have
    learned anything. ``diagnostics``: the mixing method's per-batch diagnostics averaged over the
    epoch. ``wall_time``: seconds this epoch took; ``elapsed``: seconds since the run started; ``lr``:
    the learning rate the epoch trained at.
    """

    epoch: int
    losses: dict[str, float]
    valid_metrics: dict[str, float]
    test_metrics: dict[str, float]
    diagnostics: dict[str, float]
    wall_time: float
    elapsed: float
    best_epoch: int
    improved: bool
    lr: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrainResult:
    """The outcome of :func:`~msmix_core.training.train`; ``backbone`` and ``method`` hold the best-validation state."""

    config: TrainConfig
    status: RunStatus
    best_epoch: int
    valid_metrics: dict[str, float]
    test_metrics: dict[str, float]
    history: list[dict[str, Any]]
    backbone: Backbone
    method: MixMethod
    run_id: str | None
    wall_time: float
    device: str


class Callback:
    """Observer of a training run. Override any hook; plain objects with these method names work too."""

    def on_train_start(self, info: dict[str, Any]) -> None:
        """Called once the models are built: config, dataset summary, device, steps per epoch, run id."""

    def on_batch_end(self, step: int, total: int) -> None:
        """Called after each optimiser step: ``step`` of ``total`` batches in the current epoch."""

    def on_epoch_end(self, event: EpochEvent) -> None:
        """Called after each epoch has been scored on valid and test."""

    def on_epoch_models(self, epoch: int, backbone: Backbone, method: MixMethod) -> None:
        """Called with the models as they are after ``epoch`` epochs (0: before training), e.g. to look at
        their latents; the hook may switch them to eval mode, as training switches them back."""

    def on_train_end(self, result: TrainResult) -> None:
        """Called once with the final result (also after a stop request)."""

    def on_train_error(self, error: BaseException) -> None:
        """Called when training fails or is interrupted, before the exception propagates."""


class StopFlag(Protocol):
    """What ``train(stop=...)`` reads after each batch: a ``threading.Event``, or anything with ``is_set()``."""

    def is_set(self) -> bool: ...


def emit(callbacks: Sequence[object], hook: str, *args: Any) -> None:
    """Call ``hook`` on every callback that has it (callbacks may be plain objects)."""
    for callback in callbacks:
        method = getattr(callback, hook, None)
        if method is not None:
            method(*args)


class RecordRun(Callback):
    """Records a training run into the run store: every epoch, the best results so far, the outcome.

    :func:`~msmix_core.training.train` puts one first among its callbacks when given a ``store``, so
    the files are written before any other observer hears of an epoch or of the end.
    """

    def __init__(self, run: Run, save_weights: bool = True) -> None:
        self.run = run
        self.save_weights = save_weights

    def on_epoch_end(self, event: EpochEvent) -> None:
        self.run.log_epoch(event.to_dict())
        if event.improved:  # the best so far, readable while the run goes on
            metrics = {"valid": event.valid_metrics, "test": event.test_metrics}
            self.run.update(metrics=metrics, best_epoch=event.best_epoch)

    def on_train_end(self, result: TrainResult) -> None:
        if self.save_weights:
            self.run.save_weights({"backbone": result.backbone.state_dict(), "method": result.method.state_dict()})
        metrics = {"valid": result.valid_metrics, "test": result.test_metrics}
        self.run.finish(result.status, metrics=metrics, best_epoch=result.best_epoch)

    def on_train_error(self, error: BaseException) -> None:
        """Mark the run failed (``interrupted`` for Ctrl-C or SIGTERM), unless it had already ended."""
        if self.run.status == RunStatus.RUNNING:
            status = RunStatus.INTERRUPTED if isinstance(error, KeyboardInterrupt) else RunStatus.FAILED
            self.run.finish(status, error=f"{type(error).__name__}: {error}")
