"""The run store against what a shared server meets: odd files where runs belong, a full disk, a read-only
store, crafted text, impossible processes, symlinked run folders (issue 21, points 5 and 6)."""

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from helpers import QUICK, open_page, run_cli

from msmix_core.cli import main
from msmix_core.data.npz import save_npz
from msmix_core.data.synthetic import make_synthetic
from msmix_core.errors import MsmixError, printable
from msmix_core.limits import JSON_DEPTH_LIMIT
from msmix_core.runs import Run, RunStore
from msmix_core.runs.files import HISTORY_FILE_LIMIT, JSON_FILE_LIMIT

CONFIG = {"dataset": "mosi", "backbone": "tfn", "method": "msmix", "seed": 1}
METRICS = {"valid": {"MAE": 0.9}, "test": {"MAE": 0.95, "Corr": 0.6}}


@pytest.fixture
def store(tmp_path) -> RunStore:
    return RunStore(tmp_path / "runs")


def _replace(path: Path, make) -> None:
    path.unlink()
    make(path)


def _sparse(size: int):
    def make(path: Path) -> None:
        with open(path, "wb") as file:
            file.truncate(size)

    return make


ODD_FILES = {
    "a folder": lambda path: path.mkdir(),
    "a FIFO": os.mkfifo,
    "a device": lambda path: path.symlink_to("/dev/zero"),
    "a dangling link": lambda path: path.symlink_to(path.parent / "nowhere"),
    "a link loop": lambda path: path.symlink_to(path),
}


@pytest.mark.parametrize("name", ["config.json", "history.jsonl", "result.json"])
@pytest.mark.parametrize("kind", list(ODD_FILES))
def test_a_run_file_that_is_not_a_regular_file_makes_the_run_damaged_not_a_hang(store, capsys, name, kind):
    good = store.create(CONFIG)
    bad = store.create(CONFIG)
    _replace(bad.path / name, ODD_FILES[kind])
    assert [run.id for run in store.list()] == [good.id]  # returns at once: a FIFO is never waited on
    [(path, reason)] = store.damaged()
    assert path == bad.path and reason.startswith(name)
    with pytest.raises(MsmixError, match=f"run '{bad.id}' is damaged: {name}"):
        store.load(bad.id)
    code, out, err = run_cli(capsys, "runs", "list", "--runs-dir", store.root)
    assert code == 0 and good.id in out and bad.id not in out and f"damaged run folder {bad.path}: {name}" in err


def test_a_legacy_history_that_is_a_folder_is_damage_too(store):
    run = store.create(CONFIG)
    (run.path / "history.jsonl").unlink()
    (run.path / "history.json").mkdir()
    [(_, reason)] = store.damaged()
    assert reason == "history.json is a folder, not a file"


@pytest.mark.parametrize(("name", "limit"), [("config.json", JSON_FILE_LIMIT), ("history.jsonl", HISTORY_FILE_LIMIT)])
def test_a_run_file_beyond_its_size_cap_is_refused_unread(store, name, limit):
    run = store.create(CONFIG)
    _replace(run.path / name, _sparse(limit + 1))  # sparse: no disk used, and never read
    [(_, reason)] = store.damaged()
    assert reason == f"{name} holds {limit + 1:,} bytes, more than the {limit:,} msmix reads from it"


@pytest.mark.parametrize("name", ["config.json", "result.json", "history.jsonl"])
def test_json_nested_too_deep_is_damage_not_a_recursion_error(store, name):
    run = store.create(CONFIG)
    for depth in (JSON_DEPTH_LIMIT + 1, 100_000):  # just beyond the limit, and beyond Python's recursion limit
        nested = "[" * depth + "]" * depth
        text = nested + "\n" if name == "history.jsonl" else json.dumps({**CONFIG, "x": 0})[:-1] + f', "y": {nested}}}'
        (run.path / name).write_text(text)
        [(_, reason)] = store.damaged()
        assert "nests lists or dicts deeper than 32 levels" in reason
    (run.path / name).write_text("[" * JSON_DEPTH_LIMIT + "]" * JSON_DEPTH_LIMIT + "\n")


