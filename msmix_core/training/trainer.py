"""The training loop: one readable function, the same loss for every mixing method.

:func:`train` builds the models, then for each epoch :func:`train_one_epoch` (the train split) and
:func:`evaluate` (valid and test), keeping the best-validation weights. Every method is trained with
the loss of the released code (:func:`step_losses`):

    task(clean) + backbone auxiliary + mix_weight · mixed-sample loss + sal_weight · alignment loss

The mixed-sample loss is always an element-wise MSE against both source labels, weighted by the
label ratio, as in every released trainer (``mix_loss="task"`` uses the task loss instead; with L1 its
optimum is the dominant source's label, not the mixed one: see ``docs/findings.md``). The test split
is scored with the best-validation checkpoint. What a run is configured with lives in
:mod:`~msmix_core.training.config`; what it tells its observers in :mod:`~msmix_core.training.events`.
"""

from __future__ import annotations

import math
import platform
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

import msmix_core
from msmix_core import MODALITIES
from msmix_core.data.batching import SplitLoader
from msmix_core.data.schema import MSADataset
from msmix_core.device import resolve_device
from msmix_core.errors import MsmixError
from msmix_core.metrics import mmsa_metrics
from msmix_core.mixing.base import MixMethod
from msmix_core.mixing.registry import build_method
from msmix_core.models.base import Backbone
from msmix_core.models.registry import build_backbone
from msmix_core.runs.status import RunStatus
from msmix_core.training.config import LOSSES, TrainConfig
from msmix_core.training.events import EpochEvent, RecordRun, StopFlag, TrainResult, emit

if TYPE_CHECKING:
    from msmix_core.runs.store import RunStore

#: Batch size for scoring the valid and test splits (it does not change the metrics).
EVAL_BATCH_SIZE = 256

#: A validation loss must drop by more than this to count as an improvement (MMSA's rule).
MIN_IMPROVEMENT = 1e-6

#: Loss terms reported per epoch, in the order ``step_losses`` returns them; ``train`` is what the optimiser minimises.
LOSS_PARTS: tuple[str, ...] = ("train", "task", "mix", "sal", "aux")


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
    train_loader = SplitLoader(dataset.train, config.batch_size, shuffle=True, seed=config.seed, device=device)
    eval_loaders = {
        split: SplitLoader(getattr(dataset, split), EVAL_BATCH_SIZE, shuffle=False, seed=config.seed, device=device)
        for split in ("valid", "test")
    }
    optimizer = make_optimizer(backbone, method, config)
    constant_valid = constant_loss(dataset, LOSSES[config.loss], config.loss)
    run_config = _run_config(dataset, config, device, backbone)
    run = store.create(run_config) if store is not None else None
    run_id = run.id if run is not None else None
    if run is not None:  # recorded first, so the files are written before any observer hears of them
        callbacks = [RecordRun(run, config.save_weights), *callbacks]
    status, history, best = RunStatus.FINISHED, [], _Best()
    try:
        info = {"config": run_config, "run_id": run_id, "steps_per_epoch": len(train_loader)}
        emit(callbacks, "on_train_start", info)
        emit(callbacks, "on_epoch_models", 0, backbone, method)
        for epoch in range(1, config.epochs + 1):
            epoch_start = time.perf_counter()
            lr = get_lr(epoch, config)
            for group in optimizer.param_groups:
                group["lr"] = lr
            losses, diagnostics = train_one_epoch(
                backbone, method, train_loader, optimizer, config, generator, epoch, callbacks, stop
            )
            metrics, eval_losses = evaluate(backbone, eval_loaders, LOSSES[config.loss], dataset.metrics)
            losses |= {**eval_losses, "valid_constant": constant_valid}
            improved = best.update(epoch, losses["valid"], backbone, method)
            now = time.perf_counter()
            event = EpochEvent(
                epoch=epoch,
                losses=losses,
                valid_metrics=metrics["valid"],
                test_metrics=metrics["test"],
                diagnostics=diagnostics,
                wall_time=now - epoch_start,
                elapsed=now - start,
                best_epoch=best.epoch,
                improved=improved,
                lr=lr,
            )
            history.append(event.to_dict())
            emit(callbacks, "on_epoch_end", event)
            emit(callbacks, "on_epoch_models", epoch, backbone, method)
            if stop is not None and stop.is_set():
                status = RunStatus.STOPPED
                break
            if epoch - best.epoch >= config.patience:
                break

        best.load_into(backbone, method)
        result = TrainResult(
            config=config,
            status=status,
            best_epoch=best.epoch,
            valid_metrics=history[best.epoch - 1]["valid_metrics"],
            test_metrics=history[best.epoch - 1]["test_metrics"],
            history=history,
            backbone=backbone,
            method=method,
            run_id=run_id,
            wall_time=time.perf_counter() - start,
            device=str(device),
        )
        emit(callbacks, "on_train_end", result)
    except BaseException as error:
        emit(callbacks, "on_train_error", error)
        raise
    return result


