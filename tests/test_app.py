"""The exploration pages under Streamlit's AppTest: they render, and their main control changes what they show."""

import os
import pickle
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
from helpers import (
    APP_TIMEOUT,
    MOSI_DIR,
    app_test,
    card_rows,
    chosen_pairs,
    live_data,
    metric,
    needs_mosi,
    open_page,
    page,
    ran,
    set_delta,
    set_live,
    start_training,
    traces,
)
from streamlit.testing.v1 import AppTest

from msmix_core.analysis.explorer import signed
from ui.settings import DOMAINS, Settings, parse_query_params


def test_app_entry_point_opens_home():
    at = ran(app_test(n_train="128"))
    assert at.title[0].value.startswith("msmix")


def test_home_shows_the_data_metrics():
    at = page("home")
    assert metric(at, "train samples") == "128"
    assert metric(at, "Dataset") == "synthetic:small (n_train=128)"  # the app opens on a smaller set


def test_raising_delta_lowers_the_candidate_count():
    at = page("pairs")
    low = live_data(at)["server_kept"]
    set_delta(at, 0.8)
    high = live_data(at)["server_kept"]
    assert 0 <= high < low and live_data(at)["slider"]["value"] == 0.8
    assert len(at.dataframe) >= 2 and len(at.get("download_button")) >= 2


def test_choosing_a_pair_shows_both_samples():
    at = page("pairs")
    picker = next(s for s in at.selectbox if s.label == "Pair")
    picker.select_index(3).run()
    table = chosen_pairs(at)
    assert picker.value.startswith("#3: ") and card_rows(at) == [table.row_a[3], table.row_b[3]]  # they agree
    heads = [md.value for md in at.markdown if md.value.startswith("**Sample ")]
    assert heads == [f"**Sample {s}** · label **{signed(table[f'label_{s}'][3])}**" for s in "ab"]
    assert [md.value for md in at.markdown if md.value.startswith("> ")] == [
        f"> {table.text_a[3]}",
        f"> {table.text_b[3]}",
    ]
    assert (
        metric(at, "Mixed label") == signed(table.mixed_label[3])
        and metric(at, "λ audio") == f"{table.lam_audio[3]:.2f}"
    )


def card_captions(at: AppTest) -> list:
    return [c for c in at.caption if "train row" in c.value]


def lambdas(at: AppTest) -> np.ndarray:
    """The per-pair table's ratios (every modality's and the label's), drawn at the server's α."""
    table = next(d.value for d in at.dataframe if "lam_text" in d.value)
    return table[["lam_text", "lam_audio", "lam_vision", "lam_label"]].to_numpy().ravel()


def test_changing_alpha_changes_the_lambda_distribution():
    at = page("ratios")
    before = lambdas(at)
    set_live(at, "ratios_alpha", 0.3)
    after = lambdas(at)
    assert before.shape == after.shape and not np.allclose(before, after)
    # Beta(0.3, 0.3) puts mass near 0 and 1, so the ratios spread out
    assert np.std(after) > np.std(before)


def test_embeddings_page_shows_real_and_mixed_points():
    at = page("embeddings", emb_projection="PCA")
    assert int(metric(at, "Real points")) == 128
    assert int(metric(at, "Mixed points: MS-Mix")) > 0 and int(metric(at, "Mixed points: Manifold Mixup")) > 0
    names = [t["name"] for t in traces(at, "embedding")]
    assert names[:3] == ["real samples", "mixed: MS-Mix", "mixed: Manifold Mixup"]


OUT_OF_RANGE = {
    "n_train": "100",
    "data_seed": "-3",
    "conflict_rate": "0.9",
    "label_noise": "-0.1",
    "backbone": "resnet",
    "seed": "-1",
}
UNPARSABLE = {"n_train": "-5", "data_seed": "ten", "conflict_rate": "nan", "label_noise": "inf", "seed": "1.5"}


@pytest.mark.parametrize("params", [OUT_OF_RANGE, UNPARSABLE, {"n_train": "100"}, {"seed": str(2**31)}], ids=str)
def test_url_values_the_sidebar_does_not_offer_fall_back_with_one_warning(params):
    at = open_page("home", **params)
    [warning] = at.warning
    for key, value in params.items():
        assert f"{key}={value!r}" in warning.value and f"{key}={getattr(Settings, key)!r}" in warning.value
    assert at.session_state["msmix_settings"] == Settings()  # every dropped value is the default
    at.run()  # the note is shown once per session
    assert not at.warning


