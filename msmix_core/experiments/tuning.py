"""Tuning a method's knobs with Optuna, on the validation split only.

The search space comes from the same declaration the registry checks knobs with
(:func:`msmix_core.mixing.registry.method_knobs`): a number is searched over
:meth:`~msmix_core.mixing.knobs.Knob.search_range` (its finite declared range, or the range its
declaration suggests; none: it is left at its default), a switch over ``False``/``True``. Each trial
trains one run and reports its validation loss after every epoch, so the pruner can stop a hopeless
trial early (the run stops cleanly, then the trial is marked pruned); its value is the best
validation loss. The test split is never looked at here: score the best knobs on test over fresh
seeds afterwards (``msmix tune`` does).

A study lives in any Optuna storage (``sqlite:///runs/tune.db``, a database URL that many machines
share), so a second call with the same storage and study name goes on where the first stopped.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Collection, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from msmix_core.data.schema import MSADataset
from msmix_core.errors import MsmixError, first_line
from msmix_core.mixing.registry import Knob, method_knobs
from msmix_core.runs.liveness import process_alive, this_process  # a trial's process, told apart as a run's is
from msmix_core.training import EpochEvent, TrainConfig, train


def _distribution(knob: Knob) -> BaseDistribution | None:
    """Where a knob is searched; None for a knob without a finite range or a default range (e.g. num_heads)."""
    if knob.kind == "bool":
        return CategoricalDistribution([False, True])
    span = knob.search_range()  # None for an optional knob ("all pairs" when None) or one without a range
    if span is None:
        return None
    low, high, log = span
    if knob.kind == "int":
        return IntDistribution(int(low), int(high), log=log)
    return FloatDistribution(float(low), float(high), log=log)


def search_space(
    method: str, params: Sequence[str] | None = None, fixed: Collection[str] = ()
) -> dict[str, BaseDistribution]:
    """The distributions of ``method``'s tunable knobs: ``params`` (default: all of them) less ``fixed`` ones."""
    knobs = method_knobs(method)
    space = {name: dist for name, knob in knobs.items() if (dist := _distribution(knob)) is not None}
    if params is None:
        chosen = [name for name in space if name not in fixed]
    else:
        chosen = list(dict.fromkeys(params))
        unknown = [name for name in chosen if name not in knobs]
        if unknown:
            raise MsmixError(f"--params {unknown}: {method}'s knobs are {sorted(knobs)}")
        untunable = [name for name in chosen if name not in space]
        if untunable:
            raise MsmixError(f"--params {untunable}: no finite range to search; the tunable knobs are {sorted(space)}")
        clash = [name for name in chosen if name in fixed]
        if clash:
            raise MsmixError(f"--params {clash}: these knobs are fixed with --set; tune them or fix them, not both")
    if not chosen:
        raise MsmixError(f"{method} has no knob left to tune (tunable: {sorted(space)}, fixed: {sorted(fixed)})")
    return {name: space[name] for name in chosen}


def _suggest(trial: optuna.Trial, name: str, dist: BaseDistribution) -> Any:
    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(name, dist.choices)
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, log=dist.log)
    return trial.suggest_float(name, dist.low, dist.high, log=dist.log)


class _Pruning:
    """A trainer callback and stop flag: reports each epoch's valid loss, and stops the run once Optuna prunes it."""

    def __init__(self, trial: optuna.Trial) -> None:
        self.trial = trial
        self.pruned_at: int | None = None

    def on_epoch_end(self, event: EpochEvent) -> None:
        self.trial.report(event.losses["valid"], event.epoch)
        if self.trial.should_prune():
            self.pruned_at = event.epoch

    def is_set(self) -> bool:
        return self.pruned_at is not None


def open_study(storage: str | None, study_name: str, setup: dict[str, Any]) -> optuna.Study:
    """Create the study, or load it to go on; a study made for another method, backbone or data is refused."""
    try:
        study = optuna.create_study(storage=storage, study_name=study_name, direction="minimize", load_if_exists=True)
    except Exception as exc:  # a bad URL or an unreachable database: SQLAlchemy's and Optuna's errors vary
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise MsmixError(f"--storage {storage!r}: cannot open study {study_name!r} ({reason[:300]})") from exc
    stored = study.user_attrs.get("setup")
    if stored is None:
        study.set_user_attr("setup", setup)
    elif stored != setup:
        raise MsmixError(
            f"study {study_name!r} in {storage} was made for {stored}, not {setup}: give another --study name"
        )
    fail_abandoned_trials(study)
    return study


def fail_abandoned_trials(study: optuna.Study) -> list[int]:
    """Mark ``failed`` every ``running`` trial whose process is gone (killed mid-trial), and return their numbers.

    Each trial records its process (``process`` user attribute: pid, host, start time, as the run store
    does); a trial of another machine, or one that records none, may still run and is left alone.
    """
    gone = []
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        process = trial.user_attrs.get("process")
        if isinstance(process, dict) and process_alive(process) is False:
            study._storage.set_trial_user_attr(trial._trial_id, "error", "its process was killed mid-trial")
            study._storage.set_trial_state_values(trial._trial_id, state=optuna.trial.TrialState.FAIL)
            gone.append(trial.number)
    return gone


#: How the ``error`` of a trial stopped by Ctrl-C or SIGTERM starts.
INTERRUPTED = "interrupted mid-trial"


