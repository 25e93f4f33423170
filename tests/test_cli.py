"""The ``msmix`` command line: each subcommand on tiny settings, and user errors as one line with status 2."""

import json
import os
import pickle
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from helpers import FAST, run_cli

from msmix_core.analysis.latents import encode_split, fit_encoder
from msmix_core.cli import build_parser, main
from msmix_core.cli.grid import grid_configs, parse_knobs
from msmix_core.cli.train import DEFAULT_ABLATE_VARIANTS
from msmix_core.data.npz import load_npz
from msmix_core.errors import MsmixError
from msmix_core.experiments import ABLATIONS, ablation_label
from msmix_core.mixing import METHODS, candidate_mask, method_knobs, sass_similarity
from msmix_core.runs import RunStore
from msmix_core.training import RECIPES


@pytest.fixture
def runs_dir(tmp_path):
    return str(tmp_path / "runs")


@pytest.mark.slow
def test_train_stores_one_run_per_seed_and_prints_the_table(capsys, small_npz, runs_dir, tmp_path):
    out_csv, out_md = tmp_path / "t.csv", tmp_path / "out" / "t.md"
    code, out, _ = run_cli(
        capsys, "train", "--dataset", small_npz, "--runs-dir", runs_dir, *FAST, "--method", "msmix",
        "--seeds", 1, 2, "--set", "alpha=1.0", "--out", out_csv, out_md,
    )  # fmt: skip
    assert code == 0
    runs = RunStore(runs_dir).list()
    assert sorted(r.config["seed"] for r in runs) == [1, 2]
    assert all(r.config["method_kwargs"] == {"alpha": 1.0} and r.status == "finished" for r in runs)
    assert "msmix" in out and "MAE" in out and "Non0_acc_2" in out
    long = pd.read_csv(out_csv)
    assert set(long["metric"]) == {"Has0_acc_2", "Non0_acc_2", "Non0_F1_score", "Mult_acc_7", "MAE", "Corr"}
    assert (long["n_seeds"] == 2).all()
    assert out_md.read_text().startswith("| dataset | backbone | label |")


@pytest.mark.slow
def test_compare_runs_the_grid_and_tests_against_the_baseline(capsys, small_npz, runs_dir, tmp_path):
    out_csv = tmp_path / "c.csv"
    code, out, _ = run_cli(
        capsys, "compare", "--dataset", small_npz, "--runs-dir", runs_dir, *FAST, "--backbones", "late_fusion",
        "--methods", "none", "mixup", "--seeds", 1, 2, "--metrics", "MAE", "Corr", "--out", out_csv,
    )  # fmt: skip
    assert code == 0 and "paired t-test" in out
    long = pd.read_csv(out_csv)
    assert sorted(set(long["label"])) == ["mixup", "none"] and set(long["metric"]) == {"MAE", "Corr"}
    assert (long.loc[long["label"] == "mixup", "n_paired"] == 2).all()
    assert len(RunStore(runs_dir).list()) == 4


@pytest.mark.slow
def test_ablate_switches_each_msmix_part_off(capsys, small_npz, runs_dir, tmp_path):
    out_csv = tmp_path / "a.csv"
    code, _, _ = run_cli(
        capsys, "ablate", "--dataset", small_npz, "--runs-dir", runs_dir, *FAST, "--seeds", 1, 2,
        "--metrics", "MAE", "--out", out_csv,
    )  # fmt: skip
    assert code == 0
    long = pd.read_csv(out_csv)
    labels = {ablation_label(v): ABLATIONS[v] for v in DEFAULT_ABLATE_VARIANTS}
    assert "msmix -SASS -SIG -SAL" in labels
    assert list(long["label"]) == sorted(labels) and (long["baseline"] == "msmix").all()
    knobs = {r.config["label"]: r.config["method_kwargs"] for r in RunStore(runs_dir).list()}
    assert knobs == labels


@pytest.mark.slow
def test_ablate_runs_chosen_variants_against_full_msmix(capsys, small_npz, runs_dir):
    code, _, _ = run_cli(
        capsys, "ablate", "--dataset", small_npz, "--runs-dir", runs_dir, *FAST, "--seeds", 1, "--variants", "attached",
    )  # fmt: skip
    assert code == 0
    knobs = {r.config["label"]: r.config["method_kwargs"] for r in RunStore(runs_dir).list()}
    assert knobs == {"msmix": {}, "msmix attached (release)": {"detach_predictor_input": False}}
    with pytest.raises(SystemExit) as exit_info:
        main(["ablate", "--variants", "no-xyz"])
    assert exit_info.value.code == 2 and "invalid choice: 'no-xyz'" in capsys.readouterr().err


