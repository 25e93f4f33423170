"""Sweeps: a grid over one or two knobs of a mixing method, checked against the registry's declaration.

``msmix sweep --knob msmix.threshold=0.1:0.9:5 --knob msmix.alpha=0.5,1,2`` trains one variant per
combination of knob values (and per seed); this module turns the ``--knob`` specs into those
variants, each labelled with its values (``msmix threshold=0.1 alpha=0.5``), so the runs can be
found and tabulated later like any other. Every value is checked with the knob's declared range
(:func:`msmix_core.mixing.registry.method_knobs`) before anything trains.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from msmix_core.errors import MsmixError
from msmix_core.mixing.registry import Knob, method_knobs

#: How many knobs one sweep may vary (a table of metric against one or two knob values).
MAX_SWEEP_KNOBS = 2

_EXAMPLE = "e.g. --knob msmix.threshold=0.1:0.9:5 or --knob msmix.alpha=0.5,1,2"


def parse_value(text: str) -> Any:
    """A knob value written on the command line: JSON (numbers, true/false/null, lists), Python's
    True/False/None, or else the text itself."""
    python = {"True": True, "False": False, "None": None}
    if text in python:
        return python[text]
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _number(spec: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise MsmixError(f"--knob {spec!r}: {text!r} is not a number; {_EXAMPLE}")
    return value


def _range(spec: str, text: str, name: str, knob: Knob) -> list[Any]:
    """``LOW:HIGH:COUNT``: COUNT evenly spaced values from LOW to HIGH, both included."""
    parts = text.split(":")
    if len(parts) != 3:
        raise MsmixError(f"--knob {spec!r}: a range is LOW:HIGH:COUNT; {_EXAMPLE}")
    if knob.kind == "bool":
        raise MsmixError(f"--knob {spec!r}: {name} is true or false, not a range: write {name}=true,false")
    low, high = _number(spec, parts[0]), _number(spec, parts[1])
    count = _number(spec, parts[2])
    if count != int(count) or count < 2:
        raise MsmixError(f"--knob {spec!r}: COUNT must be an integer >= 2, got {parts[2]!r}; {_EXAMPLE}")
    values = [float(f"{v:.12g}") for v in np.linspace(low, high, int(count))]  # 0.3, not 0.30000000000000004
    if knob.kind == "int":
        if any(v != int(v) for v in values):
            raise MsmixError(f"--knob {spec!r}: {name} is an integer knob and this range gives {values}: pick ends")
        return [int(v) for v in values]
    return values


def parse_knob_spec(spec: str) -> tuple[str, str, list[Any]]:
    """``METHOD.KNOB=LOW:HIGH:COUNT`` or ``METHOD.KNOB=A,B,C`` -> ``(method, knob, values)``, all checked."""
    name, sep, text = spec.partition("=")
    method, dot, knob_name = name.partition(".")
    if not (sep and dot and method and knob_name and text):
        raise MsmixError(f"--knob {spec!r}: write METHOD.KNOB=LOW:HIGH:COUNT or METHOD.KNOB=A,B,C; {_EXAMPLE}")
    try:
        knobs = method_knobs(method)
    except MsmixError as exc:
        raise MsmixError(f"--knob {spec!r}: {exc}") from None
    if knob_name not in knobs:
        raise MsmixError(f"--knob {spec!r}: {method} has no knob {knob_name!r}; its knobs are {sorted(knobs)}")
    knob = knobs[knob_name]
    if ":" in text:
        values = _range(spec, text, knob_name, knob)
    else:
        values = [parse_value(item.strip()) for item in text.split(",")]
        if knob.kind == "float":  # 1 means 1.0 for a float knob; the label shows it as written
            values = [float(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in values]
    for value in values:
        if not knob.accepts(value):
            raise MsmixError(f"--knob {spec!r}: {value!r} is not valid; {method}.{knob_name} must be {knob.describe()}")
    if len(set(map(repr, values))) != len(values):
        raise MsmixError(f"--knob {spec!r}: a value is given twice; give each value once")
    return method, knob_name, values


def format_value(value: Any) -> str:
    """A knob value as labels show it: ``0.1``, ``2``, ``true``."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def sweep_variants(specs: Sequence[str]) -> tuple[str, dict[str, dict[str, Any]]]:
    """The method and one variant per combination of the specs' values: ``label -> {knob: value}``.

    Labels read ``METHOD KNOB=VALUE [KNOB=VALUE]``, in the order the specs are given.
    """
    if not 1 <= len(specs) <= MAX_SWEEP_KNOBS:
        raise MsmixError(f"--knob: give one or two knobs to sweep, got {len(specs)}; {_EXAMPLE}")
    parsed = [parse_knob_spec(spec) for spec in specs]
    methods = sorted({method for method, _, _ in parsed})
    if len(methods) > 1:
        raise MsmixError(f"--knob: a sweep varies the knobs of one method, got {methods}: sweep each method alone")
    names = [name for _, name, _ in parsed]
    if len(set(names)) != len(names):
        raise MsmixError(f"--knob {names[0]}: given twice; list all its values in one --knob")
    variants = {}
    for combination in itertools.product(*(values for _, _, values in parsed)):
        knobs = dict(zip(names, combination, strict=True))
        label = " ".join([methods[0], *(f"{k}={format_value(v)}" for k, v in knobs.items())])
        variants[label] = knobs
    return methods[0], variants