def test_an_unreadable_run_folder_is_damage(store, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root reads every file whatever its permissions")
    run = store.create(CONFIG)
    (run.path / "config.json").chmod(0)
    [(_, reason)] = store.damaged()
    assert reason == "config.json cannot be opened (Permission denied)"


@pytest.mark.parametrize("pid", [0, -1, -(2**40), 2**62])
def test_a_run_whose_process_is_impossible_is_not_running(store, pid):
    run = store.create(CONFIG)
    result = json.loads((run.path / "result.json").read_text())
    result["process"]["pid"] = pid  # 0 and -1 would make os.kill ask about whole process groups
    (run.path / "result.json").write_text(json.dumps(result))
    assert store.load(run.id).status == "interrupted"


def test_printable_shows_controls_and_reordering_marks_as_escapes():
    assert printable("ok é 日本") == "ok é 日本"
    assert printable("a\x1b]0;title\x07b\x9b2J\u202eevil\tc\rd") == "a\\x1b]0;title\\x07b\\x9b2J\\u202eevil\\tc\\rd"


def test_the_terminal_never_gets_escape_sequences_from_the_store(store, capsys):
    run = store.create({**CONFIG, "label": "\x1b[2J\x1b]0;owned\x07msmix\u202e"})
    run.finish("failed", error="boom\x1b[31m")
    (store.root / "bad\x1b[1A").mkdir()
    for argv in (["runs", "list"], ["runs", "show", run.id]):
        main([*argv, "--runs-dir", str(store.root)])
        out, err = capsys.readouterr()
        assert "\x1b" not in out + err and "\x07" not in out + err
    assert "\\x1b[2J" in out or "\\u001b[2J" in out


def test_a_failed_run_must_say_why(store):
    run = store.create(CONFIG)
    with pytest.raises(MsmixError, match="a run that failed must say why"):
        run.finish("failed")
    with pytest.raises(MsmixError, match="a run that failed must say why"):
        store.record(CONFIG, [], status="failed", metrics={})
    run.finish("failed", error="RuntimeError: boom")
    assert store.load(run.id).error == "RuntimeError: boom"


def test_deleting_a_run_folder_that_is_a_link_removes_the_link_only(store, tmp_path):
    run = store.create(CONFIG)
    elsewhere = tmp_path / "elsewhere"
    run.path.rename(elsewhere)
    link = store.root / run.id
    link.symlink_to(elsewhere, target_is_directory=True)
    assert [r.id for r in store.list()] == [run.id]
    store.delete(run.id)
    assert not os.path.lexists(link) and (elsewhere / "config.json").is_file()  # the target is not the store's
    assert sorted(p.name for p in store.root.iterdir()) == []  # no renamed link left behind


# --- a full disk and a read-only store: a small tmpfs (root only) -----------------------------------------


@contextlib.contextmanager
def _tmpfs(folder: Path, size: str, options: str = ""):
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}{options}", "tmpfs", str(folder)])
    if mounted.returncode != 0:
        pytest.skip("this test mounts a small tmpfs, which needs root (or CAP_SYS_ADMIN)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


def _fill(folder: Path) -> None:
    with contextlib.suppress(OSError), open(folder / "filler", "wb") as file:
        while True:
            file.write(b"\0" * 4096)
            file.flush()


def _debris(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.startswith(".")) if root.is_dir() else []


@pytest.mark.skipif(sys.platform != "linux", reason="tmpfs is Linux's")
def test_a_full_disk_gives_one_line_records_the_error_and_leaves_no_debris(tmp_path):
    with _tmpfs(tmp_path / "disk", "64k") as disk:
        store = RunStore(disk / "runs")
        run = store.create(CONFIG)
        run.log_epoch({"epoch": 1})
        _fill(disk)
        with pytest.raises(MsmixError, match=r"cannot append an epoch to run .*No space left on device.*free some"):
            run.log_epoch({"epoch": 2, "pad": "x" * 8192})
        run.finish("failed", error="MsmixError: no space")  # its last word still fits where the old file was
        stored = store.load(run.id)
        assert stored.status == "failed" and stored.error == "MsmixError: no space" and stored.history == [{"epoch": 1}]
        with pytest.raises(MsmixError, match=r"cannot write a new run .*No space left on device"):
            store.record(CONFIG, [{"epoch": 1, "pad": "x" * 8192}], status="finished", metrics=METRICS)
        with pytest.raises(MsmixError, match="cannot write a new run"):
            store.create({**CONFIG, "pad": "x" * 8192})
        assert _debris(store.root) == [] and [r.id for r in store.list()] == [run.id]


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="tmpfs is Linux's")
def test_training_onto_a_disk_that_fills_ends_with_one_line_and_a_failed_run(tmp_path, capsys, monkeypatch):
    data = tmp_path / "tiny.npz"
    save_npz(make_synthetic(seed=0, n_train=32, n_valid=16, n_test=16), data)
    log_epoch = Run.log_epoch

    def log_then_fill(run: Run, record: dict) -> None:
        log_epoch(run, record)
        _fill(run.path.parent.parent)  # the disk is full from the second epoch on

    monkeypatch.setattr(Run, "log_epoch", log_then_fill)
    with _tmpfs(tmp_path / "disk", "256k") as disk:
        argv = ["train", "--dataset", data, "--runs-dir", disk / "runs", "--seeds", "1", "--epochs", "5"]
        code, _, err = run_cli(capsys, *argv, *QUICK, "--no-weights")
        assert code == 2 and err.startswith("msmix: error: run ") and err.count("\n") == 1
        assert "failed: cannot write the result of run" in err  # the run, then its error
        assert "No space left on device" in err
        [run] = RunStore(disk / "runs").list()
        assert run.status == "failed" and "No space left on device" in run.error and len(run.history) == 1
        assert _debris(disk / "runs") == []


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="tmpfs is Linux's")
def test_a_pool_grid_onto_a_full_disk_says_the_runs_trained_were_not_stored(tmp_path, capsys):
    """The workers train, the driver cannot store: the line says what was lost, not only that a write failed."""
    data = tmp_path / "tiny.npz"
    save_npz(make_synthetic(seed=0, n_train=32, n_valid=16, n_test=16), data)
    with _tmpfs(tmp_path / "disk", "64k") as disk:
        (disk / "runs").mkdir()
        _fill(disk)
        argv = ["train", "--dataset", data, "--runs-dir", disk / "runs", "--seeds", "1", "2", "3", "--workers", "2"]
        code, _, err = run_cli(capsys, *argv, "--epochs", "1", *QUICK, "--no-weights")
        assert code == 2 and err.count("\n") == 1 and "No space left on device" in err, err
        assert re.search(r"; run none s[123] trained but is not stored, and the 2 runs not finished were stopped", err)
        assert err.rstrip().endswith(": 0 of 3 runs were stored")
        assert RunStore(disk / "runs").list() == [] and _debris(disk / "runs") == []