@pytest.mark.slow
def test_robustness_and_runs_subcommands(capsys, small_npz, runs_dir, tmp_path):
    assert run_cli(capsys, "train", "--dataset", small_npz, "--runs-dir", runs_dir, *FAST, "--seeds", 5)[0] == 0
    (run,) = RunStore(runs_dir).list()

    code, out, _ = run_cli(capsys, "runs", "list", "--runs-dir", runs_dir)
    assert code == 0 and run.id in out and "finished" in out
    code, out, _ = run_cli(capsys, "runs", "show", run.id, "--runs-dir", runs_dir)
    assert code == 0 and '"backbone": "late_fusion"' in out and "valid_loss" in out

    out_csv = tmp_path / "r.csv"
    code, out, _ = run_cli(
        capsys, "robustness", run.id, "--dataset", small_npz, "--runs-dir", runs_dir, "--device", "cpu",
        "--modalities", "text", "--noise-levels", 0.5, "--out", out_csv,
    )  # fmt: skip
    assert code == 0 and "zeroed" in out
    table = pd.read_csv(out_csv)
    assert list(table["condition"]) == ["clean", "zeroed", "noise"] and (table["run"] == run.id).all()
    assert (table["experiment"] == run.experiment_key).all()

    code, out, _ = run_cli(capsys, "runs", "delete", run.id, "--runs-dir", runs_dir)
    assert code == 0 and RunStore(runs_dir).list() == []
    assert "no runs" in run_cli(capsys, "runs", "list", "--runs-dir", runs_dir)[1]


def test_runs_list_skips_a_mistyped_run_and_names_the_field(capsys, runs_dir):
    store = RunStore(runs_dir)
    good = store.create({"dataset": "mosi", "backbone": "tfn", "method": "none", "seed": 1})
    bad = store.create({"dataset": "mosi", "backbone": "tfn", "method": "none", "seed": 2})
    config = bad.path / "config.json"
    config.write_text(config.read_text().replace('"seed": 2', '"seed": "abc"'))
    code, out, err = run_cli(capsys, "runs", "list", "--runs-dir", runs_dir)
    assert code == 0 and good.id in out and bad.id not in out
    assert err.count("\n") == 1 and "damaged run folder" in err and "'seed' must be an integer" in err


def _start_training(small_npz, runs_dir):
    """A real ``msmix train`` process, returned once its run is stored and it has finished an epoch."""
    argv = [sys.executable, "-m", "msmix_core", "train", "--dataset", small_npz, "--runs-dir", runs_dir, "--quiet"]
    argv += ["--epochs", "100000", "--patience", "100000", "--batch-size", "16", "--device", "cpu", "--no-weights"]
    process = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        runs = RunStore(runs_dir).list()
        if runs and runs[0].history:
            return process, runs[0].id
        time.sleep(0.2)
    process.kill()
    raise AssertionError(f"training did not start: {process.communicate()[1][-2000:]}")


@pytest.mark.slow
def test_sigterm_ends_a_run_like_ctrl_c(small_npz, runs_dir):
    process, run_id = _start_training(small_npz, runs_dir)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143
    assert err.strip().splitlines() == ["msmix: terminated by SIGTERM; a run in progress is stored as 'interrupted'"]
    run = RunStore(runs_dir).load(run_id)
    assert run.status == "interrupted" and "SIGTERM" in run.error


@pytest.mark.slow
def test_a_killed_run_is_listed_as_interrupted_not_running(capsys, small_npz, runs_dir):
    process, run_id = _start_training(small_npz, runs_dir)
    process.kill()  # SIGKILL: nothing can record the end
    process.wait(timeout=60)
    assert json.loads((RunStore(runs_dir).root / run_id / "result.json").read_text())["status"] == "running"
    assert RunStore(runs_dir).load(run_id).status == "interrupted"
    code, out, _ = run_cli(capsys, "runs", "list", "--runs-dir", runs_dir)
    assert code == 0 and "interrupted" in out and "running" not in out
    assert run_cli(capsys, "runs", "delete", run_id, "--runs-dir", runs_dir)[0] == 0  # not live: no --force needed


