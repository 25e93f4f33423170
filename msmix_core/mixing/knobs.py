"""A mixing method's knobs, declared once on its class: kind, valid range, a suggested range, a one-line doc.

The constructor's signature holds each default (as in timm's ``Mixup``); the class's ``knobs``
holds the rest, and :class:`~msmix_core.mixing.base.MixMethod` checks every value against it when
the method is built. The registry, ``--set``, sweeps, the Optuna space and the app's sliders all
read the same declaration. The shared knobs are declared here, with the defaults that more than one
place needs (a signature then reads ``MIX_WEIGHT.default``).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, replace
from typing import Any, Literal

KnobKind = Literal["bool", "int", "float"]


@dataclass(frozen=True)
class Knob:
    """One knob: its default and valid values.

    ``kind`` is ``"bool"``, ``"int"`` (``None`` allowed when the default is None) or ``"float"``;
    numbers must lie between ``low`` and ``high`` (``low`` excluded unless ``low_inclusive``); a float
    knob's range is finite at both ends, so no value a user types overflows float32 downstream.
    ``suggested`` ``(low, high, log)`` is where sliders and tuning look when the valid range is wider
    than worth searching (``alpha`` in [0.001, 10000]); a valid range with no suggestion is its own.
    """

    default: Any = None
    kind: KnobKind = "float"
    low: float = -math.inf
    high: float = math.inf
    low_inclusive: bool = True
    doc: str = ""
    suggested: tuple[float, float, bool] | None = None

    def __post_init__(self) -> None:
        if self.kind == "float" and not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ValueError(f"a float knob needs a finite range, got [{self.low}, {self.high}]: {self.doc}")

    def describe(self) -> str:
        """The valid values in words, as error messages and ``--help`` show them."""
        if self.kind == "bool":
            return "true or false"
        bracket = "[" if self.low_inclusive else "("
        span = f"in {bracket}{self.low:g}, {self.high:g}]" if math.isfinite(self.high) else None
        lower = f">= {self.low:g}" if self.low_inclusive else f"> {self.low:g}"
        text = f"{'an integer' if self.kind == 'int' else 'a number'} {span or lower}"
        return text + (" or None" if self.default is None else "")

    def accepts(self, value: Any) -> bool:
        if self.kind == "bool":
            return isinstance(value, bool)
        if value is None:
            return self.default is None
        number = numbers.Integral if self.kind == "int" else numbers.Real
        if isinstance(value, bool) or not isinstance(value, number) or not math.isfinite(value):
            return False
        above = value >= self.low if self.low_inclusive else value > self.low
        return above and value <= self.high

    def cast(self, value: Any) -> Any:
        """An accepted value as the method stores it (``2`` -> ``2.0`` for a float knob)."""
        if value is None or self.kind == "bool":
            return value
        return float(value) if self.kind == "float" else int(value)

    def search_range(self) -> tuple[float, float, bool] | None:
        """``(low, high, log)`` for a slider or a search: the suggestion, else a float knob's valid range (an integer
        knob's bound, such as 1024 heads, only guards against absurd values: it is not worth searching)."""
        if self.kind == "bool" or self.default is None:
            return None
        if self.suggested is not None:
            return self.suggested
        return (self.low, self.high, False) if self.kind == "float" else None


#: The valid range of a Beta/Dirichlet concentration: below 1e-3 both float32 gamma draws underflow to 0
#: (torch then answers λ = 0.5, not the 0 or 1 a tiny α means); above 1e4 every λ is 0.5 to within 0.4 %.
CONCENTRATION = {"low": 1e-3, "high": 1e4}
#: The valid range of a loss weight: far beyond any useful weight, and its loss term stays finite in float32.
LOSS_WEIGHT = {"low": 0.0, "high": 1e3}

ALPHA = Knob(kind="float", **CONCENTRATION, doc="α of the Beta(α, α) ratio draw", suggested=(0.1, 8.0, True))
#: 0.7 in every method, as in MS-Mix's released training code.
MIX_WEIGHT = Knob(
    0.7,
    kind="float",
    **LOSS_WEIGHT,
    doc="weight of the mixed-sample loss in the trainer's loss",
    suggested=(0.0, 2.0, False),
)
SAL_WEIGHT = Knob(
    kind="float", **LOSS_WEIGHT, doc="weight of MS-Mix's alignment loss (SAL)", suggested=(0.0, 2.0, False)
)
#: MultiMix's paper makes up to 1000 mixed samples per batch; ten times that is the most a batch may ask for.
NUM_MIX = Knob(kind="int", low=1, high=10_000, doc="mixed samples per batch; None: the batch size")

#: MS-Mix's δ and α, the released code's defaults (the paper's text says δ = 0.2), which the functional
#: ``ms_mix`` and SASS over a whole split (``msmix partners``) take too.
THRESHOLD = Knob(0.4, kind="float", low=0.0, high=1.0, doc="SASS's δ: pairs need a normalised similarity above it")
MSMIX_ALPHA = replace(ALPHA, default=2.0)
