"""The run store: one folder of plain files per training run, and tables that compare runs over seeds.

A run lives in ``<root>/<run_id>/``::

    config.json    what was trained: dataset, backbone, method, label, seed, every knob, device, versions
    history.json   one record per epoch, as the trainer logged it
    result.json    status, final metrics ({"valid": {...}, "test": {...}}), error, best epoch, timestamps
    weights.pt     optional, the best weights (torch.save; loaded back with weights_only=True)

Every write goes to a temporary file in the same folder, is fsynced and then renamed over the
target with ``os.replace``, so a reader (or a crash) sees the old file or the new one, never half
of one. A new run is assembled in a hidden staging folder and renamed into place, so half-created
runs never show up. Ids are readable, sortable by creation time and never reused, e.g.
``20261124-071502-tfn-msmix-s1-3fa2`` (UTC time, backbone, method, seed, random suffix).

:func:`compare_runs` turns :func:`runs_table` into the numbers papers print: mean ± std over seeds
in MMSA's style and a paired test against a baseline method on the seeds both share.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import pickle
import re
import secrets
import shutil
import socket
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import torch
from scipy import stats

from msmix_core.errors import MsmixError
from msmix_core.metrics import METRIC_KEYS, higher_is_better, is_percent_metric

#: Environment variable that moves the default runs folder (otherwise ``runs/`` in the working directory).
RUNS_DIR_ENV = "MSMIX_RUNS_DIR"

#: A run is ``running`` until it ends as ``finished``, ``stopped`` (by the user), ``failed`` (with an error)
#: or ``interrupted`` (Ctrl-C, SIGTERM; also how a ``running`` run whose process is gone is reported).
STATUSES: tuple[str, ...] = ("running", "finished", "stopped", "failed", "interrupted")

#: A ``running`` run whose process cannot be checked (another host, or a run from before msmix
#: recorded its process) is reported ``interrupted`` when its files have not changed for this long.
ABANDONED_AFTER = timedelta(hours=24)

#: The config keys a run must have; ``label`` defaults to ``method``, everything else is free.
REQUIRED_CONFIG_KEYS: tuple[str, ...] = ("dataset", "backbone", "method", "seed")

CONFIG_FILE, HISTORY_FILE, RESULT_FILE, WEIGHTS_FILE = "config.json", "history.json", "result.json", "weights.pt"

#: The columns :func:`runs_table` always has, before the ``test_*`` and ``valid_*`` metric columns.
TABLE_COLUMNS: tuple[str, ...] = (
    "id",
    "status",
    "dataset",
    "backbone",
    "method",
    "label",
    "seed",
    "epochs",
    "best_epoch",
    "created",
)

#: Tests need at least this many seeds shared with the baseline (a t-test on two pairs has one
#: degree of freedom: it calls 0.0006 MAE "significant" when the two seeds happen to agree); the
#: Wilcoxon test needs more.
MIN_PAIRED_SEEDS = 3
#: Below 6 pairs the two-sided exact Wilcoxon test cannot reach p < 0.05 (its smallest p is 2/2^n).
MIN_WILCOXON_SEEDS = 6

_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# Table order across families: MMSA's accuracies and F1 scores first, then MAE and Corr.
_METRIC_ORDER = [
    key for key in dict.fromkeys(k for keys in METRIC_KEYS.values() for k in keys) if key not in ("MAE", "Corr")
]
_METRIC_ORDER += ["MAE", "Corr"]


def _now() -> datetime:
    return datetime.now(UTC)


def _jsonable(value: Any) -> Any:
    """JSON stand-ins for the numpy/torch numbers and paths that configs and records carry."""
    if isinstance(value, np.generic | np.ndarray | torch.Tensor):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"a {type(value).__name__} is not JSON-serialisable")


def _dumps(value: Any, what: str) -> bytes:
    try:
        return json.dumps(value, indent=2, default=_jsonable).encode()
    except (TypeError, ValueError) as exc:
        raise MsmixError(f"{what} cannot be stored as JSON ({exc}): use numbers, strings, lists and dicts") from exc


def _fsync_dir(folder: Path) -> None:
    """Make a rename inside ``folder`` durable (POSIX only: Windows cannot open a folder)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write ``path`` through ``write(file)`` so that it is replaced whole or not at all.

    The bytes go to a temporary file in the same folder, are fsynced, and the file is renamed
    over ``path`` with ``os.replace``; if anything fails before the rename, ``path`` is untouched.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _write_json(path: Path, value: Any, what: str) -> None:
    data = _dumps(value, what)
    atomic_write(path, lambda file: file.write(data))


