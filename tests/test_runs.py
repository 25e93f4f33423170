"""The run store (atomic files, ids, damage handling) and the comparison tables over seeds."""

import json
import math
import os
import pickle
import socket
import subprocess
import sys
import threading
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

import msmix_core.runs.store as store_module
from msmix_core.errors import MsmixError
from msmix_core.experiments.reports import significance_sentences
from msmix_core.runs import (
    ABANDONED_AFTER,
    TABLE_COLUMNS,
    RunStatus,
    RunStore,
    atomic_write,
    compare_runs,
    format_table,
    runs_table,
    to_markdown,
)

CONFIG = {"dataset": "mosi", "backbone": "tfn", "method": "msmix", "seed": 1}
METRICS = {
    "valid": {"Non0_acc_2": 0.75, "MAE": 0.9},
    "test": {"Has0_acc_2": 0.7, "Non0_acc_2": 0.72, "MAE": 0.95, "Corr": 0.61},
}


@pytest.fixture
def store(tmp_path) -> RunStore:
    return RunStore(tmp_path / "runs")


@pytest.fixture
def clock(monkeypatch):
    """A frozen UTC clock the test moves by hand."""
    now = {"t": datetime(2026, 11, 24, 7, 15, 2, tzinfo=UTC)}
    monkeypatch.setattr(store_module, "_now", lambda: now["t"])
    return now


def test_create_log_finish_and_load_round_trip(store):
    run = store.create({**CONFIG, "lr": np.float32(0.5), "sizes": (8, 16), "device": torch.device("cpu").type})
    assert run.status == "running" and run.metrics == {} and run.history == [] and run.ended is None
    assert run.config["label"] == "msmix"  # label defaults to the method
    assert run.config["lr"] == 0.5 and run.config["sizes"] == [8, 16]  # stored as JSON reads it back
    assert {p.name for p in run.path.iterdir()} == {"config.json", "history.jsonl", "result.json"}
    run.log_epoch({"epoch": 1, "loss": torch.tensor(0.25), "metrics": {"MAE": np.float64(1.5)}})
    run.log_epoch({"epoch": 2, "loss": 0.125})
    run.finish(metrics=METRICS, best_epoch=2)

    loaded = store.load(run.id)
    assert loaded.id == run.id and loaded.path == run.path
    assert loaded.config == run.config
    assert loaded.history == [{"epoch": 1, "loss": 0.25, "metrics": {"MAE": 1.5}}, {"epoch": 2, "loss": 0.125}]
    assert loaded.status == "finished" and loaded.error is None and loaded.best_epoch == 2
    assert loaded.metrics == METRICS
    assert loaded.created == run.created and loaded.ended >= loaded.created
    assert json.loads((run.path / "result.json").read_text())["status"] == "finished"


def test_record_stores_an_ended_run_whole_with_its_weights(store):
    started = datetime(2026, 11, 24, 7, 0, 0, tzinfo=UTC)
    history = [{"epoch": 1, "loss": np.float64(0.5)}, {"epoch": 2, "loss": 0.25}]
    weights = {"backbone": {"w": torch.arange(3.0)}}
    run = store.record(
        CONFIG, history, status="stopped", metrics=METRICS, best_epoch=2, weights=weights, created=started
    )
    loaded = store.load(run.id)
    assert loaded.status == "stopped" and loaded.metrics == METRICS and loaded.best_epoch == 2
    assert loaded.history == [{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": 0.25}]
    assert loaded.created == started and loaded.ended >= started and run.id.startswith("20261124-070000-")
    assert loaded.load_weights()["backbone"]["w"].equal(torch.arange(3.0))
    assert [p.name for p in store.root.iterdir()] == [run.id]  # no staging folder left behind


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"status": "running"}, "stores runs that have ended"),
        ({"status": "done"}, "not one of"),
        ({"metrics": {"test": {"MAE": "low"}}}, "'metrics.test.MAE' must be a number"),
        ({"history": [1, 2]}, "a list of epoch records"),
    ],
)
def test_record_refuses_a_bad_outcome_before_anything_is_written(store, kwargs, message):
    arguments = {"config": CONFIG, "history": [], "status": "finished", "metrics": METRICS} | kwargs
    with pytest.raises(MsmixError, match=message):
        store.record(**arguments)
    assert not store.root.exists() or list(store.root.iterdir()) == []


