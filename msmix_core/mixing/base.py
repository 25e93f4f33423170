"""The interface every mixing method implements, so the trainer can swap them."""

from __future__ import annotations

import inspect
from dataclasses import replace
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from msmix_core.errors import MsmixError
from msmix_core.mixing.knobs import MIX_WEIGHT, Knob
from msmix_core.mixing.result import MixResult

#: Where a method mixes: the unimodal latents between ``encode`` and ``head``, or the raw inputs.
Stage = Literal["latent", "input"]

#: Constructor arguments that are not knobs: the backbone's latent sizes MS-Mix's predictors need.
NOT_KNOBS = ("self", "latent_dims")


class MixMethod(nn.Module):
    """Base class of the mixup methods.

    Subclasses set ``name`` (the registry key), ``stage`` (``"latent"`` methods mix the unimodal
    latent features between a backbone's ``encode`` and ``head``; ``"input"`` methods, vanilla
    Mixup, mix the raw input features before ``encode``) and ``knobs``: one :class:`Knob` per
    constructor argument (its default is filled in from the signature when the class is made).
    Their ``__init__`` passes every knob to this one, which checks and stores them.
    ``mix_weight`` scales the mixed-sample loss and ``sal_weight`` the result's
    ``alignment_loss`` in the trainer's loss, so every method is trained with the same loss.
    """

    name: ClassVar[str] = ""
    stage: ClassVar[Stage] = "latent"
    knobs: ClassVar[dict[str, Knob]] = {"mix_weight": MIX_WEIGHT}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" not in vars(cls):  # a shared helper base (or a subclass keeping its parent's knobs)
            return
        params = {k: p for k, p in inspect.signature(cls.__init__).parameters.items() if k not in NOT_KNOBS}
        if set(params) != set(cls.knobs):
            raise TypeError(
                f"{cls.__name__}: constructor arguments {sorted(params)} != declared knobs {sorted(cls.knobs)}"
            )
        cls.knobs = {k: replace(cls.knobs[k], default=p.default) for k, p in params.items()}

    def __init__(self, **knobs: Any) -> None:
        super().__init__()
        if set(knobs) != set(self.knobs):
            raise TypeError(f"{type(self).__name__} passes {sorted(knobs)}, not its knobs {sorted(self.knobs)}")
        self.sal_weight = 0.0
        for knob, value in knobs.items():
            declared = self.knobs[knob]
            if not declared.accepts(value):
                raise MsmixError(f"{self.name}: knob {knob} must be {declared.describe()}, got {value!r}")
            setattr(self, knob, declared.cast(value))

    def forward(
        self,
        features: dict[str, torch.Tensor],
        labels: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> MixResult:
        """Mix a batch: ``features`` modality -> ``[B, D]`` or ``[B, T, D]``, ``labels`` ``[B]``."""
        raise NotImplementedError