@pytest.mark.skipif(sys.platform != "linux", reason="tmpfs is Linux's")
def test_a_read_only_store_gives_one_line_and_changes_nothing(tmp_path, capsys):
    with _tmpfs(tmp_path / "ro", "1m") as folder:
        store = RunStore(folder / "runs")
        run = store.create(CONFIG)
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        with pytest.raises(MsmixError, match=r"cannot write a new run .*Read-only file system"):
            store.create(CONFIG)
        with pytest.raises(MsmixError, match=r"cannot append an epoch .*Read-only file system"):
            run.log_epoch({"epoch": 1})
        with pytest.raises(MsmixError, match=r"cannot write the result .*Read-only file system"):
            run.finish("failed", error="boom")
        code = main(["runs", "delete", run.id, "--force", "--runs-dir", str(store.root)])
        err = capsys.readouterr().err
        assert code == 2 and err.startswith(f"msmix: error: cannot delete run {run.id}") and err.count("\n") == 1
        assert [r.id for r in store.list()] == [run.id] and _debris(store.root) == []


@pytest.mark.slow
@pytest.mark.parametrize("page", ["training", "robustness", "sweeps"])
def test_the_pages_that_list_runs_report_odd_run_folders_and_go_on(tmp_path, monkeypatch, tiny, page):
    """A run folder whose config.json is a folder, another whose history is a FIFO: an error box, no exception."""
    import ui.data

    monkeypatch.setenv("MSMIX_RUNS_DIR", str(tmp_path))
    monkeypatch.setattr(ui.data, "dataset", lambda settings: tiny)
    store = RunStore(tmp_path)
    for make, name in ((ODD_FILES["a folder"], "config.json"), (ODD_FILES["a FIFO"], "history.jsonl")):
        _replace(store.create({**CONFIG, "dataset": tiny.name}).path / name, make)
    at = open_page(page)
    reported = " ".join(error.value for error in at.error)
    assert "2 damaged run folder(s) skipped" in reported
    assert "config.json is a folder, not a file" in reported and "history.jsonl is a FIFO, not a file" in reported


def test_weights_beyond_the_memory_limit_are_refused_unread(store, monkeypatch):
    run = store.create(CONFIG)
    run.save_weights({"w": torch.zeros(4)})
    _replace(run.path / "weights.pt", _sparse(64 << 20))
    monkeypatch.setenv("MSMIX_MEMORY_LIMIT", "16M")
    with pytest.raises(MsmixError, match=r"weights\.pt would take 0\.1 GiB, more than the 0\.0 GiB one input may use"):
        store.load(run.id).load_weights()


@pytest.mark.skipif(sys.platform != "linux", reason="tmpfs is Linux's")
def test_convert_onto_a_full_disk_is_one_line_and_leaves_nothing(tmp_path):
    with _tmpfs(tmp_path / "disk", "64k") as disk:
        with pytest.raises(MsmixError, match=r"cannot write .*data\.npz \(No space left on device\)"):
            save_npz(make_synthetic(seed=0, n_train=64, n_valid=32, n_test=32), disk / "data.npz")
        assert list(disk.iterdir()) == []


def _saved_with(content):
    """A weights file holding ``content`` as torch saves it."""
    return lambda path: torch.save(content, path)