def test_run_id_is_readable_and_sortable(store, clock):
    run = store.create({**CONFIG, "backbone": "MulT", "method": "C-Mixup (σ=0.1)"})
    # UTC time, backbone, method (slugs keep ids safe as folder names), seed, random suffix.
    prefix, suffix = run.id.rsplit("-", 1)
    assert prefix == "20261124-071502-mult-c-mixup-0-1-s1"
    assert len(suffix) == 4 and int(suffix, 16) >= 0
    clock["t"] += timedelta(seconds=1)
    later = store.create(CONFIG)
    assert sorted([later.id, run.id]) == [run.id, later.id]
    assert [r.id for r in store.list()] == [later.id, run.id]  # newest first


def test_finish_rules(store):
    run = store.create(CONFIG)
    with pytest.raises(MsmixError, match="unknown run status 'done'"):
        run.finish("done")
    with pytest.raises(MsmixError, match="map splits to metric dicts"):
        run.finish(metrics={"test": 0.7})
    with pytest.raises(MsmixError, match=r"finish\(\) ends a run: .* update\(\)"):
        run.finish("running")
    run.update(metrics=METRICS, best_epoch=3)  # the run goes on
    assert store.load(run.id).status == RunStatus.RUNNING
    run.log_epoch({"epoch": 4})
    run.finish("failed", error="RuntimeError: boom")  # None arguments keep what is stored
    loaded = store.load(run.id)
    assert (loaded.status, loaded.error, loaded.best_epoch, loaded.metrics) == (
        "failed",
        "RuntimeError: boom",
        3,
        METRICS,
    )
    with pytest.raises(MsmixError, match="already ended as 'failed'"):
        run.finish("finished")
    with pytest.raises(MsmixError, match="already ended"):
        run.log_epoch({"epoch": 5})
    with pytest.raises(MsmixError, match="already ended as 'failed': cannot update it"):
        run.update(best_epoch=4)


def test_bad_configs_are_refused_before_anything_is_written(store):
    with pytest.raises(MsmixError, match=r"lacks \['backbone', 'seed'\]"):
        store.create({"dataset": "mosi", "method": "none"})
    with pytest.raises(MsmixError, match="'seed' must be an integer"):
        store.create({**CONFIG, "seed": "1"})
    with pytest.raises(MsmixError, match="'dataset' must be a non-empty string"):
        store.create({**CONFIG, "dataset": {"name": "mosi"}})
    with pytest.raises(MsmixError, match="cannot be stored as JSON"):
        store.create({**CONFIG, "callback": print})
    with pytest.raises(MsmixError, match="cannot be stored as JSON"):
        store.create(CONFIG).log_epoch({"seen": {1, 2}})
    assert len(store.list()) == 1 and store.damaged() == []


def test_same_second_same_config_never_overwrites(store, clock, monkeypatch):
    suffixes = iter(["aaaa", "aaaa", "bbbb"])
    monkeypatch.setattr(store_module.secrets, "token_hex", lambda n: next(suffixes))
    first = store.create(CONFIG)
    first.finish(metrics=METRICS)
    second = store.create(CONFIG)  # draws "aaaa" again, finds it taken, takes "bbbb"
    assert first.id.endswith("-aaaa") and second.id.endswith("-bbbb")
    assert store.load(first.id).status == "finished" and store.load(second.id).status == "running"


def test_concurrent_creates_from_threads_get_unique_ids(store, clock):
    made, errors = [], []

    def worker():
        try:
            for _ in range(5):
                run = store.create(CONFIG)
                run.log_epoch({"epoch": 1})
                made.append(run.id)
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(made)) == 20
    assert sorted(r.id for r in store.list()) == sorted(made) and store.damaged() == []


