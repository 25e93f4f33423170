"""The pairing rule: stored runs are compared only with runs that differ in the compared factor alone."""

import math
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from scipy import stats

from msmix_core.errors import MsmixError
from msmix_core.experiments import ABLATION_FACTOR, FULL_LABEL, ablation_variant, seed_differences, seed_means
from msmix_core.experiments.sweeps import stored_sweeps, sweep_table
from msmix_core.figures import difference_dots, robustness_differences
from msmix_core.figures.differences import spread_range
from msmix_core.runs import RunStore, comparable_sets, compare_runs, left_out, paired_differences
from msmix_core.training import TrainConfig

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
DATASET = "synthetic:small"


def store_run(store, when, seed, score, *, label=None, **config):
    """A finished run of ``config`` (TrainConfig fields) trained at ``when`` minutes after T0."""
    train = TrainConfig(**config, seed=seed, label=label)
    stored = train.to_dict() | {"label": train.display_label, "dataset": DATASET}
    history = [{"epoch": e} for e in range(1, train.epochs + 1)]
    metrics = {"test": {"Non0_acc_2": score, "MAE": 1 - score}}
    return store.record(stored, history, status="finished", metrics=metrics, created=T0 + timedelta(minutes=when))


@pytest.fixture
def mixed_store(tmp_path):
    """The issue's store: an ablation at 2 epochs, then MS-Mix at 3 epochs (newer), and a sweep point."""
    store = RunStore(tmp_path)
    for seed in (1, 2, 3):
        store_run(store, seed, seed, 0.70 + seed / 100, method="msmix", epochs=2)
        store_run(store, seed, seed, 0.69 + seed / 100 - seed / 1000, label="msmix -SAL", method="msmix", epochs=2,
                  method_kwargs={"use_sal": False})  # fmt: skip
        store_run(store, 10 + seed, seed, 0.80, method="msmix", epochs=3)
        store_run(store, 20 + seed, seed, 0.60, label="msmix threshold=0.2", method="msmix", epochs=2,
                  method_kwargs={"threshold": 0.2})  # fmt: skip
    return store


def ablation_sets(store):
    return comparable_sets(
        store.list(), ABLATION_FACTOR, reference=FULL_LABEL, name=lambda run: ablation_variant(run.config)
    )


def test_the_default_ablation_set_pairs_like_with_like_and_says_what_it_left_out(mixed_store):
    sets = ablation_sets(mixed_store)
    chosen = sets[0]
    assert chosen.complete and list(chosen.variants) == ["msmix", "msmix -SAL"]  # the reference first
    assert chosen.settings["epochs"] == 2 and "method.threshold" not in chosen.settings
    assert {len(run.history) for run in chosen.runs} == {2}  # the newer 3-epoch runs replaced nothing
    assert chosen.seeds == [1, 2, 3]
    notes = left_out(sets, chosen)
    assert "3 'msmix' runs with epochs=3 not compared: no 'msmix -SAL' runs with those settings" in notes
    assert "3 'msmix' runs with method.threshold=0.2 not compared: no 'msmix -SAL' runs with those settings" in notes
    assert len(notes) == 2 and not any(s.complete for s in sets[1:])


def older_complete_newer_smaller(store, record):
    """An ablation at 2 epochs with '-SAL' and '-SIG', then a newer one at 3 epochs with '-SAL' alone."""
    for seed in (1, 2, 3):
        record(store, seed, seed, 0.70, method="msmix", epochs=2)
        record(store, seed, seed, 0.69, label="msmix -SAL", method="msmix", epochs=2, method_kwargs={"use_sal": False})
        record(store, seed, seed, 0.68, label="msmix -SIG", method="msmix", epochs=2, method_kwargs={"use_sig": False})
        record(store, 10 + seed, seed, 0.75, method="msmix", epochs=3)
        record(store, 10 + seed, seed, 0.74, label="msmix -SAL", method="msmix", epochs=3,
               method_kwargs={"use_sal": False})  # fmt: skip


def test_the_default_set_is_the_newest_that_can_be_tested_not_the_one_with_most_variants(tmp_path):
    store = RunStore(tmp_path)
    older_complete_newer_smaller(store, store_run)
    newer, older = ablation_sets(store)
    assert newer.settings["epochs"] == 3 and list(newer.variants) == ["msmix", "msmix -SAL"]
    assert newer.missing == ("msmix -SIG",) and not newer.complete  # it lacks a variant seen elsewhere...
    assert older.complete and older.settings["epochs"] == 2  # ...yet the newer set it is
    store_run(store, 30, 4, 0.9, label="msmix -SIG", method="msmix", epochs=5, method_kwargs={"use_sig": False})
    store_run(store, 31, 4, 0.9, method="msmix", epochs=5)  # newest, but one shared seed: no paired test
    assert [s.settings["epochs"] for s in ablation_sets(store)] == [3, 2, 5]
    assert [s.tier(FULL_LABEL) for s in ablation_sets(store)] == [2, 2, 1]


