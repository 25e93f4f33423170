"""The training loop: one readable function, the same loss for every mixing method.

:func:`train` trains with one of two recipes (:data:`RECIPES`), chosen by ``TrainConfig.recipe``:

- ``"mmsa"`` (the default): MMSA's MOSI configs: Adam, lr 1e-3, batch 32, L1 task loss, early
  stopping after 8 epochs without validation improvement;
- ``"release"``: how MS-Mix's released code trains (``trains/ALMT.py``): AdamW (lr 1e-4, weight
  decay 1e-4), a linear warm-up over the first 10 % of the epoch budget and then a cosine decay
  (:func:`get_lr`), batch 64, MSE task loss, up to 200 epochs with a patience of 32.

Both add the mixing term of the released code, so that every method is trained with the same loss:

    task(clean) + backbone auxiliary + mix_weight · mixed-sample loss + sal_weight · alignment loss

The mixed-sample loss is always an element-wise MSE against both source labels, weighted by the
label ratio, as in every released trainer (``mix_loss="task"`` uses the task loss instead; with L1 its
optimum is the dominant source's label, not the mixed one: see ``docs/findings.md``). The test split
is scored with the best-validation checkpoint. Observers (the app's live curves, the CLI's progress
bar) receive events through callbacks; a ``threading.Event`` stops a run cleanly after the current batch.
"""

from __future__ import annotations

import math
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import msmix_core
from msmix_core import MODALITIES
from msmix_core.data.batching import make_loader
from msmix_core.data.schema import MSADataset
from msmix_core.device import resolve_device
from msmix_core.errors import MsmixError
from msmix_core.metrics import mmsa_metrics
from msmix_core.mixing.base import MixMethod
from msmix_core.mixing.registry import build_method
from msmix_core.models.base import Backbone
from msmix_core.models.registry import build_backbone

if TYPE_CHECKING:
    from msmix_core.runs import Run, RunStore

#: Element-wise task losses by name (MMSA trains regression with L1; MISA's config uses MSE).
LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "l1": lambda pred, y: F.l1_loss(pred, y, reduction="none"),
    "mse": lambda pred, y: F.mse_loss(pred, y, reduction="none"),
}

#: What the mixed-sample term may use: an element-wise loss by name, or ``"task"`` (the task loss).
MIX_LOSSES: tuple[str, ...] = ("mse", "l1", "task")

OPTIMIZERS: tuple[str, ...] = ("adam", "adamw")
SCHEDULES: tuple[str, ...] = ("constant", "warmup_cosine")

#: Training recipes: the values a :class:`TrainConfig` field left at ``None`` takes.
#: ``mmsa``: MMSA's MOSI configs (TFN, LMF: Adam, lr 1e-3, batch 32, L1, patience 8).
#: ``release``: MS-Mix's released ``trains/ALMT.py`` and ``config_regression.json``. Its SAL term is
#: a batch mean, so halving the batch doubles SAL's weight relative to the task loss: batch 64 assumed.
RECIPES: dict[str, dict[str, Any]] = {
    "mmsa": {
        "optimizer": "adam",
        "lr": 1e-3,
        "weight_decay": 0.0,
        "schedule": "constant",
        "warmup": 0.0,
        "batch_size": 32,
        "epochs": 30,
        "patience": 8,
        "loss": "l1",
        "mix_loss": "mse",
    },
    "release": {
        "optimizer": "adamw",
        "lr": 1e-4,
        "weight_decay": 1e-4,
        "schedule": "warmup_cosine",
        "warmup": 0.1,
        "batch_size": 64,
        "epochs": 200,
        "patience": 32,
        "loss": "mse",
        "mix_loss": "mse",
    },
}

#: Batch size for scoring the valid and test splits (it does not change the metrics).
EVAL_BATCH_SIZE = 256

#: A validation loss must drop by more than this to count as an improvement (MMSA's rule).
MIN_IMPROVEMENT = 1e-6

#: Loss components reported per epoch, in the order ``step_losses`` returns them.
LOSS_PARTS: tuple[str, ...] = ("total", "task", "mix", "sal", "aux")