def test_crash_between_write_and_rename_keeps_the_old_file(store, monkeypatch):
    run = store.create(CONFIG)
    before = (run.path / "result.json").read_bytes()

    def killed(src, dst):
        raise KeyboardInterrupt("killed before the rename")

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        run.finish(metrics=METRICS)
    monkeypatch.undo()
    assert (run.path / "result.json").read_bytes() == before
    assert sorted(p.name for p in run.path.iterdir()) == ["config.json", "history.jsonl", "result.json"]
    assert store.load(run.id).status == "running"


def test_crash_mid_write_and_stray_temp_files_leave_the_store_readable(store):
    run = store.create(CONFIG)
    target = run.path / "result.json"
    before = target.read_bytes()

    def half_written(file):
        file.write(b'{"status": "fini')
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, half_written)
    assert target.read_bytes() == before
    # A process killed outright leaves its temporary file behind; nobody reads it.
    (run.path / ".result.json.x1y2.tmp").write_text('{"status": "fini')
    (store.root / f".{run.id}-other.new").mkdir()  # and a half-created run stays hidden
    assert [r.id for r in store.list()] == [run.id] and store.damaged() == []
    assert store.load(run.id).history == []


def test_each_epoch_appends_one_json_line(store):
    run = store.create(CONFIG)
    run.log_epoch({"epoch": 1, "loss": float("nan")})
    run.log_epoch({"epoch": 2, "loss": 0.5})
    lines = (run.path / "history.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]
    assert (
        repr(store.load(run.id).history)
        == repr(run.history)
        == "[{'epoch': 1, 'loss': nan}, {'epoch': 2, 'loss': 0.5}]"
    )


def test_a_failed_append_leaves_the_history_as_it_was(store, monkeypatch):
    run = store.create(CONFIG)
    run.log_epoch({"epoch": 1})
    before = (run.path / "history.jsonl").read_bytes()

    def disk_full(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(MsmixError, match=r"cannot append an epoch to run .* \(disk full\)"):
        run.log_epoch({"epoch": 2})
    monkeypatch.undo()
    assert (run.path / "history.jsonl").read_bytes() == before
    run.log_epoch({"epoch": 2})
    assert [e["epoch"] for e in store.load(run.id).history] == [1, 2]


def test_a_last_line_cut_short_by_a_killed_run_is_skipped_with_a_note(store):
    run = store.create(CONFIG)
    run.log_epoch({"epoch": 1})
    run.log_epoch({"epoch": 2})
    with open(run.path / "history.jsonl", "ab") as file:
        file.write(b'{"epoch": 3, "lo')  # killed mid-append: no newline
    loaded = store.load(run.id)
    assert [e["epoch"] for e in loaded.history] == [1, 2]
    assert loaded.notes == ["history.jsonl line 3 was cut short (its process was killed?) and is skipped"]
    assert [r.id for r in store.list()] == [run.id] and store.damaged() == []
    assert list(store.table()["epochs"]) == [2]
    assert store.load(store.create(CONFIG).id).notes == []


def _to_old_format(run) -> None:
    """Rewrite a run's history as msmix stored it before appending: one indented JSON list."""
    history = [json.loads(line) for line in (run.path / "history.jsonl").read_text().splitlines()]
    (run.path / "history.json").write_text(json.dumps(history, indent=2))
    (run.path / "history.jsonl").unlink()


def test_a_run_stored_in_the_old_history_format_loads_as_it_was(store):
    run = store.create(CONFIG)
    run.log_epoch({"epoch": 1, "losses": {"train": 0.9}})
    run.log_epoch({"epoch": 2, "losses": {"train": 0.7}})
    run.finish(metrics=METRICS, best_epoch=2)
    new = store.load(run.id)
    _to_old_format(run)
    old = store.load(run.id)
    assert sorted(p.name for p in run.path.iterdir()) == ["config.json", "history.json", "result.json"]
    assert (old.history, old.status, old.metrics, old.best_epoch) == (new.history, "finished", METRICS, 2)
    pd.testing.assert_frame_equal(store.table([old]), store.table([new]))
    (run.path / "history.json").write_text(json.dumps([{"epoch": 1}, "epoch 2"]))
    [(path, why)] = store.damaged()
    assert path == run.path and "history.json entry 1 holds a str where a dict belongs" in why


def test_a_running_run_in_the_old_format_takes_no_appended_epochs(store):
    run = store.create(CONFIG)
    run.log_epoch({"epoch": 1})
    _to_old_format(run)
    with pytest.raises(MsmixError, match=r"old history\.json: start a new run"):
        run.log_epoch({"epoch": 2})
    assert not (run.path / "history.jsonl").exists()
    assert store.load(run.id).history == [{"epoch": 1}]


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda p: (p / "config.json").write_text('{"dataset": "mo'), "config.json is not valid JSON"),
        (lambda p: (p / "result.json").unlink(), "result.json is missing"),
        (lambda p: (p / "history.jsonl").write_text('{"epoch": 1}\n[1]\n'), "history.jsonl line 2 holds a list"),
        (lambda p: (p / "history.jsonl").write_text('{"ep\n{"epoch": 2}\n'), "history.jsonl line 1 is not valid JSON"),
        (lambda p: (p / "history.jsonl").unlink(), "history.jsonl is missing"),
        (lambda p: (p / "result.json").write_text('{"status": "odd"}'), "result.json has status 'odd'"),
        (lambda p: (p / "config.json").write_text('{"dataset": "mosi"}'), "config.json lacks"),
    ],
)
def test_damaged_runs_are_skipped_in_list_and_named_in_load(store, damage, reason):
    good = store.create(CONFIG)
    bad = store.create(CONFIG)
    damage(bad.path)
    assert [r.id for r in store.list()] == [good.id]
    [(path, why)] = store.damaged()
    assert path == bad.path and reason in why
    with pytest.raises(MsmixError, match=f"run '{bad.id}' is damaged: {reason}"):
        store.load(bad.id)
    store.delete(bad.id)  # a damaged run can still be deleted
    assert store.damaged() == []