def test_deleting_a_live_run_needs_force(capsys, runs_dir):
    run = RunStore(runs_dir).create({"dataset": "mosi", "backbone": "tfn", "method": "none", "seed": 1})
    code, _, err = run_cli(capsys, "runs", "delete", run.id, "--runs-dir", runs_dir)
    assert code == 2 and f"is still running (process {os.getpid()}" in err and "--force" in err
    assert run.path.is_dir()
    assert run_cli(capsys, "runs", "delete", run.id, "--force", "--runs-dir", runs_dir)[0] == 0
    assert not run.path.exists()


def mmsa_split(rng, n):
    return {
        "id": np.array([f"video{i}$_$0" for i in range(n)]),
        "raw_text": np.array([f"clip {i}" for i in range(n)]),
        "text": rng.normal(size=(n, 6, 8)).astype(np.float32),
        "audio": rng.normal(size=(n, 6, 5)).astype(np.float32),
        "vision": rng.normal(size=(n, 6, 4)).astype(np.float32),
        "regression_labels": rng.uniform(-3, 3, size=n).astype(np.float32),
    }


def test_convert_writes_an_npz_that_loads_back_the_same(capsys, tmp_path):
    rng = np.random.default_rng(0)
    source, destination = tmp_path / "aligned_50.pkl", tmp_path / "mosi.npz"
    source.write_bytes(pickle.dumps({s: mmsa_split(rng, n) for s, n in (("train", 8), ("valid", 4), ("test", 4))}))
    code, out, _ = run_cli(capsys, "convert", source, destination, "--family", "mosi")
    assert code == 0 and "train 8" in out
    converted = load_npz(destination)
    np.testing.assert_array_equal(converted.train.audio, pickle.loads(source.read_bytes())["train"]["audio"])


@pytest.fixture
def pickle_file(tmp_path):
    rng = np.random.default_rng(0)
    source = tmp_path / "aligned_50.pkl"
    source.write_bytes(pickle.dumps({s: mmsa_split(rng, n) for s, n in (("train", 8), ("valid", 4), ("test", 4))}))
    return source


def _refused(capsys, *argv):
    code, _, err = run_cli(capsys, "convert", *argv)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    return err


def test_convert_never_replaces_its_source(capsys, pickle_file, tmp_path):
    original = pickle_file.read_bytes()
    link = tmp_path / "link.npz"
    link.symlink_to(pickle_file)
    (tmp_path / "sub").mkdir()
    for destination in (pickle_file, tmp_path / "sub" / ".." / pickle_file.name, link):
        assert "is the source itself" in _refused(capsys, pickle_file, destination)
        assert "is the source itself" in _refused(capsys, pickle_file, destination, "--force")
    assert pickle_file.read_bytes() == original


def test_convert_replaces_an_existing_npz_only_with_force(capsys, pickle_file, tmp_path):
    destination = tmp_path / "out.npz"
    destination.write_bytes(b"keep me")
    assert "exists: pass --force" in _refused(capsys, pickle_file, destination)
    assert destination.read_bytes() == b"keep me"
    assert run_cli(capsys, "convert", pickle_file, destination, "--force")[0] == 0
    assert len(load_npz(destination).train) == 8


def test_convert_destination_must_be_an_npz_file(capsys, pickle_file, tmp_path):
    assert "is a folder: give the .npz file to write" in _refused(capsys, pickle_file, tmp_path)
    assert "must end in .npz" in _refused(capsys, pickle_file, tmp_path / "out.dat")
    assert not (tmp_path / "out.dat").exists()
    (tmp_path / "blocker").write_text("a file where a folder belongs")
    assert "cannot write" in _refused(capsys, pickle_file, tmp_path / "blocker" / "out.npz")


def test_convert_of_an_npz_and_a_folder_as_dataset_say_what_they_are(capsys, small_npz, tmp_path, runs_dir):
    assert "convert takes a .pkl; " in _refused(capsys, small_npz, tmp_path / "again.npz")
    code, _, err = run_cli(capsys, "train", *FAST, "--dataset", tmp_path, "--runs-dir", runs_dir)
    assert code == 2 and "is a folder, not a file" in err


def test_convert_warns_on_one_line_about_a_modality_that_is_all_nan(capsys, tmp_path):
    rng = np.random.default_rng(0)
    raw = {s: mmsa_split(rng, n) for s, n in (("train", 8), ("valid", 4), ("test", 4))}
    raw["valid"]["audio"][:] = np.nan
    (tmp_path / "nan.pkl").write_bytes(pickle.dumps(raw))
    code, _, err = run_cli(capsys, "convert", tmp_path / "nan.pkl", tmp_path / "nan.npz", "--family", "mosi")
    assert code == 0
    assert err.strip().splitlines() == [
        f"msmix: warning: {tmp_path / 'nan.pkl'}: split 'valid': every audio value was NaN or infinite and is now 0 "
        "(no information left)"
    ]


