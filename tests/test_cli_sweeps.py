"""``msmix compare --workers``, ``msmix sweep`` and the knob specs behind it, on tiny settings."""

import contextlib
import re
import signal
import subprocess
import sys
import threading
import time

import pandas as pd
import pytest
from helpers import FAST_NO_WEIGHTS, run_cli

from msmix_core.cli import main
from msmix_core.errors import MsmixError
from msmix_core.experiments.sweeps import parse_knob_spec, sweep_variants
from msmix_core.runs import RunStore


@pytest.mark.slow
def test_compare_with_two_workers_stores_every_run_and_prints_the_table(capsys, tiny_npz, tmp_path):
    argv = ["compare", "--dataset", tiny_npz, "--runs-dir", tmp_path, "--backbones", "late_fusion"]
    code, out, err = run_cli(
        capsys, *argv, "--methods", "none", "mixup", "--seeds", "1", "2", "--workers", 2, *FAST_NO_WEIGHTS
    )
    assert code == 0, err
    runs = RunStore(tmp_path).list()
    assert sorted((r.config["method"], r.config["seed"]) for r in runs) == [
        ("mixup", 1),
        ("mixup", 2),
        ("none", 1),
        ("none", 2),
    ]
    assert {r.status for r in runs} == {"finished"} and "4 runs stored" in out and "mixup" in out


@pytest.mark.parametrize("workers", ["0", "two"])
def test_workers_must_be_a_positive_integer(capsys, workers):
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", "--workers", workers])
    assert exit_info.value.code == 2
    assert "--workers" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("spec", "values"),
    [
        ("msmix.threshold=0.1:0.9:5", [0.1, 0.3, 0.5, 0.7, 0.9]),
        ("msmix.alpha=0.5,1,2", [0.5, 1.0, 2.0]),
        ("msmix.num_heads=1:4:4", [1, 2, 3, 4]),
        ("msmix.use_sal=true,false", [True, False]),
    ],
)
def test_knob_specs_give_ranges_and_lists_of_valid_values(spec, values):
    method, knob, parsed = parse_knob_spec(spec)
    assert (method, knob, spec.partition("=")[0]) == (*spec.partition("=")[0].split("."), spec.partition("=")[0])
    assert parsed == values and [type(v) for v in parsed] == [type(v) for v in values]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("threshold=0.1:0.9:5", "write METHOD.KNOB=LOW:HIGH:COUNT"),
        ("msmix.threshold", "write METHOD.KNOB=LOW:HIGH:COUNT"),
        ("nosuch.alpha=1,2", "unknown mixing method 'nosuch'"),
        ("msmix.delta=1,2", "msmix has no knob 'delta'"),
        ("msmix.threshold=0:1.5:4", "1.5 is not valid; msmix.threshold must be a number in [0, 1]"),
        ("msmix.threshold=0.1:0.9", "a range is LOW:HIGH:COUNT"),
        ("msmix.threshold=0.1:0.9:1", "COUNT must be an integer from 2 to 1000"),
        ("msmix.threshold=a:0.9:3", "'a' is not a number"),
        ("msmix.alpha=0,1", "0.0 is not valid; msmix.alpha must be a number in [0.001, 10000]"),
        ("msmix.num_heads=1:2:3", "integer knob"),
        ("msmix.use_sal=0:1:2", "true or false, not a range"),
        ("msmix.alpha=1,1.0", "a value is given twice"),
    ],
)
def test_a_bad_knob_spec_is_one_clear_error(spec, message):
    with pytest.raises(MsmixError, match="^--knob .*" + re.escape(message)):
        parse_knob_spec(spec)


def test_two_knobs_give_their_product_labelled_by_value():
    method, variants = sweep_variants(["msmix.threshold=0.2,0.4", "msmix.alpha=1,2"])
    assert method == "msmix"
    assert list(variants) == [
        "msmix threshold=0.2 alpha=1",
        "msmix threshold=0.2 alpha=2",
        "msmix threshold=0.4 alpha=1",
        "msmix threshold=0.4 alpha=2",
    ]
    assert variants["msmix threshold=0.4 alpha=1"] == {"threshold": 0.4, "alpha": 1.0}
    with pytest.raises(MsmixError, match="one method"):
        sweep_variants(["msmix.alpha=1,2", "mixup.alpha=1,2"])
    with pytest.raises(MsmixError, match="given twice"):
        sweep_variants(["msmix.alpha=1,2", "msmix.alpha=3"])
    with pytest.raises(MsmixError, match="one or two knobs"):
        sweep_variants(["msmix.alpha=1,2", "msmix.threshold=0.1,0.2", "msmix.sal_weight=0,1"])


@pytest.mark.slow
def test_sweep_stores_labelled_runs_and_tabulates_metric_against_knob(capsys, tiny_npz, tmp_path):
    csv, plot = tmp_path / "sweep.csv", tmp_path / "plots" / "sweep.html"
    argv = ["sweep", "--dataset", tiny_npz, "--runs-dir", tmp_path / "runs", "--knob", "msmix.threshold=0.8,0.2"]
    code, out, err = run_cli(
        capsys, *argv, "--seeds", "1", "2", "--metrics", "MAE", "--out", csv, "--plot", plot, *FAST_NO_WEIGHTS
    )
    assert code == 0, err
    page = plot.read_text()
    assert "late_fusion" in page and "threshold" in page and "MAE" in page  # the line, its axis and metric
    labels = sorted(r.config["label"] for r in RunStore(tmp_path / "runs").list())
    assert labels == ["msmix threshold=0.2"] * 2 + ["msmix threshold=0.8"] * 2
    thresholds = [r.config["method_kwargs"]["threshold"] for r in RunStore(tmp_path / "runs").list()]
    assert sorted(thresholds) == [0.2, 0.2, 0.8, 0.8]
    header = out.splitlines()[0].split()
    assert header[:5] == ["dataset", "backbone", "threshold", "experiment", "n_seeds"] and "label" not in header
    assert out.index(" 0.2 ") < out.index(" 0.8 ")  # sorted by the knob, not as given
    table = pd.read_csv(csv)
    assert list(table["threshold"]) == [0.2, 0.8] and list(table["n_seeds"]) == [2, 2]
    assert "label" not in table.columns