def _edit_json(path: Path, edit) -> None:
    value = json.loads(path.read_text())
    edit(value)
    path.write_text(json.dumps(value))


@pytest.mark.parametrize(
    ("file", "edit", "field"),
    [
        ("config.json", lambda c: c.update(seed="abc"), "'seed' must be an integer, got 'abc'"),
        ("config.json", lambda c: c.update(seed=1.5), "'seed' must be an integer, got 1.5"),
        ("config.json", lambda c: c.update(seed=2**70), "'seed' must be an integer"),
        ("config.json", lambda c: c.update(label=["msmix"]), "'label' must be a non-empty string"),
        ("result.json", lambda r: r.update(best_epoch="x"), "'best_epoch' must be an integer or null, got 'x'"),
        ("result.json", lambda r: r["metrics"]["test"].update(MAE="abc"), "'metrics.test.MAE' must be a number"),
        ("result.json", lambda r: r["metrics"].update(test=[0.9]), "'metrics.test' holds a list"),
        ("result.json", lambda r: r.update(error=3), "'error' must be a string or null"),
        ("result.json", lambda r: r.update(ended=7), "no valid 'ended' timestamp"),
        ("result.json", lambda r: r.update(created="2026-11-24T07:15:02"), "no valid 'created' timestamp"),
    ],
)
def test_mistyped_json_is_reported_and_skipped_naming_the_field(store, file, edit, field):
    good = store.create(CONFIG)
    good.finish(metrics=METRICS, best_epoch=1)
    bad = store.create({**CONFIG, "method": "none"})
    bad.log_epoch({"epoch": 1})
    bad.finish(metrics=METRICS, best_epoch=1)
    _edit_json(bad.path / file, edit)
    assert [r.id for r in store.list()] == [good.id]
    [(path, why)] = store.damaged()
    assert path == bad.path and file in why and field in why
    with pytest.raises(MsmixError, match="is damaged"):
        store.load(bad.id)
    table = store.table()  # the listings that crashed on such a run keep working
    assert list(table["id"]) == [good.id]
    assert list(compare_runs(table, baseline=None)["metric"]) == list(METRICS["test"])