@pytest.mark.slow
def test_runs_show_into_a_closed_pipe_ends_quietly(tmp_path):
    runs_dir = tmp_path / "runs"
    run = RunStore(runs_dir).create({"dataset": "mosi", "backbone": "tfn", "method": "none", "seed": 1})
    for epoch in range(1, 400):  # records that are not the trainer's: the curve shows what they have
        run.log_epoch({"epoch": epoch, "losses": {"train": 1.0 / epoch}})
    argv = [sys.executable, "-m", "msmix_core", "runs", "show", run.id, "--runs-dir", runs_dir]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process.stdout.close()  # `| head` that has read enough before msmix even starts writing
    err = process.stderr.read()
    assert process.wait(timeout=60) == 141 and err == ""


def test_runs_show_prints_a_curve_for_any_history(capsys, runs_dir):
    run = RunStore(runs_dir).create({"dataset": "mosi", "backbone": "tfn", "method": "none", "seed": 1})
    run.log_epoch({"epoch": 1, "losses": {"train": 0.5}})
    run.log_epoch({"note": "no losses"})
    code, out, err = run_cli(capsys, "runs", "show", run.id, "--runs-dir", runs_dir)
    assert code == 0 and err == "" and "0.5000" in out


def test_partners_lists_the_dense_sass_candidates_of_every_sample_of_the_split(capsys, small_npz, tmp_path):
    out_csv = tmp_path / "out" / "partners.csv"
    code, out, err = run_cli(
        capsys, "partners", "--dataset", small_npz, "--device", "cpu", "--threshold", 0.3, "--top-k", 3,
        "--block-size", 16, "--show", 4, "--out", out_csv,
    )  # fmt: skip
    assert code == 0 and "64 samples" in out and "SASS candidates at δ = 0.3" in out and "wrote" in err
    table = pd.read_csv(out_csv)
    assert len(table) == 64 and list(table.columns[:4]) == ["row", "label", "candidates", "contradictory"]
    dataset = load_npz(small_npz)
    model, _ = fit_encoder(dataset, seed=1111, device="cpu")
    mask = candidate_mask(sass_similarity(encode_split(model, dataset)), 0.3)
    assert table["candidates"].tolist() == mask.sum(dim=1).tolist()
    labels = dataset.train.labels
    clash = mask.numpy() & (labels[:, None] * labels[None, :] < 0)
    assert table["contradictory"].tolist() == clash.sum(axis=1).tolist()
    for row, partner in zip(table["row"], table["partner_1"], strict=True):
        assert (partner == -1) == (not mask[row].any()) and (partner == -1 or mask[row, partner])


def test_methods_lists_every_method_and_its_declared_knobs(capsys):
    code, out, _ = run_cli(capsys, "methods")
    assert code == 0
    for name in METHODS:
        assert f"\n{name} (" in f"\n{out}"
        for knob, declared in method_knobs(name).items():
            assert f"  {knob}=" in out and declared.doc in out
    assert "  alpha=1  a number in [0.001, 10000]; α of the Beta(α, α) ratio draw" in out  # mixup's
    assert "  threshold=0.4  a number in [0, 1];" in out


