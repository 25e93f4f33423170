"""Backbones by name, built with validated size knobs."""

from __future__ import annotations

import inspect
import numbers
from typing import Any

import torch

from msmix_core.errors import MsmixError
from msmix_core.limits import check_size
from msmix_core.models.almt import ALMT
from msmix_core.models.base import Backbone
from msmix_core.models.glomo import GLoMo
from msmix_core.models.late_fusion import LateFusion
from msmix_core.models.lmf import LMF
from msmix_core.models.misa import MISA
from msmix_core.models.mult import MulT
from msmix_core.models.tfn import TFN

#: The largest integer size knob: beyond it a layer's shape alone overflows what torch can index.
MAX_SIZE = 1 << 24
#: The largest float knob that is not a dropout (a loss weight, an output scale): far past any useful
#: value, and what it multiplies stays finite in float32.
MAX_FLOAT = 1e3
#: What a parameter costs in training: float32 weights, their gradient and Adam's two moments.
BYTES_PER_PARAMETER = 16

BACKBONES: dict[str, type[Backbone]] = {cls.name: cls for cls in (LateFusion, TFN, LMF, MulT, MISA, ALMT, GLoMo)}


def knob_defaults(cls: type[Backbone]) -> dict[str, Any]:
    """The size knobs of a backbone class (its keyword-only constructor arguments) and their defaults."""
    params = inspect.signature(cls.__init__).parameters.values()
    return {p.name: p.default for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY}


def _checked_knob(backbone: str, knob: str, value: Any, default: Any) -> Any:
    """One knob as a plain Python value, judged by its default: bools, integers >= 1, floats in [0, MAX_FLOAT]
    (dropouts < 1)."""
    where = f"backbone '{backbone}': knob '{knob}'"
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise MsmixError(f"{where} must be true or false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 1 <= value <= MAX_SIZE:
            raise MsmixError(f"{where} must be an integer >= 1 and at most {MAX_SIZE:,}, got {value!r}")
        return int(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value <= MAX_FLOAT:
        raise MsmixError(f"{where} must be a number in [0, {MAX_FLOAT:g}], got {value!r}")
    if knob.endswith("dropout") and value >= 1:
        raise MsmixError(f"{where} is a dropout probability and must be below 1, got {value!r}")
    return float(value)


def build_backbone(name: str, input_dims: dict[str, int], seq_lens: dict[str, int], **sizes: Any) -> Backbone:
    """Build backbone ``name`` for features of ``input_dims``/``seq_lens`` (a dataset's ``dims``/``seq_lens``).

    ``sizes`` override the documented default knobs (see :func:`describe_backbones`). Unknown
    names, unknown knobs and out-of-range values raise :class:`MsmixError` naming them.
    """
    if name not in BACKBONES:
        raise MsmixError(f"unknown backbone {name!r}: choose one of {', '.join(BACKBONES)}")
    cls = BACKBONES[name]
    defaults = knob_defaults(cls)
    unknown = [knob for knob in sizes if knob not in defaults]
    if unknown:
        raise MsmixError(f"backbone '{name}' has no knob {unknown[0]!r}; its knobs are {', '.join(defaults)}")
    checked = {knob: _checked_knob(name, knob, value, defaults[knob]) for knob, value in sizes.items()}
    if checked:  # the defaults are small; sizes given are weighed first (TFN's fusion grows as their product)
        try:
            with torch.device("meta"):  # shapes without memory
                weighed = cls(input_dims, seq_lens, **checked)
            count = sum(t.numel() for t in (*weighed.parameters(), *weighed.buffers()))
        except (RuntimeError, NotImplementedError):  # a constructor that reads a value (GLoMo): a square layer a knob
            count = sum(v * v for v in checked.values() if isinstance(v, int) and not isinstance(v, bool))
        hint = "choose smaller size knobs (--backbone-set)"
        check_size(BYTES_PER_PARAMETER * count, f"backbone '{name}' with {checked} ({count:,} parameters)", hint)
    return cls(input_dims, seq_lens, **checked)


def data_note(name: str, seq_lens: dict[str, int]) -> str | None:
    """What backbone ``name`` makes of data whose ``seq_lens`` have one step in some modality, if it assumes
    sequences (MulT, ALMT, GLoMo on utterance vectors); None otherwise. The app shows it before a run."""
    cls = BACKBONES.get(name)
    if cls is None or min(seq_lens.values(), default=2) > 1:
        return None
    return cls.one_step_note


def describe_backbones() -> dict[str, dict[str, Any]]:
    """For each backbone: a one-line summary, its paper, whether latents are sequences, and knob defaults."""
    return {
        name: {
            "summary": inspect.getdoc(cls).splitlines()[0],
            "paper": cls.paper,
            "latent_is_sequence": cls.latent_is_sequence,
            "knobs": knob_defaults(cls),
        }
        for name, cls in BACKBONES.items()
    }