def _dead_pid() -> int:
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(child.stdout)


def test_a_running_run_whose_process_is_gone_reads_as_interrupted(store):
    run = store.create(CONFIG)
    assert run.process["pid"] == os.getpid() and run.process["host"] == socket.gethostname()
    assert store.load(run.id).status == "running"  # this very process trains it
    _edit_json(run.path / "result.json", lambda r: r["process"].update(pid=_dead_pid()))
    assert store.load(run.id).status == "interrupted"
    assert list(store.table()["status"]) == ["interrupted"]
    _edit_json(run.path / "result.json", lambda r: r["process"].update(pid=os.getpid(), started="1"))
    assert store.load(run.id).status == "interrupted"  # the pid was reused by another process
    assert json.loads((run.path / "result.json").read_text())["status"] == "running"  # reading changes nothing


def test_a_run_that_cannot_be_checked_is_interrupted_once_its_files_are_stale(store):
    elsewhere = store.create(CONFIG)
    _edit_json(elsewhere.path / "result.json", lambda r: r["process"].update(host="another-machine"))
    legacy = store.create(CONFIG)
    _edit_json(legacy.path / "result.json", lambda r: r.pop("process"))
    assert {r.status for r in store.list()} == {"running"}  # fresh files: maybe alive
    stale = time.time() - ABANDONED_AFTER.total_seconds() - 60
    for run in (elsewhere, legacy):
        for name in ("config.json", "history.jsonl", "result.json"):
            os.utime(run.path / name, (stale, stale))
    assert {r.status for r in store.list()} == {"interrupted"}


def test_delete_and_unknown_ids(store):
    run = store.create(CONFIG)
    keep = store.create(CONFIG)
    store.delete(run.id)
    assert not run.path.exists() and [r.id for r in store.list()] == [keep.id]
    assert [p.name for p in store.root.iterdir()] == [keep.id]
    with pytest.raises(MsmixError, match="no run"):
        store.load(run.id)
    with pytest.raises(MsmixError, match="no run"):
        store.delete(run.id)
    with pytest.raises(MsmixError, match="is not a run id"):
        store.delete("../" + keep.id)
    with pytest.raises(MsmixError, match="was deleted"):
        run.log_epoch({"epoch": 1})


def test_root_from_argument_environment_or_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MSMIX_RUNS_DIR", raising=False)
    assert RunStore().root == tmp_path / "runs"
    assert RunStore().list() == [] and not (tmp_path / "runs").exists()  # reading creates nothing
    monkeypatch.setenv("MSMIX_RUNS_DIR", str(tmp_path / "elsewhere"))
    run = RunStore().create(CONFIG)
    assert run.path.parent == tmp_path / "elsewhere"
    assert RunStore("explicit").root == tmp_path / "explicit"


def test_runs_folder_that_is_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "runs").write_text("not a folder")
    with pytest.raises(MsmixError, match="cannot create the runs folder"):
        RunStore(tmp_path / "runs").create(CONFIG)


def test_weights_round_trip_and_refuse_code(store, tmp_path):
    run = store.create(CONFIG)
    with pytest.raises(MsmixError, match="has no saved weights"):
        run.load_weights()
    state = {"backbone": {"w": torch.arange(6.0).reshape(2, 3)}, "method": {"b": torch.ones(2)}}
    run.save_weights(state)
    assert run.has_weights and store.load(run.id).has_weights
    loaded = store.load(run.id).load_weights()
    assert torch.equal(loaded["backbone"]["w"], state["backbone"]["w"])
    assert torch.equal(loaded["method"]["b"], state["method"]["b"])

    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    (run.path / "weights.pt").write_bytes(pickle.dumps({"w": Payload()}, protocol=2))
    with pytest.raises(MsmixError, match="cannot be loaded as plain weights"):
        run.load_weights()
    assert not marker.exists()