def test_sweep_plot_must_be_an_html_file(capsys):
    code, _, err = run_cli(capsys, "sweep", "--knob", "msmix.alpha=1,2", "--plot", "sweep.png", *FAST_NO_WEIGHTS)
    assert code == 2 and err.count("\n") == 1 and "must end in .html" in err


def test_sweep_refuses_a_knob_also_fixed_with_set(capsys):
    code, _, err = run_cli(capsys, "sweep", "--knob", "msmix.alpha=1,2", "--set", "msmix.alpha=3", *FAST_NO_WEIGHTS)
    assert code == 2 and err.count("\n") == 1 and "swept by --knob" in err


class _Stderr:
    """A process's stderr read in a thread (tqdm's bar updates end in ``\\r``, not newlines)."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.text = ""
        self.thread = threading.Thread(target=self._read, args=(process.stderr,), daemon=True)
        self.thread.start()

    def _read(self, stream) -> None:
        for char in iter(lambda: stream.read(1), ""):
            self.text += char


#: A command interrupted by its first signal, sent a second one on its way out (from an exit handler, where a
#: pool's shutdown joins its threads): ``{first}`` and ``{second}`` are signal numbers.
_SECOND_SIGNAL_AT_EXIT = """
import atexit, os, sys, threading, time
from msmix_core.cli import main
def first_signal_once_training():
    while not os.listdir({runs!r}):
        time.sleep(0.05)
    time.sleep(0.5)
    os.kill(os.getpid(), {first})
threading.Thread(target=first_signal_once_training, daemon=True).start()
atexit.register(os.kill, os.getpid(), {second})
sys.argv[1:] = {argv!r}
raise SystemExit(main())
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    ("first", "second", "code"),
    [(signal.SIGINT, signal.SIGTERM, 130), (signal.SIGTERM, signal.SIGINT, 143), (signal.SIGTERM, signal.SIGTERM, 143)],
)
def test_a_second_signal_on_the_way_out_is_ignored(tiny_npz, tmp_path, first, second, code):
    """Once the first interrupt is handled, further ones are ignored until the process exits: not killed (-15)."""
    argv = ["train", "--dataset", tiny_npz, "--runs-dir", str(tmp_path / "runs"), "--epochs", "100000"]
    argv += ["--patience", "100000", "--seeds", "1", "--batch-size", "16", "--device", "cpu", "--no-weights", "--quiet"]
    (tmp_path / "runs").mkdir()
    script = _SECOND_SIGNAL_AT_EXIT.format(first=int(first), second=int(second), argv=argv, runs=str(tmp_path / "runs"))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == code and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip().splitlines()[-1].endswith("a run in progress is stored as 'interrupted'")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sent", "code", "said"), [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated by SIGTERM")]
)
@pytest.mark.parametrize(
    ("again", "delay"),
    [(None, 0), (signal.SIGINT, 0.05), (signal.SIGTERM, 0.05), (signal.SIGINT, 0.5), (signal.SIGTERM, 0.5)],
    ids=["once", "then-SIGINT", "then-SIGTERM", "then-SIGINT-late", "then-SIGTERM-late"],
)
def test_a_signal_during_a_pool_run_stores_the_runs_in_flight_as_interrupted(
    tiny_npz, tmp_path, sent, code, said, again, delay
):
    """Ctrl-C pressed twice, or SIGINT then SIGTERM: the second waits until the runs in flight are stored. Late
    (from 0.5 s on, again every 10 ms until the process ends): the runs are stored and the pool is shutting down,
    or the process is on its way out; the later signals are ignored, the exit status is still the first's."""
    argv = [sys.executable, "-m", "msmix_core", "train", "--dataset", tiny_npz, "--runs-dir", str(tmp_path)]
    argv += ["--workers", "2", "--seeds", "1", "2", "3", "--epochs", "100000", "--patience", "100000"]
    argv += ["--batch-size", "16", "--device", "cpu", "--no-weights"]
    process = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
    stderr = _Stderr(process)
    deadline = time.monotonic() + 180
    both_trained = re.compile(r"s1 epoch [1-9].*s2 epoch [1-9]")  # the bar shows each run's epoch
    while not both_trained.search(stderr.text) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)  # each worker has an epoch to store (on a loaded machine the second starts late)
    process.send_signal(sent)
    if again is not None:
        time.sleep(delay)  # 0.05 s: the driver is storing the runs in flight
        process.send_signal(again)
        while delay > 0.1 and process.poll() is None:
            time.sleep(0.01)
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(again)
    assert process.wait(timeout=60) == code  # the first signal decides
    stderr.thread.join(10)
    runs = RunStore(tmp_path).list()
    assert runs and all(run.status == "interrupted" and run.history for run in runs)  # none lost, none half-made
    assert len(runs) <= 2  # the third seed was queued: it never started
    last = stderr.text.replace("\r", "\n").strip().splitlines()[-1]
    stored = f"{len(runs)} of 3 runs stored, the {len(runs)} in progress among them as 'interrupted'"
    assert last == f"msmix: {said}; {stored}"