@dataclass
class TrainConfig:
    """Everything that defines a training run besides the data.

    ``recipe`` (:data:`RECIPES`) fills every recipe field left at ``None``: ``optimizer``, ``lr``,
    ``weight_decay``, ``schedule`` (``"constant"`` or ``"warmup_cosine"``), ``warmup`` (the share of
    the epoch budget spent warming up), ``batch_size``, ``epochs`` (a cap), ``patience``, ``loss``
    (the task loss) and ``mix_loss`` (the mixed-sample term's loss). Fields given explicitly win.
    ``label`` names the variant in tables (``"msmix -SAL"``); it defaults to the method name.
    Invalid values raise :class:`MsmixError` naming the field and its valid values.
    """

    backbone: str = "late_fusion"
    method: str = "none"
    backbone_kwargs: dict[str, Any] = field(default_factory=dict)
    method_kwargs: dict[str, Any] = field(default_factory=dict)
    label: str | None = None
    recipe: str = "mmsa"
    epochs: int | None = None
    batch_size: int | None = None
    optimizer: str | None = None
    lr: float | None = None
    weight_decay: float | None = None
    schedule: str | None = None
    warmup: float | None = None
    grad_clip: float | None = None
    patience: int | None = None
    loss: str | None = None
    mix_loss: str | None = None
    seed: int = 1111
    device: str = "auto"
    save_weights: bool = True

    def __post_init__(self) -> None:
        for name in ("backbone", "method", "device"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise MsmixError(f"TrainConfig.{name} must be a non-empty string, got {getattr(self, name)!r}")
        if self.label is not None and not isinstance(self.label, str):
            raise MsmixError(f"TrainConfig.label must be a string or None, got {self.label!r}")
        for name in ("backbone_kwargs", "method_kwargs"):
            if not isinstance(getattr(self, name), dict):
                raise MsmixError(f"TrainConfig.{name} must be a dict of knobs, got {getattr(self, name)!r}")
        _choice("recipe", self.recipe, tuple(RECIPES))
        for name, value in RECIPES[self.recipe].items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        self.epochs = _integer("epochs", self.epochs, 1)
        self.batch_size = _integer("batch_size", self.batch_size, 2)
        self.patience = _integer("patience", self.patience, 1)
        self.seed = _integer("seed", self.seed, 0, 2**63 - 1)
        self.lr = _real("lr", self.lr, positive=True)
        self.weight_decay = _real("weight_decay", self.weight_decay, positive=False)
        self.warmup = _real("warmup", self.warmup, positive=False)
        if self.warmup >= 1:
            raise MsmixError(f"TrainConfig.warmup is a share of the epochs in [0, 1), got {self.warmup!r}")
        if self.grad_clip is not None:
            self.grad_clip = _real("grad_clip", self.grad_clip, positive=True)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("schedule", self.schedule, SCHEDULES)
        _choice("loss", self.loss, tuple(LOSSES))
        _choice("mix_loss", self.mix_loss, MIX_LOSSES)
        if not isinstance(self.save_weights, bool):
            raise MsmixError(f"TrainConfig.save_weights must be True or False, got {self.save_weights!r}")

    @property
    def variant(self) -> str:
        """The name shown in tables: ``label`` when given, else the method name."""
        return self.label or self.method

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly copy (the run store records it)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Rebuild a config from :meth:`to_dict` output; unknown keys are an error, missing ones default."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise MsmixError(f"unknown TrainConfig field(s) {unknown}: the fields are {sorted(known)}")
        return cls(**values)


def _integer(name: str, value: Any, minimum: int, maximum: int | None = None) -> int:
    upper = "" if maximum is None else f" and <= {maximum}"
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise MsmixError(f"TrainConfig.{name} must be an integer >= {minimum}{upper}, got {value!r}")
    if maximum is not None and value > maximum:
        raise MsmixError(f"TrainConfig.{name} must be an integer >= {minimum}{upper}, got {value!r}")
    return int(value)


def _choice(name: str, value: Any, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise MsmixError(f"TrainConfig.{name} must be one of {list(valid)}, got {value!r}")


def _real(name: str, value: Any, *, positive: bool) -> float:
    valid = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
    if not valid or value < 0 or (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        raise MsmixError(f"TrainConfig.{name} must be a finite number {bound}, got {value!r}")
    return float(value)


@dataclass
class EpochEvent:
    """What an epoch produced, sent to ``on_epoch_end`` and kept in the history (as a dict).

    ``losses``: ``train`` (the total), ``task``, ``mix``, ``sal``, ``aux`` (backbone auxiliary),
    means over the epoch's training samples of the *unweighted* terms, and ``valid``/``test``
    task losses, and ``valid_constant``: the validation loss of the best constant prediction (the
    train labels' median for L1, their mean for MSE), the bar a run must beat to have learned
    anything. ``diagnostics``: the mixing method's per-batch diagnostics averaged over the epoch.
    ``wall_time``: seconds this epoch took; ``elapsed``: seconds since the run started; ``lr``: the
    learning rate the epoch trained at.
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
    """The outcome of :func:`train`; ``backbone`` and ``method`` hold the best-validation state."""

    config: TrainConfig
    status: str
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


def _emit(callbacks: Sequence[object], hook: str, *args: Any) -> None:
    for callback in callbacks:
        method = getattr(callback, hook, None)
        if method is not None:
            method(*args)


def build_models(dataset: MSADataset, config: TrainConfig, device: torch.device) -> tuple[Backbone, MixMethod]:
    """Seed torch from ``config.seed`` and build the backbone and mixing method on ``device``.

    Unknown names and bad knobs raise :class:`MsmixError` here, before any training starts.
    """
    torch.manual_seed(config.seed)
    backbone = build_backbone(config.backbone, dataset.dims, dataset.seq_lens, **config.backbone_kwargs)
    method = build_method(config.method, latent_dims=backbone.latent_dims, **config.method_kwargs)
    return backbone.to(device), method.to(device)


def make_optimizer(backbone: Backbone, method: MixMethod, config: TrainConfig) -> torch.optim.Optimizer:
    """Adam or AdamW over the backbone's and the method's trainable parameters (MS-Mix's predictors train too).

    Adam adds ``weight_decay`` to the gradient (an L2 penalty, as MMSA's trainers do); AdamW decays
    the weights directly (the release). ``fused=True``: one kernel updates every tensor (on the CPU
    as on CUDA), where the default implementation loops over them in Python.
    """
    params = [p for module in (backbone, method) for p in module.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    return optimizer(params, lr=config.lr, weight_decay=config.weight_decay, fused=True)


def get_lr(epoch: int, config: TrainConfig) -> float:
    """The learning rate of (1-based) ``epoch``: constant, or the release's warm-up then cosine.

    ``warmup_cosine`` follows the release's ``GradualWarmupScheduler`` + ``CosineAnnealingLR``, stepped
    once per epoch: with ``W = warmup · epochs`` warm-up epochs, epoch ``e`` trains at
    ``lr · (e-1)/W`` while ``e-1 <= W`` (so the first epoch at 0, as in the release), then at
    ``lr · (1 + cos(π · (e-1-W) / (epochs-W))) / 2``.
    """
    if config.schedule == "constant":
        return config.lr
    warmup, step = config.warmup * config.epochs, epoch - 1
    if step <= warmup and warmup > 0:
        return config.lr * step / warmup
    return config.lr * 0.5 * (1 + math.cos(math.pi * (step - warmup) / (config.epochs - warmup)))


def _mixed_inputs(batch: dict[str, torch.Tensor], mixed: dict[str, torch.Tensor], pairs: torch.Tensor) -> dict:
    """A batch of input-level mixed samples; each keeps the longer of its two sources' lengths."""
    out = dict(mixed)
    for m in MODALITIES:
        lengths = batch.get(f"{m}_lengths")
        if lengths is not None:
            out[f"{m}_lengths"] = torch.maximum(lengths[pairs[:, 0]], lengths[pairs[:, 1]])
    return out


def step_losses(
    backbone: Backbone,
    method: MixMethod,
    batch: dict[str, torch.Tensor],
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    generator: torch.Generator | None = None,
    mix_loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """The loss of one training batch, composed the same way for every method.

    Returns the (unweighted) terms keyed by :data:`LOSS_PARTS`, where ``total`` is
    ``task + aux + mix_weight·mix + sal_weight·sal``, and the method's diagnostics. The mixed
    term uses ``mix_loss_fn`` (default: the task's ``loss_fn``).
    """
    y = batch["labels"]
    latents, aux = backbone.encode_with_aux(batch)
    task = loss_fn(backbone.head(latents), y).mean()
    if method.stage == "latent":
        res = method(latents, y, generator)
        mixed_pred = backbone.head(res.mixed) if res.num_mixed else None
    else:
        res = method({m: batch[m] for m in MODALITIES}, y, generator)
        mixed_pred = backbone(_mixed_inputs(batch, res.mixed, res.pairs)) if res.num_mixed else None
    mix = res.mix_loss(mixed_pred, mix_loss_fn or loss_fn) if mixed_pred is not None else task.new_zeros(())
    sal = res.alignment_loss.to(task.dtype)
    total = task + aux + method.mix_weight * mix + method.sal_weight * sal
    return {"total": total, "task": task, "mix": mix, "sal": sal, "aux": aux}, res.diagnostics


def check_finite(losses: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], epoch: int, step: int) -> None:
    """Stop a run at the first non-finite loss, naming the input it came from (one scalar sync per step).

    NaN in features, labels or intensities would otherwise flow silently into the mixed batch, SAL
    and the weights; the inputs are only searched once the total loss is already non-finite.
    """
    if bool(torch.isfinite(losses["total"])):
        return
    bad_inputs = [k for k, v in batch.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad_inputs:
        cause = f"the batch's {', '.join(bad_inputs)} hold NaN or infinite values: clean the data (set them to 0)"
    else:
        bad_terms = [k for k in LOSS_PARTS[1:] if not bool(torch.isfinite(losses[k]))]
        cause = f"the {', '.join(bad_terms) or 'total'} loss diverged: lower the learning rate or clip gradients"
    raise MsmixError(f"training stopped at epoch {epoch}, batch {step}: the loss is not finite; {cause}")


@torch.no_grad()
def predict(backbone: Backbone, loader: Any) -> tuple[np.ndarray, np.ndarray]:
    """Predictions and labels of a whole loader, in loader order, as float numpy arrays."""
    was_training = backbone.training
    backbone.eval()
    preds, labels = [], []
    for batch in loader:
        preds.append(backbone(batch).reshape(-1).float())
        labels.append(batch["labels"].float())
    backbone.train(was_training)
    return torch.cat(preds).cpu().numpy(), torch.cat(labels).cpu().numpy()


def constant_loss(dataset: MSADataset, loss_fn: Callable, loss: str) -> float:
    """Validation loss of the best constant prediction: the train labels' median (L1) or mean (MSE)."""
    train_y = dataset.train.labels.astype(np.float64)
    constant = float(np.median(train_y) if loss == "l1" else train_y.mean())
    valid_y = torch.from_numpy(dataset.valid.labels)
    return float(loss_fn(torch.full_like(valid_y, constant), valid_y).mean())


def _mean_diagnostics(per_batch: list[dict[str, float]]) -> dict[str, float]:
    """Average each diagnostic over the batches that reported a finite value (NaN if none did)."""
    keys = dict.fromkeys(k for d in per_batch for k in d)
    out = {}
    for key in keys:
        values = [d[key] for d in per_batch if key in d and math.isfinite(d[key])]
        out[key] = float(np.mean(values)) if values else float("nan")
    return out


def _snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _run_config(dataset: MSADataset, config: TrainConfig, device: torch.device, backbone: Backbone) -> dict[str, Any]:
    """What the run store records about a run: every config field, the knobs the backbone adapted to the
    data (``backbone_adaptations``: knob -> value used), the data, the device and versions."""
    return {
        **config.to_dict(),
        "backbone_adaptations": backbone.adaptations,
        "label": config.variant,
        "dataset": dataset.name,
        "dataset_summary": dataset.summary(),
        "dataset_info": dataset.info,
        "device": str(device),
        "torch_threads": torch.get_num_threads(),  # CPU reductions split their sums by it: part of the numbers
        "versions": {
            "msmix": msmix_core.__version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
    }


@torch.no_grad()
def evaluate(
    backbone: Backbone, loaders: dict[str, Any], loss_fn: Callable, dataset_metrics: str
) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """Score each split: its MMSA metrics and its mean task loss, keyed by split name."""
    metrics, losses = {}, {}
    for split, loader in loaders.items():
        pred, y = predict(backbone, loader)
        losses[split] = float(loss_fn(torch.from_numpy(pred), torch.from_numpy(y)).mean())
        metrics[split] = mmsa_metrics(pred, y, dataset_metrics)
    return metrics, losses


class RecordRun(Callback):
    """Records a training run into the run store: every epoch, the best results so far, the outcome.

    :func:`train` puts one first among its callbacks when given a ``store``, so the files are
    written before any other observer hears of an epoch or of the end.
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
        if self.run.status == "running":
            status = "interrupted" if isinstance(error, KeyboardInterrupt) else "failed"
            self.run.finish(status, error=f"{type(error).__name__}: {error}")


def train(
    dataset: MSADataset,
    config: TrainConfig,
    *,
    callbacks: Sequence[object] = (),
    stop: StopFlag | None = None,
    store: RunStore | None = None,
) -> TrainResult:
    """Train ``config.backbone`` with ``config.method`` on ``dataset``; see the module docstring.

    Every epoch trains on the train split, scores valid and test, and emits ``on_epoch_end``.
    Training ends after ``config.epochs`` epochs, after ``config.patience`` epochs without a
    validation-loss improvement, or after the batch during which ``stop`` is set (that partial
    epoch is still scored; status ``"stopped"``). The best-validation state is loaded back and
    its metrics returned. With a ``store``, the run is recorded as it goes.
    """
    start = time.perf_counter()
    device = resolve_device(config.device)
    backbone, method = build_models(dataset, config, device)
    generator = torch.Generator(device=device).manual_seed(config.seed)  # mixing draws
    train_loader = make_loader(dataset.train, config.batch_size, shuffle=True, seed=config.seed, device=device)
    eval_loaders = {
        split: make_loader(getattr(dataset, split), EVAL_BATCH_SIZE, shuffle=False, seed=config.seed, device=device)
        for split in ("valid", "test")
    }
    optimizer = make_optimizer(backbone, method, config)
    params = optimizer.param_groups[0]["params"]
    loss_fn = LOSSES[config.loss]
    mix_loss_fn = loss_fn if config.mix_loss == "task" else LOSSES[config.mix_loss]
    constant_valid = constant_loss(dataset, loss_fn, config.loss)
    run_config = _run_config(dataset, config, device, backbone)
    run = store.create(run_config) if store is not None else None
    run_id = run.id if run is not None else None
    if run is not None:  # recorded first, so the files are written before any observer hears of them
        callbacks = [RecordRun(run, config.save_weights), *callbacks]
    steps_per_epoch = len(train_loader)
    status, history = "finished", []
    best_valid, best_epoch, best_state = math.inf, 0, None
    try:
        _emit(callbacks, "on_train_start", {"config": run_config, "run_id": run_id, "steps_per_epoch": steps_per_epoch})
        _emit(callbacks, "on_epoch_models", 0, backbone, method)
        for epoch in range(1, config.epochs + 1):
            epoch_start = time.perf_counter()
            lr = get_lr(epoch, config)
            for group in optimizer.param_groups:
                group["lr"] = lr
            backbone.train()
            method.train()
            sums, seen, diagnostics = torch.zeros(len(LOSS_PARTS), device=device), 0, []
            for step, batch in enumerate(train_loader, 1):
                losses, batch_diagnostics = step_losses(backbone, method, batch, loss_fn, generator, mix_loss_fn)
                check_finite(losses, batch, epoch, step)
                optimizer.zero_grad(set_to_none=True)
                losses["total"].backward()
                if config.grad_clip is not None:
                    nn.utils.clip_grad_value_(params, config.grad_clip)  # MMSA clips values, not the norm
                optimizer.step()
                n = batch["labels"].shape[0]
                sums += torch.stack([losses[k].detach().float() for k in LOSS_PARTS]) * n
                seen += n
                diagnostics.append(batch_diagnostics)
                _emit(callbacks, "on_batch_end", step, steps_per_epoch)
                if stop is not None and stop.is_set():
                    status = "stopped"
                    break

            metrics, eval_losses = evaluate(backbone, eval_loaders, loss_fn, dataset.metrics)
            train_losses = dict(zip(LOSS_PARTS, (sums / max(seen, 1)).tolist(), strict=True))
            losses = {"train": train_losses.pop("total"), **train_losses, **eval_losses}
            losses["valid_constant"] = constant_valid
            score = losses["valid"] if math.isfinite(losses["valid"]) else math.inf
            improved = best_state is None or score <= best_valid - MIN_IMPROVEMENT
            if improved:
                best_valid, best_epoch = score, epoch
                best_state = {"backbone": _snapshot(backbone), "method": _snapshot(method)}
            now = time.perf_counter()
            event = EpochEvent(
                epoch=epoch,
                losses=losses,
                valid_metrics=metrics["valid"],
                test_metrics=metrics["test"],
                diagnostics=_mean_diagnostics(diagnostics),
                wall_time=now - epoch_start,
                elapsed=now - start,
                best_epoch=best_epoch,
                improved=improved,
                lr=lr,
            )
            history.append(event.to_dict())
            _emit(callbacks, "on_epoch_end", event)
            _emit(callbacks, "on_epoch_models", epoch, backbone, method)
            if stop is not None and stop.is_set():
                status = "stopped"
            if status == "stopped" or epoch - best_epoch >= config.patience:
                break

        backbone.load_state_dict(best_state["backbone"])
        method.load_state_dict(best_state["method"])
        best = history[best_epoch - 1]
        result = TrainResult(
            config=config,
            status=status,
            best_epoch=best_epoch,
            valid_metrics=best["valid_metrics"],
            test_metrics=best["test_metrics"],
            history=history,
            backbone=backbone,
            method=method,
            run_id=run_id,
            wall_time=time.perf_counter() - start,
            device=str(device),
        )
        _emit(callbacks, "on_train_end", result)
    except BaseException as error:
        _emit(callbacks, "on_train_error", error)
        raise
    return result