def _finished(store, clock, method, seed, metrics, **config):
    clock["t"] += timedelta(seconds=1)
    run = store.create({**CONFIG, "method": method, "seed": seed, **config})
    run.log_epoch({"epoch": 1})
    run.log_epoch({"epoch": 2})
    run.finish(metrics=metrics, best_epoch=1)
    return run


def test_table_has_one_tidy_row_per_run(store, clock):
    a = _finished(store, clock, "none", 1, METRICS)
    b = _finished(store, clock, "msmix", 1, {"test": {"Mult_acc_2": 0.8}}, dataset="sims", label="msmix (no SASS)")
    c = store.create({**CONFIG, "seed": 2})
    c.finish("failed", error="boom")
    table = store.table()
    assert list(table.columns) == [
        *TABLE_COLUMNS,
        "test_Has0_acc_2",
        "test_Non0_acc_2",
        "test_Mult_acc_2",
        "test_MAE",
        "test_Corr",
        "valid_Non0_acc_2",
        "valid_MAE",
    ]
    assert list(table["id"]) == [c.id, b.id, a.id]
    assert list(table["status"]) == ["failed", "finished", "finished"]
    assert list(table["label"]) == ["msmix", "msmix (no SASS)", "none"]
    assert list(table["dataset"]) == ["mosi", "sims", "mosi"]
    assert table["seed"].tolist() == [2, 1, 1] and table["epochs"].tolist() == [0, 2, 2]
    assert table["best_epoch"].isna().tolist() == [True, False, False]
    assert table["created"].iloc[0] == pd.Timestamp(c.created)
    assert table["test_Non0_acc_2"].tolist()[2] == 0.72 and table["test_Non0_acc_2"].isna().tolist()[:2] == [True] * 2
    assert table["test_Mult_acc_2"].tolist()[1] == 0.8
    assert list(store.table([a])["id"]) == [a.id]
    assert list(runs_table([]).columns) == list(TABLE_COLUMNS)


def _table(rows) -> pd.DataFrame:
    """A runs table by hand: (label, seed, test_Non0_acc_2, test_MAE[, status])."""
    records = []
    for i, (label, seed, acc, mae, *status) in enumerate(rows):
        records.append(
            {
                "id": f"run{i}",
                "status": status[0] if status else "finished",
                "dataset": "mosi",
                "backbone": "tfn",
                "method": label,
                "label": label,
                "seed": seed,
                "created": pd.Timestamp("2026-01-01", tz="UTC") + pd.Timedelta(seconds=i),
                "test_Non0_acc_2": acc,
                "test_MAE": mae,
            }
        )
    return pd.DataFrame(records)


BASE = {1: (0.70, 0.95), 2: (0.72, 0.90), 3: (0.69, 0.97), 4: (0.71, 0.93)}
MIX = {1: (0.73, 0.91), 2: (0.72, 0.89), 3: (0.72, 0.92), 4: (0.75, 0.90)}