def test_a_sweep_run_at_the_defaults_is_full_ms_mix_and_a_sweep_point_is_no_variant(mixed_store):
    store_run(mixed_store, 30, 4, 0.75, label="msmix threshold=0.4", method="msmix", epochs=2,
              method_kwargs={"threshold": 0.4})  # fmt: skip
    chosen = ablation_sets(mixed_store)[0]
    assert list(chosen.variants) == ["msmix", "msmix -SAL"]  # no "msmix threshold=..." variant
    assert [run.config["seed"] for run in chosen.variants["msmix"]] == [1, 2, 3, 4]
    assert chosen.seeds == [1, 2, 3]
    paired = chosen.on_shared_seeds()  # the table's runs: seed 4 has no '-SAL' partner
    assert {name: [r.config["seed"] for r in runs] for name, runs in paired.variants.items()} == {
        "msmix": [1, 2, 3],
        "msmix -SAL": [1, 2, 3],
    }
    assert compare_runs(paired.table(), baseline=FULL_LABEL)["n_seeds"].unique().tolist() == [3]
    assert chosen.unpaired() == (
        "1 run left out for lacking a partner seed ('msmix' seed 4): the means and tests use 3 seeds (1, 2, 3), "
        "which every variant has"
    )
    assert chosen.unpaired(["msmix"]) is None and paired.unpaired() is None
    store_run(mixed_store, 40, 1, 0.7, method="msmix", epochs=7)
    lone = next(s for s in ablation_sets(mixed_store) if s.settings["epochs"] == 7)
    assert "2 variants × 4 seeds ·" in chosen.title() and "1 variant × 1 seed ·" in lone.title()


def test_compare_runs_on_the_chosen_set_pairs_on_shared_seeds_with_a_95_percent_interval(mixed_store):
    chosen = ablation_sets(mixed_store)[0]
    long = compare_runs(chosen.table(), baseline=FULL_LABEL, metrics=["Non0_acc_2"])
    row = long[long["label"] == "msmix -SAL"].iloc[0]
    differences = [(0.69 + s / 100 - s / 1000) - (0.70 + s / 100) for s in (1, 2, 3)]
    mean = sum(differences) / 3
    half = stats.t.ppf(0.975, 2) * stats.tstd(differences) / math.sqrt(3)
    assert row["n_paired"] == 3 and row["delta"] == pytest.approx(100 * mean, abs=0.005)
    assert row["ci_low"] == pytest.approx(100 * (mean - half), abs=0.005)
    assert row["ci_high"] == pytest.approx(100 * (mean + half), abs=0.005)
    points = paired_differences(chosen.table(), FULL_LABEL, "Non0_acc_2")
    assert points["seed"].tolist() == [1, 2, 3]
    assert points["difference"].tolist() == pytest.approx([100 * d for d in differences])


def test_compare_runs_refuses_runs_of_several_experiments_under_one_name(mixed_store):
    with pytest.raises(MsmixError, match="holds runs of 2 experiments"):
        compare_runs(mixed_store.table(), baseline=FULL_LABEL, by=("dataset", "backbone", "method", "label"))


def test_methods_match_settings_and_only_unlike_runs_make_no_complete_set(tmp_path):
    store = RunStore(tmp_path)
    for seed in (1, 2):
        for method in ("none", "mixup", "msmix"):
            store_run(store, seed, seed, 0.7, method=method, epochs=3)
        store_run(store, 50 + seed, seed, 0.9, method="msmix", epochs=20)  # newest, but alone at 20 epochs
    sets = comparable_sets(store.list(), ["method"], reference="none", wanted=["msmix", "mixup", "none"])
    assert sets[0].complete and sets[0].settings["epochs"] == 3 and next(iter(sets[0].variants)) == "none"
    assert left_out(sets, sets[0]) == [
        "2 'msmix' runs with epochs=20 not compared: no 'none', 'mixup' runs with those settings"
    ]
    unlike = RunStore(tmp_path / "unlike")
    store_run(unlike, 1, 1, 0.7, method="none", epochs=3)
    store_run(unlike, 2, 1, 0.7, method="msmix", epochs=20)
    sets = comparable_sets(unlike.list(), ["method"], reference="none", wanted=["msmix", "none"])
    assert not any(s.complete for s in sets) and len(sets) == 2


def test_sweeps_are_grouped_by_settings_not_labels(mixed_store):
    store_run(mixed_store, 40, 1, 0.65, label="msmix threshold=0.2", method="msmix", epochs=3,
              method_kwargs={"threshold": 0.2})  # fmt: skip
    sweeps = stored_sweeps(mixed_store.list(), "msmix", "threshold", DATASET)
    assert len(sweeps) == 2  # at 2 epochs and at 3 epochs; the '-SAL' runs are in neither
    by_epochs = {runs[0].config["epochs"]: runs for runs in sweeps.values()}
    assert {ablation_variant(run.config) for runs in sweeps.values() for run in runs} == {FULL_LABEL}
    table = sweep_table(by_epochs[2], "threshold", "Non0_acc_2")
    assert table["threshold"].tolist() == [0.2, 0.4] and table["n"].tolist() == [3, 3]  # full MS-Mix is δ = 0.4
    assert table["experiment"].nunique() == 2
    with pytest.raises(MsmixError, match="trained differently"):
        sweep_table(mixed_store.list(), "threshold", "Non0_acc_2")


