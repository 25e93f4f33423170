"""Experiment keys: what defines a run but its seed, stable across processes and stored with the run."""

import dataclasses
import json
import os
import subprocess
import sys

import pytest

from msmix_core.runs import EXPERIMENT_KEY_FIELD, RunStore, experiment_fields, experiment_key, settings_fields
from msmix_core.runs.identity import NOT_DEFINING
from msmix_core.training import TrainConfig

#: A config as the trainer stores it (TrainConfig.to_dict() plus what the store adds).
CONFIG = TrainConfig(backbone="late_fusion", method="msmix", epochs=2, seed=1).to_dict() | {
    "dataset": "synthetic:small",
    "label": "msmix",
    "device": "cpu",
    "torch_threads": 2,
    "versions": {"msmix": "0.1", "torch": "2.5"},
    "dataset_summary": {"sizes": {"train": 10}},
}


def test_the_seed_and_non_defining_fields_do_not_change_the_key():
    other = CONFIG | {"seed": 7, "label": "msmix threshold=0.4", "device": "cuda:0", "save_weights": False}
    other |= {"torch_threads": 16, "versions": {"msmix": "9"}, "run_id": "x", "created": "2026-12-06T19:00:00+00:00"}
    assert experiment_key(other) == experiment_key(CONFIG)


@pytest.mark.parametrize(
    "change",
    [
        {"dataset": "synthetic:small (seed=2)"},
        {"backbone": "tfn"},
        {"method": "mixup"},
        {"method_kwargs": {"use_sal": False}},
        {"method_kwargs": {"threshold": 0.2}},
        {"backbone_kwargs": {"hidden": 64}},
        {"recipe": "release"},
        {"epochs": 3},
        {"batch_size": 64},
        {"optimizer": "adamw"},
        {"lr": 1e-4},
        {"weight_decay": 1e-4},
        {"schedule": "warmup_cosine"},
        {"warmup": 0.1},
        {"grad_clip": 1.0},
        {"patience": 3},
        {"loss": "mse"},
        {"mix_loss": "task"},
    ],
)
def test_any_defining_field_changes_the_key(change):
    assert experiment_key(CONFIG | change) != experiment_key(CONFIG)


def test_every_train_config_field_is_defining_or_named_as_not_defining():
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    assert names >= NOT_DEFINING
    varied = {"backbone_kwargs": {"hidden": 64}, "method_kwargs": {"use_sal": False}, "grad_clip": 1.0}
    for name in sorted(names - NOT_DEFINING):
        value = varied.get(name, CONFIG[name])
        if name not in varied:
            value = {str: "other", int: 99, float: 0.123}.get(type(value), value)
        assert experiment_key(CONFIG | {name: value}) != experiment_key(CONFIG), name


def test_knobs_at_their_default_and_numbers_written_either_way_are_one_experiment():
    explicit = CONFIG | {"method_kwargs": {"threshold": 0.4, "use_sal": True}}  # MS-Mix's declared defaults
    assert experiment_key(explicit) == experiment_key(CONFIG)
    assert "method.threshold" not in experiment_fields(explicit)
    assert experiment_key(CONFIG | {"epochs": 2.0}) == experiment_key(CONFIG)
    assert experiment_key(CONFIG | {"method_kwargs": {"use_sal": 1}}) != experiment_key(CONFIG)  # not a switch


def test_fields_are_flat_and_settings_drop_the_compared_factor():
    fields = experiment_fields(CONFIG | {"method_kwargs": {"use_sal": False, "threshold": 0.2}})
    assert list(fields)[:5] == ["dataset", "backbone", "method", "method.threshold", "method.use_sal"]
    assert fields["epochs"] == 2 and "seed" not in fields and "grad_clip" not in fields  # None left out
    settings = settings_fields(CONFIG | {"method_kwargs": {"use_sal": False}}, ["method.use_sal"])
    assert settings == experiment_fields(CONFIG)
    assert not any(key.startswith("method") for key in settings_fields(CONFIG, ["method"]))


@pytest.mark.slow
def test_the_key_is_pinned_and_the_same_in_another_process():
    pinned = "73ec0a339472"  # sha256 of this config's canonical JSON: a change here breaks every stored key
    assert experiment_key(CONFIG) == pinned
    code = (
        "import json, sys; from msmix_core.runs import experiment_key; "
        "print(experiment_key(json.loads(sys.stdin.read())))"
    )
    env = os.environ | {"PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code], input=json.dumps(CONFIG), capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip() == pinned


def test_the_store_writes_the_key_and_computes_it_for_older_runs(tmp_path):
    store = RunStore(tmp_path)
    run = store.create(CONFIG | {EXPERIMENT_KEY_FIELD: "copied-from-another"})
    stored = json.loads((run.path / "config.json").read_text())
    assert stored[EXPERIMENT_KEY_FIELD] == experiment_key(CONFIG) == run.experiment_key
    del stored[EXPERIMENT_KEY_FIELD]  # a run stored before msmix kept keys
    (run.path / "config.json").write_text(json.dumps(stored))
    assert store.load(run.id).experiment_key == experiment_key(CONFIG)
    assert store.table()["experiment"].tolist() == [experiment_key(CONFIG)]
