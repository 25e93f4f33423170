"""Methods by name, with their knobs checked before any training starts."""

from __future__ import annotations

import inspect
import math
import numbers
from dataclasses import dataclass
from typing import Any

from msmix_core import MODALITIES
from msmix_core.errors import MsmixError
from msmix_core.mixing.base import MixMethod
from msmix_core.mixing.methods import CMixup, ManifoldMixup, Mixup, MSMix, MultiMix, NoMix, PowMix

#: Registry key -> class. ``msmix_guard`` is MS-Mix with the label-aware guard switched on.
METHODS: dict[str, type[MixMethod]] = {
    "none": NoMix,
    "mixup": Mixup,
    "manifold": ManifoldMixup,
    "cmixup": CMixup,
    "multimix": MultiMix,
    "powmix": PowMix,
    "msmix": MSMix,
    "msmix_guard": MSMix,
}

#: Knobs a registry entry fixes (they are not knobs of that entry any more).
_FIXED: dict[str, dict[str, Any]] = {"msmix_guard": {"label_guard": True}}


@dataclass(frozen=True)
class Knob:
    """A method's knob: its default and valid values (the app builds its widgets from these).

    ``kind`` is ``"bool"``, ``"int"`` (``None`` allowed when the default is None) or ``"float"``;
    numbers must lie between ``low`` and ``high`` (``low`` excluded unless ``low_inclusive``).
    """

    default: Any
    kind: str
    low: float = -math.inf
    high: float = math.inf
    low_inclusive: bool = True

    def describe(self) -> str:
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


_POSITIVE = {"low": 0.0, "low_inclusive": False}
#: Valid values of every knob name used by the methods (the same name means the same range).
_RANGES: dict[str, dict[str, Any]] = {
    "alpha": _POSITIVE,
    "sigma": _POSITIVE,
    "power": _POSITIVE,
    "min_mix": _POSITIVE,
    "max_mix": _POSITIVE,
    "threshold": {"low": 0.0, "high": 1.0},
    "mix_weight": {"low": 0.0},
    "sal_weight": {"low": 0.0},
    "num_mix": {"low": 1},
    "num_heads": {"low": 1},
    "max_sources": {"low": 2},
}


def _lookup(name: str) -> type[MixMethod]:
    if name not in METHODS:
        raise MsmixError(f"unknown mixing method {name!r}: choose one of {', '.join(METHODS)}")
    return METHODS[name]


def method_knobs(name: str) -> dict[str, Knob]:
    """A method's knobs (constructor arguments besides ``latent_dims``), each with default and range."""
    params = inspect.signature(_lookup(name).__init__).parameters
    knobs = {}
    for knob, param in params.items():
        if knob in ("self", "latent_dims") or knob in _FIXED.get(name, {}):
            continue
        default = param.default
        kind = "bool" if isinstance(default, bool) else "float" if isinstance(default, float) else "int"
        knobs[knob] = Knob(default, kind, **_RANGES.get(knob, {}))
    return knobs


def describe_methods() -> dict[str, dict[str, Any]]:
    """For each method: a one-line summary, its stage (``latent`` or ``input``) and its knobs."""
    return {
        name: {"summary": inspect.getdoc(cls).splitlines()[0], "stage": cls.stage, "knobs": method_knobs(name)}
        for name, cls in METHODS.items()
    }


def build_method(name: str, latent_dims: dict[str, int] | None = None, **knobs: Any) -> MixMethod:
    """Build a method by registry name with ``knobs`` overriding its defaults.

    Unknown names, unknown knobs and values out of range raise :class:`MsmixError` naming them
    and what is valid. ``latent_dims`` (the backbone's latent size per modality) is needed by
    MS-Mix's intensity predictors and ignored by the other methods.
    """
    cls = _lookup(name)
    valid = method_knobs(name)
    unknown = sorted(set(knobs) - set(valid))
    if unknown:
        raise MsmixError(f"{name}: unknown knob(s) {unknown}; its knobs are {sorted(valid)}")
    for knob, value in knobs.items():
        if not valid[knob].accepts(value):
            raise MsmixError(f"{name}: knob {knob} must be {valid[knob].describe()}, got {value!r}")
    values = {**_FIXED.get(name, {}), **knobs}
    if "min_mix" in valid:
        low, high = (values.get(k, valid[k].default) for k in ("min_mix", "max_mix"))
        if low > high:
            raise MsmixError(f"{name}: min_mix ({low}) must not exceed max_mix ({high})")
    if "latent_dims" in inspect.signature(cls.__init__).parameters:
        values["latent_dims"] = _checked_latent_dims(name, latent_dims)
    return cls(**values)


def _checked_latent_dims(name: str, latent_dims: Any) -> dict[str, int]:
    """``latent_dims`` as MS-Mix's predictors need it: a positive integer feature size for every modality."""
    example = {m: 64 for m in MODALITIES}
    if latent_dims is None:
        raise MsmixError(f"{name} needs the backbone's latent_dims to build its intensity predictors, e.g. {example}")
    if not isinstance(latent_dims, dict):
        raise MsmixError(f"{name}: latent_dims must be a dict like {example}, got {type(latent_dims).__name__}")
    missing = [m for m in MODALITIES if m not in latent_dims]
    if missing:
        raise MsmixError(f"{name}: latent_dims lacks {missing}: give a size for each of {list(MODALITIES)}")
    for m in MODALITIES:
        size = latent_dims[m]
        if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
            raise MsmixError(f"{name}: latent_dims[{m!r}] must be an integer >= 1, got {size!r}")
    return {m: int(latent_dims[m]) for m in MODALITIES}
