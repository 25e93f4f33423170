"""The issue's scenario on the command line: an ablation at 2 epochs, then MS-Mix at 3 epochs into the same
store. Each table compares like with like, and the Ablation page still pairs the 2-epoch runs."""

from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import ui.data
from msmix_core.cli import main
from msmix_core.data.npz import load_npz, save_npz
from msmix_core.data.synthetic import make_synthetic
from msmix_core.experiments import ablation_sets
from msmix_core.runs import RunStore, left_out

ROOT = Path(__file__).resolve().parent.parent
FAST = ["--batch-size", "16", "--device", "cpu", "--quiet", "--backbones", "late_fusion"]


@pytest.mark.slow
def test_ablate_at_2_epochs_then_train_at_3_keeps_every_comparison_like_with_like(capsys, tmp_path, monkeypatch):
    data_file, runs_dir = tmp_path / "tiny.npz", tmp_path / "runs"
    save_npz(make_synthetic(seed=0, n_train=64, n_valid=32, n_test=32), data_file)
    common = ["--dataset", data_file, "--runs-dir", runs_dir, "--seeds", 1, 2, 3]
    ablate = ["ablate", *common, *FAST, "--variants", "no-sal", "--epochs", 2, "--out", tmp_path / "ablate.csv"]
    assert main([str(a) for a in ablate]) == 0
    train = ["train", *common, *FAST[:-2], "--method", "msmix", "--epochs", 3, "--out", tmp_path / "train.csv"]
    assert main([str(a) for a in train]) == 0
    assert "experiment" in capsys.readouterr().out.splitlines()[0]  # the printed table shows each row's key
    ablated, trained = pd.read_csv(tmp_path / "ablate.csv"), pd.read_csv(tmp_path / "train.csv")
    keys = dict(zip(ablated["label"], ablated["experiment"], strict=False))
    assert list(keys) == ["msmix", "msmix -SAL"] and len(set(keys.values())) == 2 and (ablated["n_seeds"] == 3).all()
    assert set(trained["experiment"]) != {keys["msmix"]}  # 3 epochs: another experiment, compared with nothing

    dataset = load_npz(data_file)
    sets = ablation_sets(RunStore(runs_dir).list(), dataset.name, "late_fusion")
    assert sets[0].settings["epochs"] == 2 and list(sets[0].variants) == ["msmix", "msmix -SAL"]
    line = "3 'msmix' runs with epochs=3 not compared: no 'msmix -SAL' runs with those settings"
    assert left_out(sets, sets[0]) == [line]

    monkeypatch.setenv("MSMIX_RUNS_DIR", str(runs_dir))
    monkeypatch.setattr(ui.data, "dataset", lambda settings: dataset)
    at = AppTest.from_file(str(ROOT / "pages" / "ablation.py"), default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    wide = at.dataframe[0].value
    assert wide["label"].tolist() == ["msmix", "msmix -SAL"] and wide["experiment"].tolist() == list(keys.values())
    assert f"Left out: {line}." in [caption.value for caption in at.caption]
