"""AppTest of the lab controls: page controls in the URL, the pair-selection picture and its reading."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from helpers import ROOT, card_rows, chosen_pairs, live_data, metric, page, set_delta, set_live, traces, values


def test_pair_controls_start_from_the_url_and_follow_changes():
    at = page("pairs", pairs_delta="0.8", pairs_batch="32", pairs_order="batch")
    assert live_data(at)["slider"]["value"] == 0.8
    assert metric(at, "Batch size") == "32"
    assert at.radio(key="pairs_order").value == "batch"
    set_delta(at, 0.55)
    assert at.query_params["pairs_delta"] == "0.55"
    set_delta(at, 0.4)  # back to the default: left out of the URL
    assert "pairs_delta" not in at.query_params


@pytest.mark.parametrize(("key", "value"), [("pairs_delta", "7"), ("pairs_batch", "33"), ("pairs_order", "size")])
def test_bad_page_values_in_the_url_fall_back_to_the_defaults(key, value):
    at = page("pairs", **{key: value})
    assert not at.error
    assert live_data(at)["slider"]["value"] == 0.4 and metric(at, "Batch size") == "64"
    assert at.radio(key="pairs_order").value == "label"


def test_the_caption_reads_the_numbers_on_the_page():
    at = page("pairs")
    kept = live_data(at)["server_kept"]
    reading = next(i.value for i in at.info if "SASS keeps" in i.value)
    assert f"keeps {100 * kept / (64 * 63):.0f} %" in reading  # of the B·(B−1) ordered pairs
    rates = re.findall(r"(\d+) %", reading)
    assert len(rates) >= 3


def test_heatmap_rows_are_sorted_by_label_by_default():
    at = page("pairs")
    shown = live_data(at)
    assert shown["size"] == 64 and np.all(np.diff(shown["labels"]) >= 0)
    assert shown["order_name"] == "by label"


def test_the_pair_picker_and_the_samples_shown_agree_after_a_settings_change():
    at = page("pairs")
    picker = next(s for s in at.selectbox if s.label == "Pair")
    picker.select_index(5).run()
    at.select_slider(key="pairs_batch").set_value(128).run()
    assert not at.exception
    picker = next(s for s in at.selectbox if s.label == "Pair")
    table, k = chosen_pairs(at), int(re.match(r"#(\d+): ", picker.value).group(1))
    assert k == 0 and card_rows(at) == [table.row_a[k], table.row_b[k]]  # a new picker starts on the first pair


def test_ratio_controls_come_from_the_url():
    at = page("ratios", ratios_alpha="0.5", ratios_batch="64")
    assert live_data(at)["slider"]["value"] == 0.5 and at.select_slider(key="ratios_batch").value == 64
    set_live(at, "ratios_alpha", 1.5)
    assert at.query_params["ratios_alpha"] == "1.5" and live_data(at)["slider"]["value"] == 1.5
    assert live_data(page("ratios", ratios_alpha="9"))["slider"]["value"] == 2.0


def test_embedding_controls_toggle_methods_limit_points_and_find_samples():
    at = page("embeddings", emb_mixed="10", emb_show_manifold="false", emb_projection="PCA")
    names = [t["name"] for t in traces(at, "embedding")]
    assert "mixed: MS-Mix" in names and "mixed: Manifold Mixup" not in names
    assert metric(at, "Mixed points: MS-Mix") == "10" and metric(at, "Mixed points: Manifold Mixup") == "0"
    ms = next(t for t in traces(at, "embedding") if t["name"] == "mixed: MS-Mix")
    assert len(values(ms["marker"]["color"])) == 10  # coloured by mixed label, on the real samples' scale
    at.toggle(key="emb_show_manifold").set_value(True).run()
    assert metric(at, "Mixed points: Manifold Mixup") == "10" and at.query_params.get("emb_show_manifold") is None
    at.text_input(key="emb_find").set_value("boring").run()
    found = next(t for t in traces(at, "embedding") if t["name"].startswith("found: "))
    assert int(found["name"].split(": ")[1]) == len(values(found["x"])) > 0
    neighbours = at.dataframe[0].value
    assert len(neighbours) == 8 and neighbours["transcript"].notna().all()
    assert neighbours["cosine"].is_monotonic_decreasing


@pytest.mark.slow  # compiles UMAP's numba code when no earlier test did
def test_umap_warm_up_runs_once_and_reports_ready():
    from ui import warmup

    warmup.start()
    warmup.start()  # a second call starts nothing new
    warmup.wait()
    assert warmup.ready()
    assert page("embeddings", emb_projection="UMAP", emb_batch="64").radio(key="emb_projection").value == "UMAP"


def test_umap_before_its_compile_ends_shows_pca_and_says_why(monkeypatch, tmp_path):
    from ui import maps, warmup

    monkeypatch.setattr(maps, "MAP_CACHE", tmp_path)  # a map not computed before
    monkeypatch.setattr(warmup, "ready", lambda: False)
    monkeypatch.setattr(warmup, "start", lambda: None)
    at = page("embeddings", emb_projection="UMAP", emb_batch="64")
    assert at.radio(key="emb_projection").value == "UMAP"
    assert any("UMAP is compiling" in i.value and "showing PCA" in i.value for i in at.info)
    chart = next(c for c in at.get("plotly_chart") if "embedding" in c.proto.id)
    assert json.loads(chart.proto.spec)["layout"]["xaxis"]["title"]["text"].startswith("PCA 1")


def test_home_tours_all_seven_pages_links_the_paper_and_shows_whole_numbers():
    from ui.navigation import PAGES

    at = page("home")
    text = " ".join(md.value for md in at.markdown)
    assert "arxiv.org/abs/2510.11579" in text
    for entries in PAGES.values():
        for _, title, _, _ in entries:
            assert title in text  # run alone, a page link falls back to its bold title
    assert "Feature sizes" in text and "…" not in " ".join(m.value for m in at.metric)


def errors(at) -> str:
    return " ".join(e.value for e in at.error)


def test_data_source_errors_speak_a_browser_users_language(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    for source, expected in [
        (str(tmp_path), "is a folder"),
        (str(tmp_path / "missing.pkl"), "there is no file"),
        (str(tmp_path / "notes.txt"), "is not an MMSA .pkl or .npz"),
    ]:
        at = page("home", source=source)
        text = errors(at)
        assert expected in text and "msmix convert" not in text and "synthetic:" not in text, text
    at = page("home", source="upload")
    assert "upload a file" in errors(at)


def test_switching_to_upload_with_nothing_uploaded_asks_for_a_file(tmp_path):
    at = page("home", source=str(tmp_path / "missing.pkl"))
    assert "there is no file" in errors(at)
    at.sidebar.radio(key="sb_source_kind").set_value("upload").run()
    assert "upload a file" in errors(at) and "there is no file" not in errors(at)


def test_served_app_opens_only_files_in_its_data_folders(tmp_path, monkeypatch):
    allowed, secret = tmp_path / "data", tmp_path / "private"
    allowed.mkdir()
    secret.mkdir()
    (secret / "real.pkl").write_bytes(b"not a pickle")
    monkeypatch.setenv("MSMIX_DATA_DIRS", str(allowed))
    answers = {errors(page("home", source=str(p))) for p in (secret / "real.pkl", secret / "none.pkl", "/etc/passwd")}
    assert len(answers) == 1 and "only opens files in its data folders" in answers.pop()  # nothing to tell apart
    outside = page("home", source=str(allowed / ".." / "private" / "real.pkl"))
    assert "only opens files in its data folders" in errors(outside)
    mosi = page("home", source="mosi", mosi_dir=str(secret))
    assert "only opens files in its data folders" in errors(mosi)
    inside = page("home", source=str(allowed / "missing.pkl"))
    assert "there is no file" in errors(inside)  # inside a data folder the usual answers apply
    monkeypatch.delenv("MSMIX_DATA_DIRS")
    assert "only opens" not in errors(page("home", source=str(secret / "real.pkl")))  # local run: no limit


def test_the_server_uses_one_torch_thread_in_every_script_thread():
    probe = (
        "import threading, ui, torch; seen = []; "
        "t = threading.Thread(target=lambda: seen.append(torch.get_num_threads())); t.start(); t.join(); "
        "print(torch.get_num_threads(), seen[0])"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MSMIX_APP_THREADS")}
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1", "1"]  # a new thread (a Streamlit script run) too