def tune(
    dataset: MSADataset,
    base: TrainConfig,
    *,
    trials: int,
    study: optuna.Study,
    space: dict[str, BaseDistribution],
    seed: int = 0,
    pruner: optuna.pruners.BasePruner | None = None,
    on_trial: Callable[[optuna.Study, optuna.trial.FrozenTrial], None] | None = None,
) -> optuna.Study:
    """Run ``trials`` more trials of ``study``: each trains ``base`` with knobs drawn from ``space``.

    The objective is the run's best validation loss. The sampler is TPE seeded from ``seed`` and
    the trials already stored (a resumed study draws new points, not the first session's again);
    the pruner defaults to the median rule after 3 trials and 2 epochs. A trial whose training
    fails (a diverged loss) is recorded as failed, with its ``error`` user attribute, and the study
    goes on. ``on_trial`` is called after each trial. A Ctrl-C (or the CLI's SIGTERM) ends the study: the trial
    in progress is marked failed with an ``error`` that starts with :data:`INTERRUPTED`, and the exception goes on.
    """
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise MsmixError(f"trials must be an integer >= 1, got {trials!r}")

    def objective(trial: optuna.Trial) -> float:
        knobs = {name: _suggest(trial, name, dist) for name, dist in space.items()}
        config = replace(base, method_kwargs={**base.method_kwargs, **knobs}, save_weights=False)
        pruning = _Pruning(trial)
        trial.set_user_attr("process", this_process())
        try:
            result = train(dataset, config, callbacks=(pruning,), stop=pruning)
        except Exception as exc:  # recorded on the trial in one line; the study goes on
            error = str(exc) if isinstance(exc, MsmixError) else f"{type(exc).__name__}: {first_line(exc)}"
            trial.set_user_attr("error", " ".join(error.split()))
            raise MsmixError(error) from exc
        except KeyboardInterrupt as exc:  # Optuna marks the trial failed and stops the study: say why on the trial
            trial.set_user_attr("error", f"{INTERRUPTED} ({type(exc).__name__}{f': {exc}' if str(exc) else ''})")
            raise
        if pruning.pruned_at is not None:
            raise optuna.TrialPruned(f"valid loss not promising at epoch {pruning.pruned_at}")
        return result.history[result.best_epoch - 1]["losses"]["valid"]

    study.sampler = optuna.samplers.TPESampler(seed=seed + len(study.trials))
    study.pruner = pruner or optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2)
    study.optimize(objective, n_trials=trials, catch=(MsmixError,), callbacks=[on_trial] if on_trial else None)
    return study


def best_knobs(study: optuna.Study) -> tuple[optuna.trial.FrozenTrial, dict[str, Any]]:
    """The best complete trial and its knobs; a MsmixError when no trial has completed."""
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        states = {s.name.lower(): sum(t.state == s for t in study.trials) for s in optuna.trial.TrialState}
        raise MsmixError(f"study {study.study_name!r} has no complete trial ({states}): run more trials")
    return study.best_trial, dict(study.best_trial.params)


#: The objective of every study :func:`tune` runs, as :func:`study_frame` names its column.
OBJECTIVE = "valid loss"


def study_frame(study: optuna.Study) -> pd.DataFrame:
    """The complete trials of ``study``: one row per trial, a column per knob, then :data:`OBJECTIVE`."""
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    knobs = list(dict.fromkeys(name for trial in complete for name in trial.params))
    rows = [{**{k: trial.params.get(k) for k in knobs}, OBJECTIVE: trial.value} for trial in complete]
    return pd.DataFrame(rows, columns=[*knobs, OBJECTIVE])


#: The first bytes of every SQLite database file.
_SQLITE_HEADER = b"SQLite format 3\x00"


def find_studies(root: str | Path) -> list[Path]:
    """The Optuna SQLite files (``*.db``) in ``root`` and its sub-folders, newest first."""
    folder = Path(root)
    found = [path for path in folder.rglob("*.db") if path.is_file()] if folder.is_dir() else []
    return sorted(found, key=lambda path: (path.stat().st_mtime, str(path)), reverse=True)


def load_studies(path: str | Path) -> list[optuna.Study]:
    """Every study in an Optuna SQLite file, opened read-only (a page that looks must not write, nor
    create a file for a mistyped path)."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise MsmixError(f"{str(path)!r} is not a file: give the path of an Optuna .db file (msmix tune --storage)")
    with file.open("rb") as handle:
        if handle.read(len(_SQLITE_HEADER)) != _SQLITE_HEADER:
            raise MsmixError(f"{str(path)!r} is not an SQLite database: give an Optuna .db file (msmix tune --storage)")
    storage = f"sqlite:///file:{urllib.parse.quote(str(file.resolve()))}?mode=ro&uri=true"
    try:
        names = [summary.study_name for summary in optuna.get_all_study_summaries(storage)]
        return [optuna.load_study(study_name=name, storage=storage) for name in names]
    except Exception as exc:  # SQLAlchemy's and Optuna's errors vary: an SQLite file that is no Optuna study
        reason = " ".join(str(exc).split()).split(" (Background")[0] or type(exc).__name__
        raise MsmixError(f"{str(path)!r} holds no readable Optuna study ({reason[:200]})") from exc
