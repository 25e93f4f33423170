"""``msmix runs list --where/--group-by``, ``runs diff``, ``runs tag``, ``runs note``, and what ``show`` prints."""

from __future__ import annotations

import subprocess
import sys

import pytest
from helpers import run_cli
from stored_runs import fill, record_on_data

from msmix_core.runs import RunStore
from msmix_core.runs.identity import experiment_key


@pytest.fixture
def filled(tmp_path):
    store = RunStore(tmp_path / "runs")
    return str(store.root), fill(store)


def test_list_where_narrows_and_group_by_experiment_averages_seeds(capsys, filled):
    runs_dir, runs = filled
    where = ["--where", "label=msmix", "--where", "seed=2"]
    code, out, _ = run_cli(capsys, "runs", "list", "--runs-dir", runs_dir, *where)
    assert code == 0 and len(out.splitlines()) == 3  # header, msmix at 2 and at 3 epochs
    assert runs["msmix"][1].id in out and runs["msmix 3 epochs"][1].id in out and "test_MAE" in out
    code, out, _ = run_cli(capsys, "runs", "list", "--runs-dir", runs_dir, "--group-by", "experiment")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 6 and "n_seeds" in lines[0]
    three = next(line for line in lines if experiment_key(runs["msmix 3 epochs"][0].config) in line)
    assert " 3 " in three and "0.7200 ± 0.0082" in three  # MAE 0.71, 0.72, 0.73 over seeds 1-3
    code, out, _ = run_cli(capsys, "runs", "list", "--runs-dir", runs_dir, "--where", "label=none*x")
    assert code == 0 and "no runs" in out and "where label=none*x" in out


def test_tag_and_note_show_in_list_and_show(capsys, filled):
    runs_dir, runs = filled
    run_id = runs["none"][0].id
    assert run_cli(capsys, "runs", "tag", run_id, "baseline", "paper", "--runs-dir", runs_dir)[1].endswith(
        "tags baseline, paper\n"
    )
    assert "tags paper\n" in run_cli(capsys, "runs", "tag", run_id, "baseline", "--remove", "--runs-dir", runs_dir)[1]
    code, out, _ = run_cli(capsys, "runs", "note", run_id, "diverged", "after", "epoch 2", "--runs-dir", runs_dir)
    assert code == 0 and "note saved" in out
    out = run_cli(capsys, "runs", "list", "--where", "tags=paper", "--runs-dir", runs_dir)[1]
    assert len(out.splitlines()) == 2 and "diverged after epoch 2" in out
    out = run_cli(capsys, "runs", "show", run_id, "--runs-dir", runs_dir)[1]
    assert "tags: paper\nnote: diverged after epoch 2\n" in out and f"folder: {runs_dir}/{run_id}" in out
    assert "note removed" in run_cli(capsys, "runs", "note", run_id, "--runs-dir", runs_dir)[1]
    run_cli(capsys, "runs", "note", run_id, "x" * 30 + "y" * 30, "--runs-dir", runs_dir)
    out = run_cli(capsys, "runs", "list", "--where", "tags=paper", "--runs-dir", runs_dir)[1]
    assert "x" * 30 + "y" * 9 + "…" in out and "y" * 10 not in out  # a long note is cut in the list


def test_diff_prints_the_fields_that_differ(capsys, filled):
    runs_dir, runs = filled
    a, b = runs["msmix"][0].id, runs["sweep"][2].id
    code, out, _ = run_cli(capsys, "runs", "diff", a, b, "--runs-dir", runs_dir)
    lines = {line.split()[0]: line.split()[1:] for line in out.splitlines()[2:]}
    assert code == 0 and lines["method_kwargs.threshold"] == ["(absent)", "0.6"]
    assert "lr" not in lines and "seed" not in lines  # the same in both
    assert "lr" in run_cli(capsys, "runs", "diff", a, b, "--all", "--runs-dir", runs_dir)[1]
    seeds = run_cli(capsys, "runs", "diff", runs["none"][0].id, runs["none"][1].id, "--runs-dir", runs_dir)[1]
    assert [line.split()[0] for line in seeds.splitlines()[2:]] == ["seed", "test.MAE"]  # seeds of one experiment


def test_the_operator_s_diff_and_list_keep_the_server_paths_but_not_the_z_score_lists(capsys, filled):
    runs_dir = filled[0]
    runs = record_on_data(RunStore(runs_dir), "/srv/data/mosi-utterance")
    out = run_cli(capsys, "runs", "diff", runs["mosi"].id, runs["synthetic"].id, "--runs-dir", runs_dir)[1]
    assert "dataset_info.folder" in out and "/srv/data/mosi-utterance" in out and "zscore" not in out
    where = ["--where", "dataset_info.folder=/srv/*"]
    assert runs["mosi"].id in run_cli(capsys, "runs", "list", *where, "--runs-dir", runs_dir)[1]


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["list", "--where", "speaker=1"], "no column 'speaker' to filter on"),
        (["list", "--where", "label<1"], "label holds text"),
        (["list", "--group-by", "speaker"], "cannot group by ['speaker']"),
        (["diff", "{a}"], "a diff needs two runs or more"),
        (["tag", "{a}", "two words"], "is not a tag"),
        (["tag", "{a}", "red\x1b[2Jalert"], "is not a tag"),  # an escape sequence that would clear a terminal
        (["tag", "{a}", "a\u202eb"], "is not a tag"),  # reorders what follows it on screen
        (["note", "{a}", "fine\n\x1b]0;title\x07"], "a note cannot hold the control character '\\x1b'"),
        (["note", "20990101-000000-x", "hi"], "no run"),
    ],
)
def test_bad_runs_arguments_are_one_line_errors(capsys, filled, argv, said):
    runs_dir, runs = filled
    argv = [arg.format(a=runs["none"][0].id) for arg in argv]
    code, _, err = run_cli(capsys, "runs", *argv, "--runs-dir", runs_dir)
    assert code == 2 and said in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_grouping_runs_of_several_experiments_names_the_group_as_plain_values(capsys, filled):
    runs_dir, _ = filled
    code, _, err = run_cli(capsys, "runs", "list", "--group-by", "epochs", "--runs-dir", runs_dir)
    assert code == 2 and "epochs 2 holds runs of" in err and "np." not in err and len(err.splitlines()) == 1


def test_runs_commands_never_import_torch(filled):
    """``msmix runs ...`` starts without torch and the trainer: seconds of start-up that browsing never needs."""
    runs_dir, runs = filled
    a, b = runs["none"][0].id, runs["msmix"][0].id
    calls = [["list"], ["list", "--group-by", "experiment"], ["show", a], ["diff", a, b], ["tag", a, "t"], ["note", a]]
    probe = (
        "import sys; from msmix_core.cli import main\n"
        f"for argv in {calls!r}: assert main(['runs', *argv, '--runs-dir', {runs_dir!r}]) == 0\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch' or m.startswith('msmix_core.training')))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"
