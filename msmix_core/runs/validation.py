"""What a run's config, result and epoch records must hold, checked when they are read from disk or stored.

Every field the listings and tables read is checked for the type they need, so a damaged or foreign
file is reported as a one-line :class:`MsmixError` naming the field, never a crash later in a table.
Integers must fit the tables' 64-bit columns, so a file cannot make a table hold huge Python integers.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import numpy as np

from msmix_core.errors import MsmixError
from msmix_core.runs.files import dumps_json
from msmix_core.runs.identity import EXPERIMENT_KEY_FIELD, experiment_key
from msmix_core.runs.status import STATUSES

#: The config keys a run must have; ``label`` defaults to ``method``, everything else is free.
REQUIRED_CONFIG_KEYS: tuple[str, ...] = ("dataset", "backbone", "method", "seed")


def _is_int(value: Any) -> bool:
    """An integer that fits the tables' 64-bit integer columns (``bool`` is not one)."""
    return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63


def check_config_fields(config: dict, where: str) -> None:
    """The fields tables group and sort by: non-empty strings and an integer seed (``label`` when present)."""
    missing = [key for key in REQUIRED_CONFIG_KEYS if key not in config]
    if missing:
        raise MsmixError(f"{where} lacks {missing}: give at least {list(REQUIRED_CONFIG_KEYS)}")
    for key in ("dataset", "backbone", "method", "label"):
        if key in config and (not isinstance(config[key], str) or not config[key]):
            raise MsmixError(f"{where} {key!r} must be a non-empty string, got {config[key]!r}")
    if not _is_int(config["seed"]):
        raise MsmixError(f"{where} 'seed' must be an integer, got {config['seed']!r}")


def checked_config(config: dict) -> dict:
    """A JSON round-tripped copy of ``config`` (so memory matches disk) with ``label`` filled in."""
    if not isinstance(config, dict):
        raise MsmixError(f"a run config must be a dict, got {type(config).__name__}")
    config = json.loads(dumps_json(config, "run config"))
    if "method" in config:
        config.setdefault("label", config["method"])
    check_config_fields(config, "run config")
    config[EXPERIMENT_KEY_FIELD] = experiment_key(config)  # always recomputed: a copied config may carry another's
    return config


def _check_timestamp(result: dict, key: str, optional: bool, where: str) -> None:
    value = result.get(key)
    if optional and value is None:
        return
    try:
        aware = datetime.fromisoformat(value).tzinfo is not None  # naive and aware times cannot be sorted together
    except (TypeError, ValueError):
        aware = False
    if not aware:
        raise MsmixError(f"{where} has no valid {key!r} timestamp (ISO 8601 with a UTC offset), got {value!r}")


def check_result(result: dict, where: str) -> None:
    """Every field of a run's result that the listings read, with the type they need; the message names the field."""
    if result.get("status") not in STATUSES:
        raise MsmixError(f"{where} has status {result.get('status')!r}, not one of {list(STATUSES)}")
    metrics = result.get("metrics")
    if not isinstance(metrics, dict):
        raise MsmixError(f"{where} has no 'metrics' dict")
    for split, values in metrics.items():
        if not isinstance(values, dict):
            raise MsmixError(f"{where} 'metrics.{split}' holds a {type(values).__name__} where a dict belongs")
        for key, value in values.items():
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise MsmixError(f"{where} 'metrics.{split}.{key}' must be a number, got {value!r}")
    best_epoch = result.get("best_epoch")
    if best_epoch is not None and not _is_int(best_epoch):
        raise MsmixError(f"{where} 'best_epoch' must be an integer or null, got {best_epoch!r}")
    error = result.get("error")
    if error is not None and not isinstance(error, str):
        raise MsmixError(f"{where} 'error' must be a string or null, got {error!r}")
    _check_timestamp(result, "created", optional=False, where=where)
    _check_timestamp(result, "ended", optional=True, where=where)
    process = result.get("process")
    if process is not None and not (
        isinstance(process, dict)
        and _is_int(process.get("pid"))
        and isinstance(process.get("host"), str)
        and isinstance(process.get("started"), str | None)
    ):
        raise MsmixError(f"{where} 'process' must be {{'pid': int, 'host': str, 'started': str or null}}")


def check_history(history: list, where: str, legacy: bool = False) -> None:
    """Every epoch record is a dict; the message names the first that is not, by its line (or its entry, from 0,
    in the one JSON list of a ``legacy`` history).
    """
    for i, record in enumerate(history):
        if not isinstance(record, dict):
            place = f"entry {i}" if legacy else f"line {i + 1}"
            raise MsmixError(f"{where} {place} holds a {type(record).__name__} where a dict belongs")


def check_outcome(metrics: dict | None, best_epoch: int | None) -> None:
    """What a trainer hands a run to store (None: keep what is stored): metric dicts per split, an integer epoch."""
    if metrics is not None and not (isinstance(metrics, dict) and all(isinstance(v, dict) for v in metrics.values())):
        raise MsmixError('run metrics must map splits to metric dicts, e.g. {"valid": {...}, "test": {...}}')
    if best_epoch is not None and (not isinstance(best_epoch, int | np.integer) or isinstance(best_epoch, bool)):
        raise MsmixError(f"best_epoch must be an integer, got {best_epoch!r}")
