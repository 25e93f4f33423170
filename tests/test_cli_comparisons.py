"""The issue's scenario on the command line: an ablation at 2 epochs, then MS-Mix at 3 epochs into the same
store. Each table compares like with like, and the Ablation page still pairs the 2-epoch runs."""

import pandas as pd
import pytest
from helpers import QUICK, open_page, run_cli

import ui.data
from msmix_core.data.npz import load_npz
from msmix_core.experiments import ablation_sets
from msmix_core.runs import RunStore, left_out


@pytest.mark.slow
def test_ablate_at_2_epochs_then_train_at_3_keeps_every_comparison_like_with_like(
    capsys, tmp_path, monkeypatch, small_npz
):
    runs_dir = tmp_path / "runs"
    common = ["--dataset", small_npz, "--runs-dir", runs_dir, "--seeds", 1, 2, 3, *QUICK]
    ablate = ["ablate", *common, "--backbones", "late_fusion", "--variants", "no-sal", "--epochs", 2]
    assert run_cli(capsys, *ablate, "--out", tmp_path / "ablate.csv")[0] == 0
    train = ["train", *common, "--method", "msmix", "--epochs", 3]
    code, out, _ = run_cli(capsys, *train, "--out", tmp_path / "train.csv")
    assert code == 0 and "experiment" in out.splitlines()[0]  # the printed table shows each row's key
    ablated, trained = pd.read_csv(tmp_path / "ablate.csv"), pd.read_csv(tmp_path / "train.csv")
    keys = dict(zip(ablated["label"], ablated["experiment"], strict=False))
    assert list(keys) == ["msmix", "msmix -SAL"] and len(set(keys.values())) == 2 and (ablated["n_seeds"] == 3).all()
    assert set(trained["experiment"]) != {keys["msmix"]}  # 3 epochs: another experiment, compared with nothing

    dataset = load_npz(small_npz)
    sets = ablation_sets(RunStore(runs_dir).list(), dataset.name, "late_fusion")
    assert sets[0].settings["epochs"] == 2 and list(sets[0].variants) == ["msmix", "msmix -SAL"]
    line = "3 'msmix' runs with epochs=3 not compared: no 'msmix -SAL' runs with those settings"
    assert left_out(sets, sets[0]) == [line]

    monkeypatch.setenv("MSMIX_RUNS_DIR", str(runs_dir))
    monkeypatch.setattr(ui.data, "dataset", lambda settings: dataset)
    at = open_page("ablation")
    wide = at.dataframe[0].value
    assert wide["label"].tolist() == ["msmix", "msmix -SAL"] and wide["experiment"].tolist() == list(keys.values())
    assert f"Left out: {line}." in [caption.value for caption in at.caption]
