"""Methods by name, with their knobs checked before any training starts."""

from __future__ import annotations

import inspect
from typing import Any

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

_PRESET_KNOBS: dict[str, dict[str, Any]] = {"msmix_guard": {"label_guard": True}}

#: Valid ranges of the numeric knobs: (low, high, low inclusive). Booleans must be bools.
_RANGES: dict[str, tuple[float, float, bool]] = {
    "alpha": (0.0, float("inf"), False),
    "threshold": (0.0, 1.0, True),
    "sigma": (0.0, float("inf"), False),
    "power": (0.0, float("inf"), False),
    "mix_weight": (0.0, float("inf"), True),
    "sal_weight": (0.0, float("inf"), True),
    "min_mix": (0.0, float("inf"), False),
    "max_mix": (0.0, float("inf"), False),
}
_INTEGERS = {"num_mix": 1, "num_heads": 1, "max_sources": 2}


def method_knobs(name: str) -> dict[str, Any]:
    """A method's knobs and their defaults (the app builds its sliders from this)."""
    cls = _lookup(name)
    params = inspect.signature(cls.__init__).parameters
    knobs = {k: p.default for k, p in params.items() if k not in ("self", "latent_dims")}
    return {**knobs, **_PRESET_KNOBS.get(name, {})}


def _lookup(name: str) -> type[MixMethod]:
    if name not in METHODS:
        raise MsmixError(f"unknown mixing method {name!r}: choose one of {', '.join(METHODS)}")
    return METHODS[name]


def _check_knob(method: str, knob: str, value: Any, default: Any) -> None:
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise MsmixError(f"{method}: knob {knob} must be true or false, got {value!r}")
    elif knob in _INTEGERS:
        low = _INTEGERS[knob]
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < low):
            raise MsmixError(f"{method}: knob {knob} must be an integer >= {low}, got {value!r}")
    elif knob in _RANGES:
        low, high, inclusive = _RANGES[knob]
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        ok = ok and (value >= low if inclusive else value > low) and value <= high
        if not ok:
            bracket = "[" if inclusive else "("
            raise MsmixError(f"{method}: knob {knob} must lie in {bracket}{low}, {high}], got {value!r}")


def build_method(name: str, latent_dims: dict[str, int] | None = None, **knobs: Any) -> MixMethod:
    """Build a method by registry name; unknown names and bad knob values raise :class:`MsmixError`."""
    cls = _lookup(name)
    defaults = method_knobs(name)
    unknown = sorted(set(knobs) - set(defaults))
    if unknown:
        raise MsmixError(f"{name}: unknown knob(s) {unknown}; its knobs are {sorted(defaults)}")
    values = {**_PRESET_KNOBS.get(name, {}), **knobs}
    for knob, value in values.items():
        _check_knob(name, knob, value, defaults[knob])
    if "min_mix" in defaults and values.get("min_mix", defaults["min_mix"]) > values.get(
        "max_mix", defaults["max_mix"]
    ):
        raise MsmixError(f"{name}: min_mix must not exceed max_mix")
    if "latent_dims" in inspect.signature(cls.__init__).parameters:
        if latent_dims is None:
            raise MsmixError(f"{name} needs the backbone's latent_dims to build its intensity predictors")
        values["latent_dims"] = latent_dims
    return cls(**values)