def test_compare_runs_against_a_hand_computation():
    rows = [("none", s, *v) for s, v in BASE.items()] + [("msmix", s, *v) for s, v in MIX.items()]
    rows += [("msmix", 5, 0.99, 0.1, "failed")]  # only finished runs count
    compared = compare_runs(_table(rows))
    assert list(compared["label"]) == ["msmix", "msmix", "none", "none"]  # groups sorted, metrics in table order
    acc = compared.iloc[0]
    x = np.array([v[0] for v in MIX.values()])
    b = np.array([v[0] for v in BASE.values()])
    assert acc["n_seeds"] == 4 and acc["n_paired"] == 4
    assert acc["mean"] == round((0.73 + 0.72 + 0.72 + 0.75) / 4 * 100, 2) == 73.0
    hand_std = math.sqrt(((0.73 - 0.73) ** 2 + 2 * (0.72 - 0.73) ** 2 + (0.75 - 0.73) ** 2) / 4)  # MMSA: ddof=0
    assert acc["std"] == round(hand_std * 100, 2) == 1.22
    d = x - b  # 0.03, 0.00, 0.03, 0.04
    assert acc["delta"] == 2.5
    t = d.mean() / (d.std(ddof=1) / math.sqrt(4))
    assert acc["p_value"] == pytest.approx(2 * stats.t.sf(abs(t), df=3))
    assert acc["p_value"] == pytest.approx(stats.ttest_rel(x, b).pvalue)
    assert acc["significant"] == (acc["p_value"] < 0.05) and acc["better"]
    assert math.isnan(acc["p_wilcoxon"])  # fewer than 6 pairs

    mae = compared.iloc[1]
    assert mae["metric"] == "MAE" and mae["mean"] == round((0.91 + 0.89 + 0.92 + 0.90) / 4, 4) == 0.905
    assert mae["delta"] == round(np.mean([-0.04, -0.01, -0.05, -0.03]), 4) == -0.0325
    assert mae["better"]  # a lower MAE is the gain
    assert mae["p_value"] == pytest.approx(stats.ttest_rel([0.91, 0.89, 0.92, 0.90], [0.95, 0.90, 0.97, 0.93]).pvalue)

    base = compared.iloc[2]
    assert base["note"] == "baseline" and math.isnan(base["p_value"]) and base["mean"] == 70.5


def test_wilcoxon_from_six_seeds_and_duplicate_seeds_keep_the_newest():
    base = [0.70, 0.71, 0.69, 0.72, 0.70, 0.68]
    mix = [0.72, 0.74, 0.70, 0.71, 0.73, 0.72]
    rows = [("none", s, v, 1.0) for s, v in enumerate(base, 1)]
    rows += [("msmix", 1, 0.10, 1.0)]  # an older run of seed 1, superseded below
    rows += [("msmix", s, v, 1.0) for s, v in enumerate(mix, 1)]
    acc = compare_runs(_table(rows), metrics=["Non0_acc_2"]).iloc[0]
    assert acc["n_seeds"] == 6 and acc["mean"] == round(np.mean(mix) * 100, 2)
    assert acc["p_value"] == pytest.approx(stats.ttest_rel(mix, base).pvalue)
    assert acc["p_wilcoxon"] == pytest.approx(stats.wilcoxon(np.subtract(mix, base)).pvalue)


def test_too_few_shared_seeds_or_no_baseline_give_notes_not_crashes():
    rows = [("none", 1, 0.70, 0.9), ("none", 2, 0.71, 0.9), ("none", 3, 0.70, 0.9)]
    rows += [("msmix", 2, 0.75, 0.8), ("msmix", 3, 0.76, 0.8), ("msmix", 4, 0.77, 0.8)]
    rows += [("mixup", 1, 0.72, 0.9), ("mixup", 2, 0.74, 0.9), ("mixup", 3, 0.73, 0.9)]
    compared = compare_runs(_table(rows), metrics=["Non0_acc_2"])
    msmix = compared[compared["label"] == "msmix"].iloc[0]
    assert msmix["n_paired"] == 2 and math.isnan(msmix["p_value"]) and pd.isna(msmix["significant"])
    assert "fewer than 3 seeds shared" in msmix["note"]  # two pairs are never tested, however close
    (said,) = [s for s in significance_sentences(compared, "Non0_acc_2") if s.startswith("msmix")]
    assert said.count("no test") == 1 and said.endswith(
        "no test (fewer than 3 seeds shared with the baseline; train more seeds)."
    )
    mixup = compared[compared["label"] == "mixup"].iloc[0]
    assert mixup["n_paired"] == 3 and mixup["note"] == ""
    assert mixup["p_value"] == pytest.approx(stats.ttest_rel([0.72, 0.74, 0.73], [0.70, 0.71, 0.70]).pvalue)
    missing = compare_runs(_table(rows), baseline="cmixup", metrics=["Non0_acc_2"])
    assert all("no 'cmixup' runs with the same dataset, backbone" in n for n in missing["note"])
    untested = compare_runs(_table(rows), baseline=None, metrics=["MAE"])
    assert untested["p_value"].isna().all() and set(untested["note"]) == {"no baseline chosen"}
    one = compare_runs(_table([("none", 1, 0.7, 0.9)]), ddof=1).iloc[0]
    assert math.isnan(one["std"])  # a sample std needs two seeds