def train_one_epoch(
    backbone: Backbone,
    method: MixMethod,
    loader: Any,
    optimizer: torch.optim.Optimizer,
    config: TrainConfig,
    generator: torch.Generator,
    epoch: int,
    callbacks: Sequence[object] = (),
    stop: StopFlag | None = None,
) -> tuple[dict[str, float], dict[str, float]]:
    """One pass over the train ``loader`` (up to the batch during which ``stop`` is set).

    Returns the epoch means of the loss terms (:data:`LOSS_PARTS`, weighted by batch size) and of
    the method's diagnostics. Emits ``on_batch_end`` after each optimiser step.
    """
    loss_fn = LOSSES[config.loss]
    mix_loss_fn = loss_fn if config.mix_loss == "task" else LOSSES[config.mix_loss]
    params = optimizer.param_groups[0]["params"]
    backbone.train()
    method.train()
    sums, seen, diagnostics = torch.zeros(len(LOSS_PARTS), device=generator.device), 0, []
    for step, batch in enumerate(loader, 1):
        losses, batch_diagnostics = step_losses(backbone, method, batch, loss_fn, generator, mix_loss_fn)
        check_finite(losses, batch, epoch, step)
        optimizer.zero_grad(set_to_none=True)
        losses["train"].backward()
        if config.grad_clip is not None:
            nn.utils.clip_grad_value_(params, config.grad_clip)  # MMSA clips values, not the norm
        optimizer.step()
        n = batch["labels"].shape[0]
        sums += torch.stack([losses[k].detach().float() for k in LOSS_PARTS]) * n
        seen += n
        diagnostics.append(batch_diagnostics)
        emit(callbacks, "on_batch_end", step, len(loader))
        if stop is not None and stop.is_set():
            break
    return dict(zip(LOSS_PARTS, (sums / max(seen, 1)).tolist(), strict=True)), _mean_diagnostics(diagnostics)


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


class _Best:
    """The best-validation checkpoint so far: an improvement is a drop by more than :data:`MIN_IMPROVEMENT`."""

    def __init__(self) -> None:
        self.valid, self.epoch, self.state = math.inf, 0, None

    def update(self, epoch: int, valid: float, backbone: Backbone, method: MixMethod) -> bool:
        """Keep a copy of the weights if ``valid`` improves on the best so far (the first epoch always does)."""
        score = valid if math.isfinite(valid) else math.inf
        if self.state is not None and score > self.valid - MIN_IMPROVEMENT:
            return False
        self.valid, self.epoch = score, epoch
        self.state = {"backbone": _snapshot(backbone), "method": _snapshot(method)}
        return True

    def load_into(self, backbone: Backbone, method: MixMethod) -> None:
        backbone.load_state_dict(self.state["backbone"])
        method.load_state_dict(self.state["method"])


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

    Returns the (unweighted) terms keyed by :data:`LOSS_PARTS`, where ``train`` (what the optimiser minimises) is
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
    loss = task + aux + method.mix_weight * mix + method.sal_weight * sal
    return {"train": loss, "task": task, "mix": mix, "sal": sal, "aux": aux}, res.diagnostics


def check_finite(losses: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], epoch: int, step: int) -> None:
    """Stop a run at the first non-finite loss, naming the input it came from (one scalar sync per step).

    NaN in features, labels or intensities would otherwise flow silently into the mixed batch, SAL
    and the weights; the inputs are only searched once the training loss is already non-finite.
    """
    if bool(torch.isfinite(losses["train"])):
        return
    bad_inputs = [k for k, v in batch.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad_inputs:
        cause = f"the batch's {', '.join(bad_inputs)} hold NaN or infinite values: clean the data (set them to 0)"
    else:
        bad_terms = [k for k in LOSS_PARTS[1:] if not bool(torch.isfinite(losses[k]))]
        cause = f"the {', '.join(bad_terms) or 'training'} loss diverged: lower the learning rate or clip gradients"
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
        "label": config.display_label,
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