def test_parse_knobs_targets_names_and_parses_values():
    knobs = parse_knobs(["alpha=2", "msmix.use_sal=false", "mixup.tag=x", "sigma=[1, 2]"], ["mixup", "msmix"], "--set")
    assert knobs == {
        "mixup": {"alpha": 2, "tag": "x", "sigma": [1, 2]},
        "msmix": {"alpha": 2, "use_sal": False, "sigma": [1, 2]},
    }
    assert parse_knobs(["num_mix=None", "use_sass=True"], ["msmix"], "--set") == {
        "msmix": {"num_mix": None, "use_sass": True}
    }
    with pytest.raises(MsmixError, match="KEY=VALUE"):
        parse_knobs(["alpha"], ["msmix"], "--set")
    with pytest.raises(MsmixError, match="'tfn' is not one of"):
        parse_knobs(["tfn.alpha=1"], ["msmix"], "--set")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--dataset", "no/such/file.pkl"], "no/such/file.pkl"),
        (["train", "--backbone", "resnet"], "resnet"),
        (["compare", "--methods", "none", "cutmix"], "cutmix"),
        (["train", "--method", "msmix", "--set", "alpha=-1"], "alpha"),
        (["train", "--set", "alpha"], "KEY=VALUE"),
        (["train", "--epochs", "0"], "epochs"),
        (["train", "--metrics", "Acc_9"], "Acc_9"),
        (["train", "--out", "table.xlsx"], ".csv or .md"),
        (["compare", "--methods", "mixup", "msmix"], "--baseline"),
        (["runs", "show", "20990101-000000-x"], "no run"),
        (["convert", "missing.pkl", "out.npz"], "missing.pkl"),
        (["partners", "--out", "partners.md"], "must end in .csv"),
        (["partners", "--threshold", "1.5", "--device", "cpu"], "threshold"),
        (["train", "--seeds", "1", "2", "1"], "seeds: [1] given more than once"),
    ],
)
def test_user_errors_exit_2_with_one_line_and_no_traceback(capsys, small_npz, runs_dir, argv, message):
    if argv[0] in ("train", "compare"):
        extra = ["--runs-dir", runs_dir] + ([] if "--dataset" in argv else ["--dataset", small_npz])
        argv = [argv[0], *FAST, *argv[1:], *extra]  # the case's own flags come last and win
    elif argv[0] == "runs":
        argv = [*argv, "--runs-dir", runs_dir]
    code, _, err = run_cli(capsys, *argv)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("msmix: error:") and message in err
    assert "Traceback" not in err
    assert not RunStore(runs_dir).list(), "no run is created when the command line is wrong"


def test_usage_errors_are_one_line_too(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--epochs", "many"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and len(err.strip().splitlines()) == 1 and "--epochs" in err


@pytest.mark.slow
def test_python_dash_m_runs_the_same_command_line():
    done = subprocess.run([sys.executable, "-m", "msmix_core", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("msmix ")


def test_the_glomo_papers_settings_are_one_option_and_a_given_knob_still_wins(capsys):
    args = build_parser().parse_args(["train", "--backbone", "glomo", "--recipe", "glomo", "--seeds", "1"])
    (paper,) = grid_configs(args, [args.backbone], {"glomo": ("none", {})})
    assert (paper.optimizer, paper.lr, paper.batch_size, paper.epochs, paper.loss) == ("adamw", 4e-5, 240, 70, "l1")
    assert paper.backbone_kwargs == RECIPES["glomo"].backbone_knobs["glomo"]
    args = build_parser().parse_args(
        [
            "train",
            "--backbone",
            "glomo",
            "--recipe",
            "glomo",
            "--backbone-set",
            "layers=1",
            "--epochs",
            "3",
            "--seeds",
            "1",
        ]
    )
    (mine,) = grid_configs(args, [args.backbone], {"glomo": ("none", {})})
    assert (mine.backbone_kwargs["layers"], mine.backbone_kwargs["d_model"], mine.epochs) == (1, 48, 3)
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "glomo: the GLoMo paper's MOSI settings" in capsys.readouterr().out


def test_a_crash_in_serial_training_is_one_line_naming_the_stored_run(capsys, tiny_npz, runs_dir, monkeypatch):
    """Not a MsmixError (a torch error): the trainer stores the run failed; the CLI says which, as a pool grid does."""
    from msmix_core.mixing.methods import Mixup

    def crash(self, features, labels, generator=None):
        raise RuntimeError("value cannot be converted to type float without overflow\nsecond line")

    monkeypatch.setattr(Mixup, "forward", crash)
    argv = ["train", "--dataset", tiny_npz, "--runs-dir", runs_dir, "--method", "mixup", "--workers", "1"]
    code, _, err = run_cli(capsys, *argv, "--seeds", "1", "2", *FAST)
    (run,) = RunStore(runs_dir).list()
    assert run.status == "failed" and "without overflow" in run.error
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"msmix: error: run {run.id} failed: RuntimeError: value cannot") and "second" not in err
    assert "second line" in run.error  # the run keeps the whole error; the terminal gets its first line
    assert err.rstrip().endswith("the 1 runs after it did not train")


def test_the_first_interrupt_ignores_the_next_ones_and_an_in_process_caller_gets_its_handlers_back():
    from msmix_core.cli.common import sigterm_as_interrupt

    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), sigterm_as_interrupt():
        try:
            signal.raise_signal(signal.SIGTERM)
        except KeyboardInterrupt:  # being handled: a second Ctrl-C or SIGTERM now would cut the storing short
            assert signal.getsignal(signal.SIGINT) is signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
            raise
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