def test_identical_and_constant_shift_results_do_not_warn():
    same = [("none", s, 0.7, 0.9) for s in (1, 2, 3)] + [("msmix", s, 0.7, 0.8) for s in (1, 2, 3)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compared = compare_runs(_table(same))
    acc, mae = compared.iloc[0], compared.iloc[1]
    assert acc["p_value"] == 1.0 and not acc["significant"] and acc["note"] == "identical on every seed"
    assert mae["p_value"] == 0.0 and mae["significant"] and mae["better"]  # scipy: t = -inf for a constant shift


def test_compare_runs_bad_arguments():
    table = _table([("none", 1, 0.7, 0.9)])
    with pytest.raises(MsmixError, match=r"no test metric \['Corr'\]"):
        compare_runs(table, metrics=["Corr"])
    with pytest.raises(MsmixError, match=r"lacks \['speaker'\]"):
        compare_runs(table, by=("dataset", "speaker"))
    with pytest.raises(MsmixError, match="no valid metric"):
        compare_runs(table, split="valid", metrics=["MAE"])


def test_format_table_and_markdown():
    rows = [("none", s, *v) for s, v in BASE.items()] + [("msmix", s, *v) for s, v in MIX.items()]
    compared = compare_runs(_table(rows), alpha=0.2)
    shown = format_table(compared, p_values=True)
    p_acc = compared.iloc[0]["p_value"]
    assert list(shown.columns) == [
        "dataset",
        "backbone",
        "label",
        "n_seeds",
        "Non0_acc_2",
        "Non0_acc_2 p",
        "MAE",
        "MAE p",
    ]
    p_mae = compared.iloc[1]["p_value"]
    # p ≈ 0.063 for the accuracy and ≈ 0.032 for MAE: both significant gains at alpha = 0.2.
    assert shown.iloc[0].tolist() == [
        *("mosi", "tfn", "msmix", 4),
        *("73.00 ± 1.22 *", f"{p_acc:.3g}", "0.9050 ± 0.0112 *", f"{p_mae:.3g}"),
    ]
    assert shown.iloc[1, 3:].tolist() == [4, "70.50 ± 1.12", "", "0.9375 ± 0.0259", ""]
    worse_rows = [("none", s, *v) for s, v in BASE.items()] + [("bad", s, v[0] - 0.05, v[1]) for s, v in MIX.items()]
    assert format_table(compare_runs(_table(worse_rows), alpha=0.1)).iloc[0]["Non0_acc_2"] == "68.00 ± 1.22 †"
    markdown = to_markdown(pd.DataFrame({"a": ["x|y", None], "b": [1.5, float("nan")]}))
    assert markdown == "| a | b |\n|---|---|\n| x\\|y | 1.5 |\n|  |  |\n"
    assert list(format_table(compared.iloc[0:0]).columns) == ["dataset", "backbone", "label", "n_seeds"]


def test_compare_runs_on_a_real_store(store, clock):
    for seed, offset in ((1, 0.00), (2, 0.01), (3, 0.03)):
        _finished(store, clock, "none", seed, {"test": {"Non0_acc_2": 0.70 + offset}})
        _finished(store, clock, "msmix", seed, {"test": {"Non0_acc_2": 0.72 + offset * 2}})
    compared = compare_runs(store.table())
    msmix = compared[compared["label"] == "msmix"].iloc[0]
    assert msmix["n_paired"] == 3
    expected = stats.ttest_rel([0.72, 0.74, 0.78], [0.70, 0.71, 0.73]).pvalue
    assert msmix["p_value"] == pytest.approx(expected)
