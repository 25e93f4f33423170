"""The run store: one folder of plain files per training run.

A run lives in ``<root>/<run_id>/``::

    config.json    what was trained: dataset, backbone, method, label, seed, every knob, device, versions,
                   experiment_key (:mod:`msmix_core.runs.identity`)
    history.jsonl  one JSON line per epoch, as the trainer logged it, appended (older runs: history.json)
    result.json    status, final metrics ({"valid": {...}, "test": {...}}), error, best epoch, timestamps
    weights.pt     optional, the best weights (torch.save; loaded back with weights_only=True)

Config, result and weights are replaced atomically (:mod:`msmix_core.runs.files`); each epoch
appends one line to the history, so an epoch costs one line, not a rewrite of every earlier one,
and a run killed mid-append loses only that line (skipped with a note on load). A new run is assembled in a hidden
staging folder and renamed into place, so half-created runs never show up. Ids are readable,
sortable by creation time and never reused, e.g. ``20261124-071502-tfn-msmix-s1-3fa2`` (UTC time,
backbone, method, seed, random suffix). What the files must hold is checked by
:mod:`msmix_core.runs.validation`; whether a ``running`` run still trains, by :mod:`msmix_core.runs.liveness`.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from msmix_core.errors import MsmixError, first_line
from msmix_core.limits import check_size
from msmix_core.runs import liveness
from msmix_core.runs.compare import runs_table
from msmix_core.runs.files import (
    append_json_line,
    atomic_write,
    dumps_json,
    fsync_dir,
    json_lines,
    overwrite_json,
    read_json,
    read_json_lines,
    signals_deferred,
    write_errors,
    write_json,
)
from msmix_core.runs.identity import EXPERIMENT_KEY_FIELD, experiment_key
from msmix_core.runs.status import STATUSES, RunStatus
from msmix_core.runs.validation import check_config_fields, check_history, check_outcome, check_result, checked_config

if TYPE_CHECKING:
    import torch

#: Environment variable that moves the default runs folder (otherwise ``runs/`` in the working directory).
RUNS_DIR_ENV = "MSMIX_RUNS_DIR"


CONFIG_FILE, HISTORY_FILE, RESULT_FILE, WEIGHTS_FILE = "config.json", "history.jsonl", "result.json", "weights.pt"
#: Where runs stored before msmix appended epochs keep their history: one JSON list, read as it is.
LEGACY_HISTORY_FILE = "history.json"

_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _now() -> datetime:
    return datetime.now(UTC)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:24] or "x"


def _history_path(path: Path) -> Path:
    """``history.jsonl``, or ``history.json`` in a run stored before msmix appended epochs."""
    legacy = path / LEGACY_HISTORY_FILE
    return legacy if legacy.exists() and not (path / HISTORY_FILE).exists() else path / HISTORY_FILE


def _read_history(path: Path) -> tuple[list[dict], list[str]]:
    """The epoch records of the run in ``path`` and notes on what was skipped (a last line cut short)."""
    file = _history_path(path)
    legacy = file.name == LEGACY_HISTORY_FILE
    history, notes = (read_json(file, list), []) if legacy else read_json_lines(file)
    check_history(history, file.name, legacy)
    return history, notes


def _abandoned(path: Path, result: dict) -> bool:
    """A ``running`` run nobody trains any more (:func:`~msmix_core.runs.liveness.abandoned`)."""
    if result["status"] != RunStatus.RUNNING:
        return False
    return liveness.abandoned(result.get("process"), (path / CONFIG_FILE, _history_path(path), path / RESULT_FILE))


def _read_run(path: Path) -> Run:
    config = read_json(path / CONFIG_FILE, dict)
    check_config_fields(config, CONFIG_FILE)
    history, notes = _read_history(path)
    result = read_json(path / RESULT_FILE, dict)
    check_result(result, RESULT_FILE)
    return Run(path, config, history, result, abandoned=_abandoned(path, result), notes=notes)


class Run:
    """One stored run. Get it from :meth:`RunStore.create` (to write) or :meth:`RunStore.load` (to read).

    A loaded run is a snapshot of its files; load it again to see what a running trainer added since.
    A run stored as ``running`` whose process is gone loads as ``interrupted`` (see :func:`_abandoned`).
    """

    def __init__(
        self,
        path: Path,
        config: dict,
        history: list,
        result: dict,
        abandoned: bool = False,
        notes: Sequence[str] = (),
    ) -> None:
        self._path = path
        self._config = config
        self._history = history
        self._result = result
        self._abandoned = abandoned
        self._notes = list(notes)

    def __repr__(self) -> str:
        return f"Run({self.id!r}, status={self.status.value!r})"

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
    def experiment_key(self) -> str:
        """The key stored when the run was created; computed from the config for runs stored before keys."""
        stored = self._config.get(EXPERIMENT_KEY_FIELD)
        return stored if isinstance(stored, str) and stored else experiment_key(self._config)

    @property
    def history(self) -> list[dict]:
        return copy.deepcopy(self._history)

    @property
    def epochs(self) -> int:
        """How many epoch records the run holds: ``len(run.history)`` without copying them (listings)."""
        return len(self._history)

    @property
    def notes(self) -> list[str]:
        """What loading skipped rather than failing, e.g. a last epoch record cut short by a killed run."""
        return list(self._notes)

    @property
    def status(self) -> RunStatus:
        return RunStatus.INTERRUPTED if self._abandoned else RunStatus(self._result["status"])

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
        if self.status != RunStatus.RUNNING:
            raise MsmixError(f"run {self.id!r} already ended as {self.status.value!r}: cannot {action}")

    def log_epoch(self, record: dict) -> None:
        """Append one epoch's record (losses, metrics, diagnostics...) to ``history.jsonl`` as one line."""
        self._check_running("log another epoch")
        if not isinstance(record, dict):
            raise MsmixError(f"an epoch record must be a dict, got {type(record).__name__}")
        if self._file(LEGACY_HISTORY_FILE).exists():
            raise MsmixError(f"run {self.id!r} keeps its epochs in the old {LEGACY_HISTORY_FILE}: start a new run")
        record = json.loads(dumps_json(record, "epoch record"))
        with write_errors(f"append an epoch to run {self.id}", self._path):
            append_json_line(self._file(HISTORY_FILE), record, "epoch record")
        self._history.append(record)

    def update(self, metrics: dict | None = None, best_epoch: int | None = None) -> None:
        """Record the best metrics so far of a run that goes on; arguments left at None keep what is stored."""
        self._write_result(RunStatus.RUNNING, metrics=metrics, best_epoch=best_epoch)

    def finish(
        self,
        status: RunStatus | str = RunStatus.FINISHED,
        metrics: dict | None = None,
        error: str | None = None,
        best_epoch: int | None = None,
    ) -> None:
        """End the run with ``status`` and its outcome; arguments left at None keep what is stored.

        An ended run takes no more epochs or results; :meth:`update` is for a run that goes on.
        """
        if status not in STATUSES:
            raise MsmixError(f"unknown run status {status!r}: use one of {list(STATUSES)}")
        if status == RunStatus.RUNNING:
            raise MsmixError("finish() ends a run: record the metrics of a run that goes on with update()")
        if status == RunStatus.FAILED and not (error or self.error):
            raise MsmixError("a run that failed must say why: pass finish('failed', error=...)")
        self._write_result(RunStatus(status), metrics=metrics, error=error, best_epoch=best_epoch)

    def _write_result(
        self, status: RunStatus, metrics: dict | None, best_epoch: int | None, error: str | None = None
    ) -> None:
        """Check and atomically write ``result.json``; ending statuses stamp ``ended``."""
        self._check_running(f"finish it again as {status.value!r}" if status != RunStatus.RUNNING else "update it")
        check_outcome(metrics, best_epoch)
        updates = {"metrics": metrics, "error": error, "best_epoch": best_epoch}
        result = {**self._result, **{k: v for k, v in updates.items() if v is not None}, "status": status.value}
        if status != RunStatus.RUNNING:
            result["ended"] = _now().isoformat()
        result = json.loads(dumps_json(result, "run result"))
        with write_errors(f"write the result of run {self.id}", self._path), signals_deferred():
            if status == RunStatus.RUNNING:
                write_json(self._file(RESULT_FILE), result, "run result")
            else:  # its last word: written even on a full disk, and a second Ctrl-C waits for it
                overwrite_json(self._file(RESULT_FILE), result, "run result")
        self._result = result

    def save_weights(self, state_dict: dict) -> None:
        """Store ``state_dict`` (any nest of dicts of tensors) as ``weights.pt``, replacing earlier weights."""
        import torch  # here, not at the top: listing and browsing runs never pay torch's import

        with write_errors(f"write the weights of run {self.id}", self._path):
            atomic_write(self._file(WEIGHTS_FILE), lambda file: torch.save(state_dict, file))

    def load_weights(self, map_location: str | torch.device = "cpu") -> dict:
        """The saved weights, loaded with ``weights_only=True``: a file holding code is refused, not run."""
        import torch

        path = self._path / WEIGHTS_FILE
        if not path.is_file():
            raise MsmixError(f"run {self.id!r} has no saved weights ({path} does not exist)")
        check_size(path.stat().st_size, f"{path}", "its weights are not msmix's")  # a regular file: is_file
        try:
            return torch.load(path, map_location=map_location, weights_only=True)
        except Exception as exc:  # any bytes at all: not a pickle (KeyError), truncated, a refused global, unreadable
            raise MsmixError(
                f"{path} cannot be loaded as plain weights ({type(exc).__name__}: {first_line(exc)}): "
                "it is damaged or not msmix's"
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
        """Start a run with status ``running``; see :data:`REQUIRED_CONFIG_KEYS` and docs/runs.md for its keys."""
        result = {"status": RunStatus.RUNNING.value, "metrics": {}, "error": None, "best_epoch": None}
        result |= {"created": _now().isoformat(), "ended": None, "process": liveness.this_process()}
        return self._publish(checked_config(config), [], result)

    def record(
        self,
        config: dict,
        history: list[dict],
        *,
        status: RunStatus | str,
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
        if status == RunStatus.RUNNING:
            raise MsmixError("record() stores runs that have ended: give their final status, not 'running'")
        if status == RunStatus.FAILED and not error:
            raise MsmixError("a run that failed must say why: pass record(..., error=...)")
        if not isinstance(history, list) or not all(isinstance(record, dict) for record in history):
            raise MsmixError("a run history must be a list of epoch records (dicts)")
        started = created or _now()
        result = {"status": status, "metrics": metrics, "error": error, "best_epoch": best_epoch}
        result |= {"created": started.isoformat(), "ended": _now().isoformat(), "process": liveness.this_process()}
        result = json.loads(dumps_json(result, "run result"))
        check_result(result, RESULT_FILE)
        return self._publish(checked_config(config), json.loads(dumps_json(history, "run history")), result, weights)

    def _publish(self, config: dict, history: list, result: dict, weights: dict | None = None) -> Run:
        """Assemble a run in a hidden staging folder, then rename it into place: it never shows up half-made."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MsmixError(f"cannot create the runs folder {self.root} ({exc}): set {RUNS_DIR_ENV}") from exc
        created = datetime.fromisoformat(result["created"])
        with write_errors("write a new run", self.root):
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
            path = self.root / run_id
            try:
                write_json(staging / RESULT_FILE, result, "run result")  # first: it names the writer (liveness)
                write_json(staging / CONFIG_FILE, config, "run config")
                data = json_lines(history, "run history")
                atomic_write(staging / HISTORY_FILE, lambda file: file.write(data))
                if weights is not None:
                    import torch

                    atomic_write(staging / WEIGHTS_FILE, lambda file: torch.save(weights, file))
                staging.rename(path)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)  # no half-made run left behind, even hidden
                raise
            fsync_dir(self.root)
        with contextlib.suppress(OSError):
            liveness.remove_debris(self.root, os.listdir(self.root))
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
        try:
            paths = sorted(self.root.iterdir()) if self.root.is_dir() else []
        except OSError as exc:
            raise MsmixError(f"cannot list the runs folder {self.root} ({exc.strerror or exc})") from exc
        liveness.remove_debris(self.root, [path.name for path in paths])
        for path in paths:
            if not path.is_dir() or path.name.startswith("."):
                continue
            try:
                runs.append(_read_run(path))
            except MsmixError as exc:
                damaged.append((path, str(exc)))
            except OSError as exc:  # a file that vanished or turned unreadable while it was read
                damaged.append((path, f"cannot be read ({exc.strerror or exc})"))
        runs.sort(key=lambda run: (run.created, run.id), reverse=True)
        return runs, damaged

    def list(self) -> list[Run]:
        """Every readable run, newest first; damaged folders are left out (see :meth:`damaged`)."""
        return self._scan()[0]

    def damaged(self) -> list[tuple[Path, str]]:
        """``(folder, reason)`` for every run folder that cannot be read."""
        return self._scan()[1]

    def scan(self) -> tuple[list[Run], list[tuple[Path, str]]]:
        """:meth:`list` and :meth:`damaged` from one pass over the folder (a listing that shows both reads it once)."""
        return self._scan()

    def load(self, run_id: str) -> Run:
        """The run with this id; a damaged run raises a MsmixError naming the bad file."""
        path = self._path(run_id)
        try:
            return _read_run(path)
        except MsmixError as exc:
            raise MsmixError(f"run {run_id!r} is damaged: {exc}; repair that file or delete the run") from exc

    def delete(self, run_id: str) -> None:
        """Remove a run's folder, damaged or not. It vanishes from listings at once (renamed aside first).

        A run folder that is a symbolic link loses the link only: what it points to is outside the store's care.
        """
        path = self._path(run_id)
        with write_errors(f"delete run {run_id}", self.root):
            if path.is_symlink():
                path.unlink()
                return
            trash = self.root / f".{run_id}.deleted-{secrets.token_hex(4)}"
            path.rename(trash)
            os.utime(trash)  # fresh: a listing must not take it for a killed deleter's debris while it is removed
            try:
                shutil.rmtree(trash)
            except OSError:
                trash.rename(path)  # what is left stays visible (damaged, as it may be), not hidden debris
                raise

    def table(self, runs: Iterable[Run] | None = None) -> pd.DataFrame:
        """:func:`runs_table` of ``runs`` (default: every run in the store)."""
        return runs_table(self.list() if runs is None else runs)