def _read_json(path: Path, kind: type) -> Any:
    """The JSON value in ``path``; a MsmixError naming the file when it is missing, cut short or the wrong type."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MsmixError(f"{path.name} is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MsmixError(f"{path.name} is not valid JSON ({exc})") from None
    if not isinstance(value, kind):
        raise MsmixError(f"{path.name} holds a {type(value).__name__} where a {kind.__name__} belongs")
    return value


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:24] or "x"


def _is_int(value: Any) -> bool:
    """An integer that fits the tables' 64-bit integer columns (``bool`` is not one)."""
    return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63


def _check_config_fields(config: dict, where: str) -> None:
    """The fields tables group and sort by: non-empty strings and an integer seed (``label`` when present)."""
    missing = [key for key in REQUIRED_CONFIG_KEYS if key not in config]
    if missing:
        raise MsmixError(f"{where} lacks {missing}: give at least {list(REQUIRED_CONFIG_KEYS)}")
    for key in ("dataset", "backbone", "method", "label"):
        if key in config and (not isinstance(config[key], str) or not config[key]):
            raise MsmixError(f"{where} {key!r} must be a non-empty string, got {config[key]!r}")
    if not _is_int(config["seed"]):
        raise MsmixError(f"{where} 'seed' must be an integer, got {config['seed']!r}")


def _checked_config(config: dict) -> dict:
    """A JSON round-tripped copy of ``config`` (so memory matches disk) with ``label`` filled in."""
    if not isinstance(config, dict):
        raise MsmixError(f"a run config must be a dict, got {type(config).__name__}")
    config = json.loads(_dumps(config, "run config"))
    if "method" in config:
        config.setdefault("label", config["method"])
    _check_config_fields(config, "run config")
    return config


def _check_timestamp(result: dict, key: str, optional: bool) -> None:
    value = result.get(key)
    if optional and value is None:
        return
    try:
        aware = datetime.fromisoformat(value).tzinfo is not None  # naive and aware times cannot be sorted together
    except (TypeError, ValueError):
        aware = False
    if not aware:
        raise MsmixError(f"{RESULT_FILE} has no valid {key!r} timestamp (ISO 8601 with a UTC offset), got {value!r}")


def _check_result(result: dict) -> None:
    """Every field the listings read, with the type they need; the message names the field."""
    if result.get("status") not in STATUSES:
        raise MsmixError(f"{RESULT_FILE} has status {result.get('status')!r}, not one of {list(STATUSES)}")
    metrics = result.get("metrics")
    if not isinstance(metrics, dict):
        raise MsmixError(f"{RESULT_FILE} has no 'metrics' dict")
    for split, values in metrics.items():
        if not isinstance(values, dict):
            raise MsmixError(f"{RESULT_FILE} 'metrics.{split}' holds a {type(values).__name__} where a dict belongs")
        for key, value in values.items():
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise MsmixError(f"{RESULT_FILE} 'metrics.{split}.{key}' must be a number, got {value!r}")
    best_epoch = result.get("best_epoch")
    if best_epoch is not None and not _is_int(best_epoch):
        raise MsmixError(f"{RESULT_FILE} 'best_epoch' must be an integer or null, got {best_epoch!r}")
    error = result.get("error")
    if error is not None and not isinstance(error, str):
        raise MsmixError(f"{RESULT_FILE} 'error' must be a string or null, got {error!r}")
    _check_timestamp(result, "created", optional=False)
    _check_timestamp(result, "ended", optional=True)
    process = result.get("process")
    if process is not None and not (
        isinstance(process, dict)
        and _is_int(process.get("pid"))
        and isinstance(process.get("host"), str)
        and isinstance(process.get("started"), str | None)
    ):
        raise MsmixError(f"{RESULT_FILE} 'process' must be {{'pid': int, 'host': str, 'started': str or null}}")


def _this_process() -> dict[str, Any]:
    """Who trains a run, so that readers can tell a live run from an abandoned one."""
    return {"pid": os.getpid(), "host": socket.gethostname(), "started": _process_started(os.getpid())}


