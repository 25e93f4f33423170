"""Run identity: which stored runs were trained the same way, all but the seed.

A run's *experiment key* is a short digest of every setting that defines how it trained: the data
(whose name encodes its options: a synthetic preset's seed and changed knobs, a MOSI split and its
share of train videos), the backbone and its knobs, the method and its knobs, and every training
field of :class:`~msmix_core.training.TrainConfig` (recipe, epochs, batch size, lr, loss, mix loss,
patience...). Left out: the seed (runs of one experiment differ in it), the label (a display name,
derived from the rest), the device, whether weights were saved, and what the store records about
the process (versions, threads, ids, timestamps). Runs with the same key are seeds of one
experiment; a comparison pairs two experiments only when their keys differ in the compared factor
alone (:mod:`msmix_core.runs.sets`).

Knobs left at their declared default and fields that are ``None`` are left out of the key, so a run
that wrote ``threshold=0.4`` (the default) and one that did not are one experiment, and a field or
knob added to msmix later (at a default that trains as before) does not change old keys.
"""

from __future__ import annotations

import functools
import hashlib
import json
import numbers
from collections.abc import Collection, Mapping
from typing import Any

#: Where the run store keeps a run's key in its ``config.json``.
EXPERIMENT_KEY_FIELD = "experiment_key"

#: Hex digits of the key: 12 (48 bits) keep collisions out of reach for any store a person keeps.
KEY_LENGTH = 12

#: TrainConfig fields that do not change how a run trains.
NOT_DEFINING: frozenset[str] = frozenset({"seed", "label", "device", "save_weights"})

#: Bumped when the digest's input changes meaning, so that keys of different schemes never meet.
_SCHEME = "msmix-experiment-v1"


@functools.cache
def _train_fields() -> tuple[str, ...]:
    """TrainConfig's defining fields in declaration order (imported here: the trainer imports the store)."""
    import dataclasses

    from msmix_core.training.config import TrainConfig

    return tuple(f.name for f in dataclasses.fields(TrainConfig) if f.name not in NOT_DEFINING)


def _knob_defaults(kind: str, name: Any) -> dict[str, Any]:
    """The declared defaults of a method's or a backbone's knobs; empty for a name msmix no longer knows."""
    return _declared_defaults(kind, name) if isinstance(name, str) else {}


@functools.cache
def _declared_defaults(kind: str, name: str) -> dict[str, Any]:
    """:func:`_knob_defaults` of a name, looked up once per process (a store lists thousands of runs)."""
    if kind == "method":
        from msmix_core.mixing.registry import METHODS, method_knobs

        return {k: knob.default for k, knob in method_knobs(name).items()} if name in METHODS else {}
    from msmix_core.models.registry import BACKBONES, knob_defaults

    return knob_defaults(BACKBONES[name]) if name in BACKBONES else {}


def _same(value: Any, default: Any) -> bool:
    """Equal as a knob value: numbers by value (1 == 1.0), but a switch is never a number."""
    if isinstance(value, bool) or isinstance(default, bool):
        return isinstance(value, bool) and isinstance(default, bool) and value == default
    return value == default


def experiment_fields(config: Mapping[str, Any]) -> dict[str, Any]:
    """The settings that define how a run trained, flattened for diffs and display.

    ``dataset``, ``backbone`` and its knobs as ``backbone.<knob>``, ``method`` and its knobs as
    ``method.<knob>`` (those at their declared default left out), then every other defining
    TrainConfig field that is not ``None``. Keys not defining a run (seed, label, device, versions,
    ids...) are ignored, so this accepts a stored run's ``config.json`` or ``TrainConfig.to_dict()``.
    """
    out: dict[str, Any] = {}
    if config.get("dataset") is not None:
        out["dataset"] = config["dataset"]
    for kind in ("backbone", "method"):
        name = config.get(kind)
        if name is not None:
            out[kind] = name
        knobs = config.get(f"{kind}_kwargs") or {}
        defaults = _knob_defaults(kind, name)
        if isinstance(knobs, Mapping):
            for knob in sorted(knobs, key=str):
                if not (knob in defaults and _same(knobs[knob], defaults[knob])):
                    out[f"{kind}.{knob}"] = knobs[knob]
    for name in _train_fields():
        if name not in ("backbone", "method", "backbone_kwargs", "method_kwargs") and config.get(name) is not None:
            out[name] = config[name]
    return out


def _canonical(value: Any) -> Any:
    """A value as the digest sees it: numbers as floats (so 3 and 3.0 agree), containers recursively."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return str(value)


def fields_key(fields: Mapping[str, Any]) -> str:
    """The digest of some settings (:func:`experiment_fields`, or those less a compared factor)."""
    text = json.dumps([_SCHEME, _canonical(dict(fields))], sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()[:KEY_LENGTH]


def experiment_key(config: Mapping[str, Any]) -> str:
    """A run's experiment key: 12 hex digits of sha256 over :func:`experiment_fields` as canonical JSON.

    The same in every process and on every machine (no ``hash()``). It is computed from the config,
    never read from its :data:`EXPERIMENT_KEY_FIELD`: :attr:`Run.experiment_key` reads the stored one.
    """
    return fields_key(experiment_fields(config))


def in_factor(field: str, factor: Collection[str]) -> bool:
    """Whether ``field`` belongs to a compared factor: ``"method"`` covers the method and its knobs."""
    return any(field == name or field.startswith(f"{name}.") for name in factor)


def settings_fields(config: Mapping[str, Any], factor: Collection[str]) -> dict[str, Any]:
    """The defining settings less the compared factor's: runs that share these may be compared."""
    return {k: v for k, v in experiment_fields(config).items() if not in_factor(k, factor)}