def test_every_setting_with_a_widget_has_one_domain_the_sidebar_uses():
    assert set(DOMAINS) == {f.name for f in fields(Settings)} - {"source", "mosi_dir"}
    assert all(DOMAINS[name].accepts(getattr(Settings, name)) for name in DOMAINS), "a default the widget lacks"
    at = page("home")
    assert (at.slider(key="sb_conflict").min, at.slider(key="sb_conflict").max) == (0.0, 0.6)
    assert list(at.selectbox(key="sb_backbone").options) == list(DOMAINS["backbone"].options)
    assert at.number_input(key="sb_seed").max == DOMAINS["seed"].high
    settings, note = parse_query_params({"conflict_rate": "0.35", "label_noise": "0.33", "backbone": "tfn"})
    assert (settings.conflict_rate, settings.label_noise, settings.backbone) == (0.35, Settings.label_noise, "tfn")
    assert "label_noise='0.33'" in note and "conflict_rate" not in note  # off the slider's 0.05 grid
    _, note = parse_query_params({"backbone": "x" * 100_000})
    assert "100,000 characters" in note and len(note) < 300  # a long link value is named, not echoed whole


class _Payload:
    """A pickle that would create a directory when loaded by an unrestricted unpickler."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.makedirs, (str(self.marker),)


@pytest.mark.parametrize("name", ["home", "pairs"])
def test_bad_files_show_an_error_not_a_traceback(tmp_path, name):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"train": _Payload(marker)}))
    for source in (str(evil), str(tmp_path / "missing.pkl")):
        at = page(name, source=source)
        assert at.error, f"no error shown for {source}"
        assert not marker.exists()


class _Bomb:
    """A pickle of a few bytes that asks for a petabyte: ``bytes(10**15)``."""

    def __reduce__(self):
        return bytes, (10**15,)


def test_an_uploaded_memory_bomb_is_one_error_line():
    at = app_test("home", source="upload")
    payload = pickle.dumps({"train": _Bomb()})
    at.session_state["msmix_upload"] = ("bomb.pkl", "digest-of-the-bomb", payload)  # what the sidebar's uploader keeps
    ran(at)
    assert len(at.error) == 1 and "impossible size" in at.error[0].value


def test_what_loading_warned_about_is_shown_on_the_page(tmp_path):
    rng = np.random.default_rng(0)

    def split(n):
        return {
            "text": rng.normal(size=(n, 4, 6)).astype(np.float32),
            "audio": np.full((n, 4, 3), np.nan, np.float32),  # a broken modality
            "vision": rng.normal(size=(n, 4, 2)).astype(np.float32),
            "regression_labels": rng.uniform(-3, 3, n).astype(np.float32),
        }

    path = tmp_path / "broken_audio.pkl"
    path.write_bytes(pickle.dumps({"train": split(16), "valid": split(8), "test": split(8)}))
    at = page("home", source=str(path))
    assert not at.error
    assert any("every audio value was NaN or infinite" in w.value for w in at.warning)


@pytest.mark.slow  # trains the backbone with MS-Mix for a few epochs (cached afterwards)
def test_ratios_page_compares_untrained_and_trained_predictors():
    at = page("ratios")
    at.toggle(key="ratios_trained").set_value(True).run()
    assert not at.exception and not at.error
    names = {t["name"] for t in traces(at, "intensity_scatter")}
    assert names == {"untrained predictor", "trained predictor"}
    sal = {t["name"] for t in traces(at, "sal_distributions")}
    assert sal == {"target: |label|", "|intensity| (untrained)", "|intensity| (trained)"}
    said = [c.value for c in at.caption if c.value.startswith(("Untrained predictor:", "Trained predictor:"))]
    assert len(said) == 2 and all("ρ =" in s for s in said)  # the text reads the chart, whatever it shows
    assert any(c.value.startswith("SAL's target (black) is nearly flat") for c in at.caption)


# --- the real CMU-MOSI utterances (read from the shared folder beside the checkout) --------------------------


def real_page(name: str, **params: str) -> AppTest:
    return page(name, source="mosi", mosi_dir=str(MOSI_DIR), **params)


@needs_mosi
@pytest.mark.parametrize("name", ["home", "pairs", "ratios", "embeddings", "training", "ablation", "robustness"])
def test_every_page_opens_the_real_data(name, tmp_path, monkeypatch):
    monkeypatch.setenv("MSMIX_RUNS_DIR", str(tmp_path))
    at = real_page(name)
    assert not at.error and not at.warning, [e.value for e in at.error]
    assert at.sidebar.radio(key="sb_source_kind").value == "CMU-MOSI (real)"


@needs_mosi
def test_home_says_which_real_data_is_open_and_where_it_comes_from():
    at = real_page("home", mosi_fraction="0.5", data_seed="2")
    assert metric(at, "Dataset") == "mosi-utterance (speaker split, 50% of train videos, seed 2)"
    assert metric(at, "test samples") == "752"
    text = " ".join(md.value for md in at.markdown)
    assert "Real data: CMU-MOSI utterances" in text and "27 videos" in text  # half of the 54 train videos
    assert "github.com/declare-lab/contextual-utterance-level-multimodal-sentiment-analysis" in text
    assert at.sidebar.select_slider(key="sb_mosi_fraction").value == 0.5


@needs_mosi
def test_the_standard_split_warns_about_its_leak():
    at = real_page("home", mosi_split="standard")
    assert metric(at, "train samples") == "1284"
    assert any("leak" in w.value for w in at.warning)


def test_a_missing_mosi_folder_says_where_to_get_the_files(tmp_path):
    at = page("pairs", source="mosi", mosi_dir=str(tmp_path / "nowhere"))
    assert not at.exception
    assert any("declare-lab/contextual-utterance-level" in e.value for e in at.error)
    assert any("ASA-MOSI/Audio-Sentiment-Analysis" in i.value for i in at.sidebar.info)


@needs_mosi
def test_real_pairs_show_both_sentences_scores_and_speakers():
    at = real_page("pairs")
    sass, randomly = [d.value for d in at.dataframe if "row_a" in d.value.columns]
    for table in (sass, randomly):
        assert {"text_a", "text_b", "label_a", "label_b", "speaker_a", "speaker_b"} <= set(table.columns)
        assert table.text_a.str.len().gt(0).all()
    picker = next(s for s in at.selectbox if s.label == "Pair")
    picker.select_index(2).run()
    assert card_rows(at) == [sass.row_a[2], sass.row_b[2]]
    assert [md.value for md in at.markdown if md.value.startswith("> ")] == [
        f"> {sass.text_a[2]}",
        f"> {sass.text_b[2]}",
    ]
    assert all(f"speaker {sass[f'speaker_{s}'][2]}" in c.value for s, c in zip("ab", card_captions(at), strict=True))


@needs_mosi
def test_real_embedding_hover_shows_the_sentence():
    at = real_page("embeddings")
    real, mixed = traces(at, "embedding")[:2]
    assert all("“" in text and "speaker " in text for text in real["text"])
    assert all("a: “" in text for text in mixed["text"])


@needs_mosi
def test_training_and_robustness_run_on_the_real_data(tmp_path, monkeypatch):
    monkeypatch.setenv("MSMIX_RUNS_DIR", str(tmp_path))
    at = real_page("training")
    assert start_training(at, ["none"], epochs=1).join(APP_TIMEOUT)
    at.run()
    assert not at.exception and not at.error
    assert at.dataframe[0].value["run"].tolist() == ["none"]
    robust = real_page("robustness")
    assert not robust.error
    table = robust.dataframe[0].value
    assert set(table["label"]) == {"none"} and table["MAE"].notna().all()


@needs_mosi
@pytest.mark.parametrize(("backbone", "warned"), [("mult", True), ("glomo", True), ("almt", True), ("tfn", False)])
def test_a_backbone_built_for_sequences_is_flagged_on_utterance_vectors_before_run(
    backbone, warned, tmp_path, monkeypatch
):
    monkeypatch.setenv("MSMIX_RUNS_DIR", str(tmp_path))
    at = real_page("training", backbone=backbone)
    notes = [w.value for w in at.warning if "one step per modality" in w.value]
    assert bool(notes) == warned, notes
    assert not list(tmp_path.iterdir()), "nothing was trained: the note comes before Run"