def test_a_sweep_counts_a_seed_once_with_its_newest_run_and_is_named_by_its_newest_date(mixed_store):
    for seed in (1, 2, 3):  # the sweep's default point: the same experiment as the ablation's full MS-Mix
        store_run(mixed_store, 30 + seed, seed, 0.50, label="msmix threshold=0.4", method="msmix", epochs=2,
                  method_kwargs={"threshold": 0.4})  # fmt: skip
    ((name, runs),) = stored_sweeps(mixed_store.list(), "msmix", "threshold", DATASET).items()
    assert name == "late_fusion, 2 epochs: 2 values × 3 seeds (2026-12-06 12:33)"  # the newest run's date
    table = sweep_table(runs, "threshold", "Non0_acc_2")
    assert table["n"].tolist() == [3, 3]  # not 6 at 0.4: the sweep's runs replaced the ablation's, seed by seed
    assert table["mean"].tolist() == pytest.approx([0.60, 0.50]) and table["std"].tolist() == pytest.approx([0, 0])


def _scores():
    """Robustness scores of two methods over three seeds: msmix is better by 0.1, 0.2 and 0.3 MAE."""
    rows = []
    for seed, gap in ((1, 0.1), (2, 0.2), (3, 0.3)):
        for label, mae, accuracy in (("none", 1.0, 0.5), ("msmix", 1.0 - gap, 0.5 + gap / 10)):
            rows.append({"label": label, "seed": seed, "run": f"{label}{seed}", "condition": "noise",
                         "modality": "text", "level": 0.5, "MAE": mae, "Non0_acc_2": accuracy})  # fmt: skip
            rows.append({"label": label, "seed": seed, "run": f"{label}{seed}", "condition": "zeroed",
                         "modality": "text", "level": float("nan"), "MAE": mae + 1, "Non0_acc_2": 0.5})  # fmt: skip
    return pd.DataFrame(rows)


def test_seed_differences_pair_seeds_per_condition_with_a_95_percent_interval():
    differences = seed_differences(_scores(), "none", "MAE")
    assert differences["label"].tolist() == ["msmix", "msmix"] and differences["n_paired"].tolist() == [3, 3]
    noise = differences[differences["condition"] == "noise"].iloc[0]
    half = stats.t.ppf(0.975, 2) * 0.1 / math.sqrt(3)  # the differences -0.1, -0.2, -0.3 have sample std 0.1
    assert noise["delta"] == pytest.approx(-0.2)
    assert (noise["ci_low"], noise["ci_high"]) == pytest.approx((-0.2 - half, -0.2 + half))
    assert math.isnan(differences[differences["condition"] == "zeroed"].iloc[0]["level"])  # removed: no level
    accuracy = seed_differences(_scores(), "none", "Non0_acc_2")
    assert accuracy["delta"].iloc[0] == pytest.approx(2.0)  # percentage points
    means = seed_means(_scores(), ["MAE"])
    assert means[(means["label"] == "msmix") & (means["condition"] == "noise")]["MAE"].item() == "0.8000 ± 0.0816"
    keyed = seed_means(_scores().assign(experiment=lambda t: "key-" + t["label"]), ["MAE"])
    assert keyed.columns[:2].tolist() == ["label", "experiment"] and set(keyed["experiment"]) == {
        "key-none",
        "key-msmix",
    }


def test_difference_figures_draw_dots_and_whiskers_on_an_axis_that_holds_0_and_the_spread():
    compared = pd.DataFrame({"label": ["msmix", "msmix -SAL"], "metric": ["MAE", "MAE"], "delta": [math.nan, 0.02],
                             "ci_low": [math.nan, -0.01], "ci_high": [math.nan, 0.05], "n_paired": [0, 3]})  # fmt: skip
    points = pd.DataFrame({"label": ["msmix -SAL"] * 3, "seed": [1, 2, 3], "difference": [0.0, 0.02, 0.04]})
    figure = difference_dots(compared, points, "MAE", "msmix")
    assert [trace.type for trace in figure.data] == ["scatter", "scatter"]  # no bar
    seeds, mean = figure.data
    assert list(seeds.x) == [0.0, 0.02, 0.04] and list(mean.x) == [0.02]
    assert list(mean.error_x.array) == pytest.approx([0.03]) and list(mean.error_x.arrayminus) == pytest.approx([0.03])
    low, high = figure.layout.xaxis.range
    assert low < -0.01 and high > 0.05 and high - low < 0.1  # the interval and 0 in view, not a zoom from 0 to 1
    assert spread_range([0.7012, 0.7027])[0] < 0  # 0 (the reference) is always on the axis
    chart = robustness_differences(seed_differences(_scores(), "none", "MAE"), "MAE", "none")
    noise, removed = chart.data
    assert list(noise.x) == [0.5] and list(removed.x) == [1.5] and removed.mode == "markers"
    assert chart.layout.xaxis.ticktext == ("0.5", "removed")
    assert chart.layout.yaxis.range[0] < -0.2 - 0.24 and chart.layout.yaxis.range[1] > 0
