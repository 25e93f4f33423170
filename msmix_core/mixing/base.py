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
    latent features between a backbone's ``encode`` and ``head``; ``"input"`` methods,
    such as ``mixup``, mix the raw input features before ``encode``) and ``knobs``: one :class:`Knob` per
    constructor argument (its default is filled in from the signature when the class is made).
    Their ``__init__`` assigns every knob to an attribute of the same name (so type checkers and IDEs
    see ``self.alpha``), then calls :meth:`_check_knobs`.
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

    mix_weight: float
    #: Only MS-Mix trains with an alignment loss; the other methods' results carry a zero one.
    sal_weight: float = 0.0

    def _check_knobs(self) -> None:
        """Check every knob the constructor stored against its declaration; cast it as declared (2 -> 2.0)."""
        for knob, declared in self.knobs.items():
            if knob not in vars(self):
                raise TypeError(f"{type(self).__name__}.__init__ does not store its knob {knob!r}")
            value = getattr(self, knob)
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