BAD_WEIGHTS = {
    "not a pickle": lambda path: path.write_bytes(b"hello"),
    "empty": lambda path: path.write_bytes(b""),
    "a torn zip": lambda path: path.write_bytes(b"PK\x03\x04" + b"\x00" * 40),
    "a tensor": _saved_with(torch.zeros(3)),
    "a list": _saved_with([1, 2]),
    "backbone not a dict": _saved_with({"backbone": [torch.zeros(2)]}),
    "backbone of numbers": _saved_with({"backbone": {"w": 5}}),
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One stored run with weights, and the data it was trained on (each test replaces its weights)."""
    folder = tmp_path_factory.mktemp("trained")
    save_npz(make_synthetic(seed=0, n_train=32, n_valid=16, n_test=16), folder / "tiny.npz")
    argv = ["train", "--dataset", str(folder / "tiny.npz"), "--runs-dir", str(folder / "runs"), "--seeds", "1"]
    assert main([*argv, *QUICK, "--epochs", "1"]) == 0
    return folder / "tiny.npz", RunStore(folder / "runs")


@pytest.mark.parametrize("kind", list(BAD_WEIGHTS))
def test_a_damaged_weights_file_is_one_line_in_the_robustness_command(trained, capsys, kind):
    dataset, store = trained
    (run,) = store.list()
    _replace(run.path / "weights.pt", BAD_WEIGHTS[kind])
    capsys.readouterr()
    argv = ["robustness", run.id, "--runs-dir", str(store.root), "--dataset", str(dataset), "--device", "cpu"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ("cannot be loaded as plain weights" in err or "dict of tensors" in err), err


def _left(store: RunStore, name: str, process: dict | None, age_s: float) -> Path:
    """A hidden folder as a writer killed mid-publish (or mid-delete) leaves it, last touched ``age_s`` ago."""
    folder = store.root / name
    folder.mkdir(parents=True)
    if process is not None:
        (folder / "result.json").write_text(json.dumps({"status": "running", "process": process}))
    (folder / "config.json").write_text("{}")
    then = time.time() - age_s
    for path in (*folder.iterdir(), folder):
        os.utime(path, (then, then))
    return folder


def test_staging_and_trash_left_by_a_killed_writer_are_removed_and_a_live_writers_are_kept(store, tmp_path):
    from msmix_core.runs.liveness import DEBRIS_AFTER, this_process

    old = DEBRIS_AFTER.total_seconds() + 60
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = this_process() | {"pid": int(gone.stdout), "started": "1"}
    elsewhere = this_process() | {"host": "another-machine"}
    removed = [
        _left(store, ".20260101-000000-tfn-msmix-s1-aaaa.new", dead, 1),  # its process is gone: at once
        _left(store, ".20260101-000000-tfn-msmix-s1-bbbb.new", elsewhere, old),  # unknowable, and old
        _left(store, ".20260101-000000-tfn-msmix-s1-cccc.new", None, old),  # killed before result.json
        _left(store, ".20260101-000000-tfn-msmix-s1-dddd.deleted-0a1b2c3d", None, old),  # a killed delete
    ]
    kept = [
        _left(store, ".20260101-000000-tfn-msmix-s1-eeee.new", this_process(), old),  # its writer lives
        _left(store, ".20260101-000000-tfn-msmix-s1-ffff.new", elsewhere, 5),  # may still be written
        _left(store, ".20260101-000000-tfn-msmix-s1-gggg.deleted-0a1b2c3d", None, 5),  # being deleted now
        _left(store, ".hidden-by-the-user", None, old),  # not the store's
    ]
    good = store.create(CONFIG)
    assert [run.id for run in store.list()] == [good.id]
    assert not any(path.exists() for path in removed) and all(path.exists() for path in kept)


def test_publishing_a_run_removes_a_killed_writers_staging_folder(store):
    from msmix_core.runs.liveness import DEBRIS_AFTER

    store.root.mkdir(parents=True)
    stale = _left(store, ".20260101-000000-tfn-msmix-s1-aaaa.new", None, DEBRIS_AFTER.total_seconds() + 60)
    store.create(CONFIG)  # a write, no listing
    assert not stale.exists()


def test_a_folder_being_deleted_is_fresh_whatever_the_age_of_the_run(store, monkeypatch):
    """A listing while a delete runs must not take the renamed folder for debris (it is removed by its deleter)."""
    run = store.create(CONFIG)
    then = time.time() - 3600
    for path in (*run.path.iterdir(), run.path):
        os.utime(path, (then, then))
    seen = []
    real_rmtree = shutil.rmtree

    def rmtree(path, *args, **kwargs):
        seen.append(os.stat(path).st_mtime)
        return real_rmtree(path, *args, **kwargs)

    monkeypatch.setattr(shutil, "rmtree", rmtree)
    store.delete(run.id)
    assert seen and time.time() - seen[0] < 60
