"""Optuna tuning: the space from the registry, valid-only objective, pruning, resumption, and ``msmix tune``."""

import contextlib
import copy
import math
import signal
import subprocess
import sys
import time

import numpy as np
import optuna
import pytest
import sqlalchemy.exc
from helpers import FAST_NO_WEIGHTS, run_cli
from optuna.distributions import CategoricalDistribution, FloatDistribution

from msmix_core.data import save_npz
from msmix_core.errors import MsmixError
from msmix_core.experiments.tuning import open_study, search_space, tune
from msmix_core.runs import RunStore
from msmix_core.training import TrainConfig


def test_the_space_follows_the_declared_knobs():
    space = search_space("msmix")
    assert space["threshold"] == FloatDistribution(0.0, 1.0)  # the declared range
    assert space["alpha"] == FloatDistribution(0.1, 8.0, log=True)  # open-ended: the default search range
    assert space["use_sal"] == CategoricalDistribution([False, True])
    assert "num_mix" not in space and "num_heads" not in space  # optional / no finite range: left at default
    assert list(search_space("msmix", fixed={"alpha"})) == [k for k in space if k != "alpha"]
    assert list(search_space("msmix", ["alpha", "threshold"])) == ["alpha", "threshold"]


@pytest.mark.parametrize(
    ("params", "fixed", "message"),
    [
        (["delta"], (), "msmix's knobs are"),
        (["num_heads"], (), "no finite range to search"),
        (["alpha"], ("alpha",), "fixed with --set"),
    ],
)
def test_a_bad_choice_of_knobs_is_one_clear_error(params, fixed, message):
    with pytest.raises(MsmixError, match=message):
        search_space("msmix", params, fixed)


def _config(epochs: int = 1) -> TrainConfig:
    return TrainConfig(method="msmix", epochs=epochs, batch_size=16, device="cpu", seed=0, save_weights=False)


@pytest.mark.slow
def test_trials_minimise_the_validation_loss_and_a_study_resumes(tiny, tmp_path):
    storage, space = f"sqlite:///{tmp_path / 'tune.db'}", search_space("msmix", ["threshold"])
    setup, keep = {"method": "msmix"}, optuna.pruners.NopPruner()
    tune(tiny, _config(2), trials=2, study=open_study(storage, "s", setup), space=space, pruner=keep)
    study = tune(tiny, _config(2), trials=2, study=open_study(storage, "s", setup), space=space, pruner=keep)
    assert len(study.trials) == 4 and len(optuna.load_study(study_name="s", storage=storage).trials) == 4
    assert len({t.params["threshold"] for t in study.trials}) == 4  # the resumed sampler draws new points
    for trial in study.trials:
        assert trial.state == optuna.trial.TrialState.COMPLETE
        valid_losses = list(trial.intermediate_values.values())  # reported per epoch: valid, never test
        assert len(valid_losses) == 2 and math.isclose(trial.value, min(valid_losses), abs_tol=1e-6)
    with pytest.raises(MsmixError, match="was made for"):
        open_study(storage, "s", {"method": "mixup"})


def test_a_pruned_trial_stops_its_run_after_the_epoch(tiny):
    study = open_study(None, "p", {})
    tune(
        tiny,
        _config(3),
        trials=1,
        study=study,
        space=search_space("msmix", ["alpha"]),
        pruner=optuna.pruners.ThresholdPruner(upper=0.0),
    )
    (trial,) = study.trials
    assert trial.state == optuna.trial.TrialState.PRUNED and list(trial.intermediate_values) == [1]


@pytest.mark.slow
def test_tune_command_scores_the_best_knobs_on_fresh_seeds_and_resumes(capsys, tmp_path, tiny_npz):
    argv = ["tune", "--dataset", tiny_npz, "--runs-dir", tmp_path / "runs", "--params", "threshold", "--trials", "2"]
    argv += ["--seeds", "1", "2", "3", "--metrics", "MAE", *FAST_NO_WEIGHTS]
    code, out, _ = run_cli(capsys, *argv)
    assert code == 0 and "2 trials (2 complete)" in out and "best valid loss" in out
    runs = RunStore(tmp_path / "runs").list()
    assert sorted(r.config["label"] for r in runs) == ["msmix"] * 3 + ["msmix tuned"] * 3
    assert {r.config["seed"] for r in runs} == {1, 2, 3}  # fresh seeds, not the trial seed 0
    assert "msmix tuned" in out and "MAE" in out
    code, out, _ = run_cli(capsys, *argv)  # the same storage (tune.db in the runs folder): 2 more trials
    assert code == 0 and "4 trials" in out