def _process_started(pid: int) -> str | None:
    """The start time of process ``pid`` in clock ticks since boot (Linux), which tells a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # after the command name, which may hold spaces
    return None if fields[0] == "Z" else fields[19]  # a zombie has exited: no start time


def _process_alive(process: dict[str, Any]) -> bool | None:
    """Whether a run's process still runs; None when this machine cannot tell (another host, not POSIX)."""
    if process.get("host") != socket.gethostname() or os.name != "posix":
        return None
    try:
        os.kill(process["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, owned by another user
    started = _process_started(process["pid"])
    if process.get("started") is None:
        return True
    return started == process["started"]  # None: a zombie, or /proc is gone


def _abandoned(path: Path, result: dict) -> bool:
    """A ``running`` run nobody trains any more: its process is gone, or its files are stale beyond ABANDONED_AFTER."""
    if result["status"] != "running":
        return False
    alive = _process_alive(result["process"]) if result.get("process") else None
    if alive is not None:
        return not alive
    newest = max((path / name).stat().st_mtime for name in (CONFIG_FILE, HISTORY_FILE, RESULT_FILE))
    return time.time() - newest > ABANDONED_AFTER.total_seconds()


def _read_run(path: Path) -> Run:
    config = _read_json(path / CONFIG_FILE, dict)
    _check_config_fields(config, CONFIG_FILE)
    history = _read_json(path / HISTORY_FILE, list)
    for i, record in enumerate(history):
        if not isinstance(record, dict):
            raise MsmixError(f"{HISTORY_FILE} entry {i} holds a {type(record).__name__} where a dict belongs")
    result = _read_json(path / RESULT_FILE, dict)
    _check_result(result)
    return Run(path, config, history, result, abandoned=_abandoned(path, result))


class Run:
    """One stored run. Get it from :meth:`RunStore.create` (to write) or :meth:`RunStore.load` (to read).

    A loaded run is a snapshot of its files; load it again to see what a running trainer added since.
    A run stored as ``running`` whose process is gone loads as ``interrupted`` (see :func:`_abandoned`).
    """

    def __init__(self, path: Path, config: dict, history: list, result: dict, abandoned: bool = False) -> None:
        self._path = path
        self._config = config
        self._history = history
        self._result = result
        self._abandoned = abandoned

    def __repr__(self) -> str:
        return f"Run({self.id!r}, status={self.status!r})"

    @property
    def id(self) -> str:
        return self._path.name

    @property
    def path(self) -> Path:
        return self._path

    @property
    def config(self) -> dict:
        return copy.deepcopy(self._config)

    @property
    def history(self) -> list[dict]:
        return copy.deepcopy(self._history)

    @property
    def status(self) -> str:
        return "interrupted" if self._abandoned else self._result["status"]

    @property
    def process(self) -> dict[str, Any] | None:
        """``{"pid", "host", "started"}`` of the process that trains (or trained) the run; None for old runs."""
        return copy.deepcopy(self._result.get("process"))

    @property
    def metrics(self) -> dict[str, dict[str, float]]:
        """Final MMSA metrics per split, ``{"valid": {...}, "test": {...}}``; empty until the trainer gives them."""
        return copy.deepcopy(self._result["metrics"])

    @property
    def error(self) -> str | None:
        return self._result.get("error")

    @property
    def best_epoch(self) -> int | None:
        return self._result.get("best_epoch")

    @property
    def created(self) -> datetime:
        return datetime.fromisoformat(self._result["created"])

    @property
    def ended(self) -> datetime | None:
        ended = self._result.get("ended")
        return None if ended is None else datetime.fromisoformat(ended)

    @property
    def has_weights(self) -> bool:
        return (self._path / WEIGHTS_FILE).is_file()

    def _file(self, name: str) -> Path:
        if not self._path.is_dir():
            raise MsmixError(f"run {self.id!r} was deleted ({self._path} is gone): start a new run")
        return self._path / name

    def _check_running(self, action: str) -> None:
        if self.status != "running":
            raise MsmixError(f"run {self.id!r} already ended as {self.status!r}: cannot {action}")

    def log_epoch(self, record: dict) -> None:
        """Append one epoch's record (losses, metrics, diagnostics...) to ``history.json``."""
        self._check_running("log another epoch")
        if not isinstance(record, dict):
            raise MsmixError(f"an epoch record must be a dict, got {type(record).__name__}")
        history = [*self._history, json.loads(_dumps(record, "epoch record"))]
        _write_json(self._file(HISTORY_FILE), history, "run history")
        self._history = history

    def finish(
        self,
        status: str = "finished",
        metrics: dict | None = None,
        error: str | None = None,
        best_epoch: int | None = None,
    ) -> None:
        """Record the outcome in ``result.json``; arguments left at None keep what is stored.

        ``status="running"`` updates the metrics of a run that goes on; any other status ends it,
        after which the run takes no more epochs or results.
        """
        if status not in STATUSES:
            raise MsmixError(f"unknown run status {status!r}: use one of {list(STATUSES)}")
        self._check_running(f"finish it again as {status!r}")
        if metrics is not None and not (
            isinstance(metrics, dict) and all(isinstance(v, dict) for v in metrics.values())
        ):
            raise MsmixError('run metrics must map splits to metric dicts, e.g. {"valid": {...}, "test": {...}}')
        if best_epoch is not None and (not isinstance(best_epoch, int | np.integer) or isinstance(best_epoch, bool)):
            raise MsmixError(f"best_epoch must be an integer, got {best_epoch!r}")
        updates = {"metrics": metrics, "error": error, "best_epoch": best_epoch}
        result = {**self._result, **{k: v for k, v in updates.items() if v is not None}, "status": status}
        if status != "running":
            result["ended"] = _now().isoformat()
        result = json.loads(_dumps(result, "run result"))
        _write_json(self._file(RESULT_FILE), result, "run result")
        self._result = result

    def save_weights(self, state_dict: dict) -> None:
        """Store ``state_dict`` (any nest of dicts of tensors) as ``weights.pt``, replacing earlier weights."""
        atomic_write(self._file(WEIGHTS_FILE), lambda file: torch.save(state_dict, file))

    def load_weights(self, map_location: str | torch.device = "cpu") -> dict:
        """The saved weights, loaded with ``weights_only=True``: a file holding code is refused, not run."""
        path = self._path / WEIGHTS_FILE
        if not path.is_file():
            raise MsmixError(f"run {self.id!r} has no saved weights ({path} does not exist)")
        try:
            return torch.load(path, map_location=map_location, weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise MsmixError(
                f"{path} cannot be loaded as plain weights ({reason}): it is damaged or not msmix's"
            ) from exc


class RunStore:
    """A folder of runs: create, list, load, delete, and tabulate them.

    ``root`` defaults to ``$MSMIX_RUNS_DIR`` or else ``runs/`` in the working directory; it is
    created on the first :meth:`create`. Several threads or processes may share one store.
    """

    def __init__(self, root: str | Path | None = None) -> None:
        if root is None:
            root = os.environ.get(RUNS_DIR_ENV) or "runs"
        self.root = Path(root).expanduser().resolve()

    def __repr__(self) -> str:
        return f"RunStore({str(self.root)!r})"

    def _new_id(self, config: dict, created: datetime) -> str:
        parts = (f"{created:%Y%m%d-%H%M%S}", _slug(config["backbone"]), _slug(config["method"]), f"s{config['seed']}")
        return "-".join((*parts, secrets.token_hex(2)))

    def create(self, config: dict) -> Run:
        """Start a run with status ``running``; see :data:`REQUIRED_CONFIG_KEYS` and docs/runs.md for keys."""
        result = {"status": "running", "metrics": {}, "error": None, "best_epoch": None}
        result |= {"created": _now().isoformat(), "ended": None, "process": _this_process()}
        return self._publish(_checked_config(config), [], result)

    def record(
        self,
        config: dict,
        history: list[dict],
        *,
        status: str,
        metrics: dict[str, dict[str, float]],
        best_epoch: int | None = None,
        error: str | None = None,
        weights: dict | None = None,
        created: datetime | None = None,
    ) -> Run:
        """Store a run that trained elsewhere (a worker process) in one step, with its outcome.

        The run shows up whole, already ended, or not at all, so a driver that records the runs of
        its workers keeps the store consistent whichever worker dies. ``created`` (aware, default
        now) is when the run started; ``weights`` a state dict saved as ``weights.pt``.
        """
        if status == "running":
            raise MsmixError("record() stores runs that have ended: give their final status, not 'running'")
        if not isinstance(history, list) or not all(isinstance(record, dict) for record in history):
            raise MsmixError("a run history must be a list of epoch records (dicts)")
        started = created or _now()
        result = {"status": status, "metrics": metrics, "error": error, "best_epoch": best_epoch}
        result |= {"created": started.isoformat(), "ended": _now().isoformat(), "process": _this_process()}
        result = json.loads(_dumps(result, "run result"))
        _check_result(result)
        return self._publish(_checked_config(config), json.loads(_dumps(history, "run history")), result, weights)

    def _publish(self, config: dict, history: list, result: dict, weights: dict | None = None) -> Run:
        """Assemble a run in a hidden staging folder, then rename it into place: it never shows up half-made."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MsmixError(f"cannot create the runs folder {self.root} ({exc}): set {RUNS_DIR_ENV}") from exc
        created = datetime.fromisoformat(result["created"])
        while True:
            run_id = self._new_id(config, created)
            staging = self.root / f".{run_id}.new"
            try:
                staging.mkdir()
            except FileExistsError:
                continue
            if not (self.root / run_id).exists():
                break
            staging.rmdir()
        _write_json(staging / CONFIG_FILE, config, "run config")
        _write_json(staging / HISTORY_FILE, history, "run history")
        _write_json(staging / RESULT_FILE, result, "run result")
        if weights is not None:
            atomic_write(staging / WEIGHTS_FILE, lambda file: torch.save(weights, file))
        path = self.root / run_id
        staging.rename(path)
        _fsync_dir(self.root)
        return Run(path, config, history, result)

    def _path(self, run_id: str) -> Path:
        if not isinstance(run_id, str) or not _ID_PATTERN.fullmatch(run_id):
            raise MsmixError(f"{run_id!r} is not a run id: ids look like 20261124-071502-tfn-msmix-s1-3fa2")
        path = self.root / run_id
        if not path.is_dir():
            raise MsmixError(f"no run {run_id!r} in {self.root}: list the runs to see the ids")
        return path

    def _scan(self) -> tuple[list[Run], list[tuple[Path, str]]]:
        runs, damaged = [], []
        if self.root.is_dir():
            for path in sorted(self.root.iterdir()):
                if not path.is_dir() or path.name.startswith("."):
                    continue
                try:
                    runs.append(_read_run(path))
                except MsmixError as exc:
                    damaged.append((path, str(exc)))
        runs.sort(key=lambda run: (run.created, run.id), reverse=True)
        return runs, damaged

    def list(self) -> list[Run]:
        """Every readable run, newest first; damaged folders are left out (see :meth:`damaged`)."""
        return self._scan()[0]

    def damaged(self) -> list[tuple[Path, str]]:
        """``(folder, reason)`` for every run folder that cannot be read."""
        return self._scan()[1]

    def load(self, run_id: str) -> Run:
        """The run with this id; a damaged run raises a MsmixError naming the bad file."""
        path = self._path(run_id)
        try:
            return _read_run(path)
        except MsmixError as exc:
            raise MsmixError(f"run {run_id!r} is damaged: {exc}; repair that file or delete the run") from exc

    def delete(self, run_id: str) -> None:
        """Remove a run's folder, damaged or not. It vanishes from listings at once (renamed aside first)."""
        path = self._path(run_id)
        trash = self.root / f".{run_id}.deleted-{secrets.token_hex(4)}"
        path.rename(trash)
        shutil.rmtree(trash)

    def table(self, runs: Iterable[Run] | None = None) -> pd.DataFrame:
        """:func:`runs_table` of ``runs`` (default: every run in the store)."""
        return runs_table(self.list() if runs is None else runs)


def _metric_rank(key: str) -> tuple[int, str]:
    return (_METRIC_ORDER.index(key) if key in _METRIC_ORDER else len(_METRIC_ORDER), key)


def runs_table(runs: Iterable[Run]) -> pd.DataFrame:
    """A tidy table, one row per run: :data:`TABLE_COLUMNS`, then ``test_<metric>`` and ``valid_<metric>``.

    ``epochs`` counts the epochs the run logged; ``created`` is a UTC timestamp; a metric a run
    does not have (another dataset family, a run that failed) is NaN.
    """
    rows, keys = [], {"test": {}, "valid": {}}
    for run in runs:
        config, metrics = run.config, run.metrics
        row = {column: config.get(column) for column in ("dataset", "backbone", "method", "seed")}
        row |= {"id": run.id, "status": run.status, "label": config.get("label", config["method"])}
        row |= {"epochs": len(run.history), "best_epoch": run.best_epoch, "created": run.created}
        for split, seen in keys.items():
            for key, value in metrics.get(split, {}).items():
                row[f"{split}_{key}"] = value
                seen[key] = None
        rows.append(row)
    metric_columns = [f"{split}_{key}" for split, seen in keys.items() for key in sorted(seen, key=_metric_rank)]
    frame = pd.DataFrame(rows, columns=[*TABLE_COLUMNS, *metric_columns])
    frame = frame.astype({"seed": "Int64", "epochs": "Int64", "best_epoch": "Int64"})
    frame[metric_columns] = frame[metric_columns].astype(float)
    frame["created"] = pd.to_datetime(frame["created"], utc=True)
    return frame


#: The columns of :func:`compare_runs` after the grouping columns.
COMPARE_COLUMNS: tuple[str, ...] = (
    "metric",
    "n_seeds",
    "mean",
    "std",
    "baseline",
    "n_paired",
    "delta",
    "better",
    "p_value",
    "p_wilcoxon",
    "significant",
    "note",
)


def _display_scale(metric: str) -> tuple[float, int]:
    """Papers' scale and decimals: accuracies and F1 ×100 with 2 decimals, MAE and Corr as is with 4."""
    return (100.0, 2) if is_percent_metric(metric) else (1.0, 4)


def _paired_test(x: pd.Series, base: pd.Series, metric: str, alpha: float) -> dict[str, Any]:
    """Paired comparison of a group's per-seed values with the baseline's on the seeds both have."""
    x, base = x.align(base, join="inner")
    diff = (x - base).to_numpy(dtype=float)
    out = {"n_paired": len(diff)}
    if len(diff) < MIN_PAIRED_SEEDS:
        return out | {
            "note": f"fewer than {MIN_PAIRED_SEEDS} seeds shared with the baseline: no test (train more seeds)"
        }
    scale, decimals = _display_scale(metric)
    gain = diff.mean() if higher_is_better(metric) else -diff.mean()
    out |= {"delta": round(diff.mean() * scale, decimals), "better": bool(gain > 0)}
    if np.all(diff == 0):
        return out | {"p_value": 1.0, "p_wilcoxon": 1.0, "significant": False, "note": "identical on every seed"}
    with warnings.catch_warnings():
        # A constant non-zero difference gives t = ±inf and p = 0; scipy warns about its precision.
        warnings.simplefilter("ignore", RuntimeWarning)
        p_value = float(stats.ttest_rel(x.to_numpy(dtype=float), base.to_numpy(dtype=float)).pvalue)
        if len(diff) >= MIN_WILCOXON_SEEDS:
            out["p_wilcoxon"] = float(stats.wilcoxon(diff).pvalue)
    return out | {"p_value": p_value, "significant": p_value < alpha}


def compare_runs(
    table: pd.DataFrame,
    baseline: str | None = "none",
    metrics: Sequence[str] | None = None,
    split: str = "test",
    by: Sequence[str] = ("dataset", "backbone", "label"),
    *,
    alpha: float = 0.05,
    ddof: int = 0,
    statuses: Sequence[str] | None = ("finished",),
) -> pd.DataFrame:
    """Mean ± std over seeds per group and metric, and a paired test of each group against its baseline.

    Runs (rows of :func:`runs_table`) with a status in ``statuses`` (None: all) are grouped by
    ``by``; the last column of ``by`` names the compared variant and ``baseline`` is one of its
    values (None: no tests). Each group is paired with the baseline group that shares the other
    ``by`` values, seed by seed. A seed run twice in a group counts once, with its newest run.

    Returns a long table, one row per (group, metric): the ``by`` columns, then
    :data:`COMPARE_COLUMNS`: ``n_seeds``, ``mean``, ``std`` (``ddof=0`` like MMSA's ``np.std``),
    ``baseline``, ``n_paired``, ``delta`` (mean paired difference, group minus baseline),
    ``better`` (delta points the metric's good way), ``p_value`` (two-sided
    ``scipy.stats.ttest_rel``), ``p_wilcoxon`` (``scipy.stats.wilcoxon``, from 6 pairs on),
    ``significant`` (``p_value < alpha``) and ``note``. Accuracies and F1 are ×100 with 2
    decimals, MAE and Corr as they are with 4 decimals, as papers print them.
    """
    by = list(by)
    missing = [column for column in [*by, "seed"] if column not in table.columns]
    if not by or missing:
        raise MsmixError(f"cannot group runs by {by}: the table lacks {missing or 'a grouping column'}")
    prefix = f"{split}_"
    available = [column[len(prefix) :] for column in table.columns if column.startswith(prefix)]
    metrics = available if metrics is None else list(metrics)
    unknown = [m for m in metrics if m not in available]
    if unknown:
        raise MsmixError(f"no {split} metric {unknown} in the table: choose from {available}")
    rows = table if statuses is None or "status" not in table.columns else table[table["status"].isin(statuses)]
    if "created" in rows.columns:
        rows = rows.sort_values("created", kind="stable")
    rows = rows.drop_duplicates([*by, "seed"], keep="last")
    groups = {key: group.set_index("seed") for key, group in rows.groupby(by, sort=True, dropna=False)}

    records = []
    for key, group in groups.items():
        base_key = (*key[:-1], baseline)
        for metric in metrics:
            values = group[prefix + metric].dropna()
            if values.empty:
                continue
            scale, decimals = _display_scale(metric)
            std = values.std(ddof=ddof) if len(values) > ddof else math.nan
            record = dict(zip(by, key, strict=True)) | {"metric": metric, "n_seeds": len(values), "baseline": baseline}
            record |= {"mean": round(values.mean() * scale, decimals), "std": round(std * scale, decimals)}
            if baseline is None:
                record["note"] = "no baseline chosen"
            elif key[-1] == baseline:
                record["note"] = "baseline"
            elif base_key not in groups:
                record["note"] = f"no {baseline!r} runs with the same {', '.join(by[:-1]) or 'grouping'}"
            else:
                record |= _paired_test(values, groups[base_key][prefix + metric].dropna(), metric, alpha)
            records.append(record)
    frame = pd.DataFrame(records, columns=[*by, *COMPARE_COLUMNS])
    frame = frame.fillna({"n_paired": 0, "note": ""})
    return frame.astype({"n_seeds": int, "n_paired": int, "better": "boolean", "significant": "boolean"})


def _cell(row: pd.Series) -> str:
    decimals = 2 if is_percent_metric(row["metric"]) else 4
    text = f"{row['mean']:.{decimals}f}"
    if not math.isnan(row["std"]):
        text += f" ± {row['std']:.{decimals}f}"
    if pd.notna(row["significant"]) and row["significant"]:
        text += " *" if row["better"] else " †"
    return text


def format_table(compared: pd.DataFrame, p_values: bool = False) -> pd.DataFrame:
    """One row per group, one ``"mean ± std"`` string column per metric, for display and export.

    ``*`` marks a significant gain over the baseline and ``†`` a significant loss (p < alpha of
    :func:`compare_runs`). With ``p_values``, a ``<metric> p`` column follows each metric. The
    result holds strings and integers only, ready for ``to_csv`` or :func:`to_markdown`.
    """
    by = [column for column in compared.columns if column not in COMPARE_COLUMNS]
    if compared.empty:
        return pd.DataFrame(columns=[*by, "n_seeds"])
    metrics = list(dict.fromkeys(compared["metric"]))
    rows = []
    for key, group in compared.groupby(by, sort=False, dropna=False):
        row = dict(zip(by, key, strict=True)) | {"n_seeds": int(group["n_seeds"].max())}
        for _, entry in group.iterrows():
            row[entry["metric"]] = _cell(entry)
            if p_values:
                row[f"{entry['metric']} p"] = "" if math.isnan(entry["p_value"]) else f"{entry['p_value']:.3g}"
        rows.append(row)
    columns = [*by, "n_seeds", *(c for m in metrics for c in ([m, f"{m} p"] if p_values else [m]))]
    return pd.DataFrame(rows, columns=columns).fillna("")


def to_markdown(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table of ``frame`` (no ``tabulate`` needed); ``|`` in cells is escaped."""

    def cell(value: Any) -> str:
        return "" if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)) else str(value)

    def line(values: Iterable[Any]) -> str:
        return "| " + " | ".join(cell(v).replace("|", r"\|") for v in values) + " |"

    lines = [line(frame.columns), "|" + "---|" * len(frame.columns)]
    lines += [line(row) for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"
