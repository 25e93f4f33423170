"""Methods by name, with their knobs checked before any training starts."""

from __future__ import annotations

import inspect
import numbers
from typing import Any

from msmix_core import MODALITIES
from msmix_core.errors import MsmixError
from msmix_core.mixing.base import MixMethod
from msmix_core.mixing.knobs import Knob
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


def _lookup(name: str) -> type[MixMethod]:
    if name not in METHODS:
        raise MsmixError(f"unknown mixing method {name!r}: choose one of {', '.join(METHODS)}")
    return METHODS[name]


def method_knobs(name: str) -> dict[str, Knob]:
    """A method's knobs as its class declares them (constructor arguments besides ``latent_dims``)."""
    fixed = _FIXED.get(name, {})
    return {knob: declared for knob, declared in _lookup(name).knobs.items() if knob not in fixed}


def describe_methods() -> dict[str, dict[str, Any]]:
    """For each method: a one-line summary, its stage (``latent`` or ``input``) and its knobs."""
    return {
        name: {"summary": inspect.getdoc(cls).splitlines()[0], "stage": cls.stage, "knobs": method_knobs(name)}
        for name, cls in METHODS.items()
    }


def build_method(name: str, latent_dims: dict[str, int] | None = None, **knobs: Any) -> MixMethod:
    """Build a method by registry name with ``knobs`` overriding its defaults.

    Unknown names and knobs raise :class:`MsmixError` naming what is valid; the class checks the
    values. ``latent_dims`` (the backbone's latent size per modality) is needed by MS-Mix's
    intensity predictors and ignored by the other methods.
    """
    cls = _lookup(name)
    valid = method_knobs(name)
    unknown = sorted(set(knobs) - set(valid))
    if unknown:
        raise MsmixError(f"{name}: unknown knob(s) {unknown}; its knobs are {sorted(valid)}")
    values = {**_FIXED.get(name, {}), **knobs}
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