def test_tune_refuses_a_trial_seed_among_the_scoring_seeds(capsys):
    code, _, err = run_cli(capsys, "tune", "--trial-seed", "1", "--seeds", "1", "2", *FAST_NO_WEIGHTS)
    assert code == 2 and "pick another trial seed" in err


@pytest.mark.slow
def test_a_trial_whose_process_was_killed_is_marked_failed_when_the_study_resumes(tmp_path):
    import subprocess
    import sys

    from msmix_core.runs.liveness import this_process

    storage = f"sqlite:///{tmp_path / 'tune.db'}"
    study = open_study(storage, "s", {"method": "msmix"})
    killed, live = study.ask(), study.ask()
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    killed.set_user_attr("process", this_process() | {"pid": int(child.stdout), "started": "1"})
    live.set_user_attr("process", this_process())  # this very process: it may go on
    states = {t.number: t.state for t in open_study(storage, "s", {"method": "msmix"}).trials}
    assert states == {killed.number: optuna.trial.TrialState.FAIL, live.number: optuna.trial.TrialState.RUNNING}
    [failed] = optuna.load_study(study_name="s", storage=storage).get_trials(states=[optuna.trial.TrialState.FAIL])
    assert failed.user_attrs["error"] == "its process was killed mid-trial"


@pytest.mark.slow
def test_a_failing_trial_is_one_line_not_optunas_traceback(capsys, tmp_path, tiny):
    poisoned = copy.deepcopy(tiny)
    poisoned.train.audio[:] = np.nan  # the loader checks the labels, not every feature: the trial's loss fails
    dataset = str(save_npz(poisoned, tmp_path / "nan.npz"))
    argv = ["tune", "--dataset", dataset, "--runs-dir", tmp_path, "--trials", "1", "--params", "threshold"]
    code, _, err = run_cli(capsys, *argv, *FAST_NO_WEIGHTS, "--epochs", "2", "--seeds", "1")
    assert code == 2 and "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines[0].startswith("msmix: warning: trial #0 failed: ") and "loss" in lines[0]
    assert lines[-1].startswith("msmix: error: study") and "no complete trial" in lines[-1]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sent", "code", "said", "cause"),
    [
        (signal.SIGTERM, 143, "terminated by SIGTERM", "Terminated: terminated by SIGTERM"),
        (signal.SIGINT, 130, "interrupted", "KeyboardInterrupt"),
    ],
)
def test_a_signal_mid_trial_marks_the_trial_failed_with_why_and_says_so(tmp_path, tiny_npz, sent, code, said, cause):
    """A trial stores no run: the message says what became of the trial, and the study records why it failed."""
    storage = f"sqlite:///{tmp_path / 'tune.db'}"
    argv = [sys.executable, "-m", "msmix_core", "tune", "--dataset", tiny_npz, "--runs-dir", str(tmp_path / "runs")]
    argv += ["--storage", storage, "--study", "s", "--trials", "3", "--params", "threshold", "--quiet"]
    argv += ["--epochs", "100000", "--patience", "100000", "--batch-size", "16", "--device", "cpu", "--no-weights"]
    process = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    running = []
    while not running and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.3)
        with contextlib.suppress(KeyError, OSError, sqlalchemy.exc.OperationalError):  # not made yet
            study = optuna.load_study(study_name="s", storage=storage)
            running = study.get_trials(states=[optuna.trial.TrialState.RUNNING])
    time.sleep(1.0)  # the trial trains
    process.send_signal(sent)
    _, err = process.communicate(timeout=60)
    assert process.returncode == code and "Traceback" not in err, err
    (trial,) = optuna.load_study(study_name="s", storage=storage).trials
    assert trial.state == optuna.trial.TrialState.FAIL
    assert trial.user_attrs["error"] == f"interrupted mid-trial ({cause})"
    assert err.strip().splitlines() == [
        f"msmix: {said}; trial #0 was stopped and is marked failed in study 's', which keeps the 0 trial(s) this "
        "session finished (trials store no run); the same command resumes it"
    ]
    assert not (tmp_path / "runs").exists() or RunStore(tmp_path / "runs").list() == []
