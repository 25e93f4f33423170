"""What defines a training run besides the data: :class:`TrainConfig`, its recipes and its validation.

:func:`~msmix_core.training.train` trains with one of three recipes (:data:`RECIPES`), chosen by
``TrainConfig.recipe``:

- ``"mmsa"`` (the default): MMSA's MOSI configs: Adam, lr 1e-3, batch 32, L1 task loss, early
  stopping after 8 epochs without validation improvement;
- ``"release"``: how MS-Mix's released code trains (``trains/ALMT.py``): AdamW (lr 1e-4, weight
  decay 1e-4), a linear warm-up over the first 10 % of the epoch budget and then a cosine decay
  (:func:`~msmix_core.training.get_lr`), batch 64, MSE task loss, up to 200 epochs with a patience of 32;
- ``"glomo"``: the GLoMo paper's MOSI settings (``main_GLoMo.py``): AdamW (lr 4e-5, weight decay
  1e-4), batch 240, L1, 70 epochs and no early stopping; on the ``glomo`` backbone it also sets the
  paper's sizes (d = 48, 16 heads, 4 encoder layers, the code's 2048-wide fusion feed-forward).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from numbers import Integral, Real
from typing import Any

import torch
import torch.nn.functional as F

from msmix_core.errors import MsmixError

#: Element-wise task losses by name (MMSA trains regression with L1; MISA's config uses MSE).
LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "l1": lambda pred, y: F.l1_loss(pred, y, reduction="none"),
    "mse": lambda pred, y: F.mse_loss(pred, y, reduction="none"),
}

#: What the mixed-sample term may use: an element-wise loss by name, or ``"task"`` (the task loss).
MIX_LOSSES: tuple[str, ...] = ("mse", "l1", "task")

OPTIMIZERS: tuple[str, ...] = ("adam", "adamw")
SCHEDULES: tuple[str, ...] = ("constant", "warmup_cosine")


@dataclass(frozen=True)
class Recipe:
    """A named way to train: the values a :class:`TrainConfig` field left at ``None`` takes.

    ``backbone_knobs`` maps a backbone to the knobs the recipe sets on it (a knob given explicitly wins),
    so a paper's sizes and its training are one option together; other backbones train with their own
    defaults. ``doc`` is the one line that help texts show.
    """

    doc: str
    fields: dict[str, Any]
    backbone_knobs: dict[str, dict[str, Any]] = field(default_factory=dict)


#: Training recipes by name. ``release``'s SAL term is a batch mean, so halving the batch doubles SAL's
#: weight relative to the task loss: batch 64 assumed. ``glomo``'s step schedule (x0.1 at epochs 80, 100)
#: never triggers within its 70 epochs, hence constant.
RECIPES: dict[str, Recipe] = {
    "mmsa": Recipe(
        doc="MMSA's MOSI configs (Adam 1e-3, batch 32, L1, patience 8, 30 epochs)",
        fields={
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
    ),
    "release": Recipe(
        doc="MS-Mix's released trainer (AdamW 1e-4, wd 1e-4, warm-up + cosine, batch 64, MSE, patience 32, "
        "200 epochs; it needs far more epochs)",
        fields={
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
    ),
    "glomo": Recipe(
        doc="the GLoMo paper's MOSI settings (AdamW 4e-5, wd 1e-4, batch 240, L1, 70 epochs, no early stop; "
        "on the glomo backbone also d_model 48, 16 heads, 4 layers)",
        fields={
            "optimizer": "adamw",
            "lr": 4e-5,
            "weight_decay": 1e-4,
            "schedule": "constant",
            "warmup": 0.0,
            "batch_size": 240,
            "epochs": 70,
            "patience": 70,
            "loss": "l1",
            "mix_loss": "mse",
        },
        backbone_knobs={"glomo": {"d_model": 48, "num_heads": 16, "layers": 4, "fusion_ffn_dim": 2048}},
    ),
}


def recipes_help() -> str:
    """Each recipe and its one line, for help texts: ``mmsa: MMSA's ...; release: ...``."""
    return "; ".join(f"{name}: {recipe.doc}" for name, recipe in RECIPES.items())


@dataclass
class TrainConfig:
    """Everything that defines a training run besides the data.

    ``recipe`` (:data:`RECIPES`) fills every recipe field left at ``None`` (and the knobs it sets on
    ``backbone`` that ``backbone_kwargs`` does not give): ``optimizer``, ``lr``,
    ``weight_decay``, ``schedule`` (``"constant"`` or ``"warmup_cosine"``), ``warmup`` (the share of
    the epoch budget spent warming up), ``batch_size``, ``epochs`` (a cap), ``patience``, ``loss``
    (the task loss) and ``mix_loss`` (the mixed-sample term's loss). Fields given explicitly win.
    ``label`` names the run in tables (``"msmix -SAL"``); :attr:`display_label` falls back to the method name.
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
        recipe = RECIPES[self.recipe]
        for name, value in recipe.fields.items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        self.backbone_kwargs = {**recipe.backbone_knobs.get(self.backbone, {}), **self.backbone_kwargs}
        self.epochs = _integer("epochs", self.epochs, 1)
        self.batch_size = _integer("batch_size", self.batch_size, 2)
        self.patience = _integer("patience", self.patience, 1)
        self.seed = _integer("seed", self.seed, 0, 2**63 - 1)
        self.lr = _real("lr", self.lr, positive=True, maximum=MAX_LR)
        self.weight_decay = _real("weight_decay", self.weight_decay, positive=False, maximum=MAX_WEIGHT_DECAY)
        self.warmup = _real("warmup", self.warmup, positive=False, maximum=1.0)
        if self.warmup >= 1:
            raise MsmixError(f"TrainConfig.warmup is a share of the epochs in [0, 1), got {self.warmup!r}")
        if self.grad_clip is not None:
            self.grad_clip = _real("grad_clip", self.grad_clip, positive=True, maximum=MAX_GRAD_CLIP)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("schedule", self.schedule, SCHEDULES)
        _choice("loss", self.loss, tuple(LOSSES))
        _choice("mix_loss", self.mix_loss, MIX_LOSSES)
        if not isinstance(self.save_weights, bool):
            raise MsmixError(f"TrainConfig.save_weights must be True or False, got {self.save_weights!r}")

    @property
    def display_label(self) -> str:
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


#: The largest learning rate, weight decay and gradient-norm clip a config takes: far past any useful value,
#: so that no update overflows float32 (an lr of 1e300 is not a float32 at all).
MAX_LR = 10.0
MAX_WEIGHT_DECAY = 10.0
MAX_GRAD_CLIP = 1e6


def _real(name: str, value: Any, *, positive: bool, maximum: float) -> float:
    valid = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
    if not valid or value < 0 or (positive and value == 0) or value > maximum:
        bound = "(0, " if positive else "[0, "
        raise MsmixError(f"TrainConfig.{name} must be a number in {bound}{maximum:g}], got {value!r}")
    return float(value)


#: Torch threads a run trains on, whatever runs it (a grid's executor, the app's encoder), unless asked
#: otherwise: a run's numbers depend on the thread count (the order of its floating-point sums).
THREADS = 1


@contextmanager
def torch_threads(threads: int = THREADS) -> Iterator[None]:
    """Train on ``threads`` torch threads, the process's count restored after: the same numbers in any process."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
