"""AppTest of the Embeddings page's map controls: t-SNE, 3-D, the label range, picking, tracing, presets."""

import numpy as np
import pytest
from helpers import metric, page, traces, values

from msmix_core.analysis import nearest_neighbours, view_features


@pytest.fixture(autouse=True)
def quiet_maps(monkeypatch, tmp_path):
    """No UMAP compile thread in the test process (PCA stands in, as the page does meanwhile); maps kept in tmp."""
    from ui import maps, warmup

    monkeypatch.setattr(warmup, "ready", lambda: False)
    monkeypatch.setattr(warmup, "start", lambda: None)
    monkeypatch.setattr(maps, "MAP_CACHE", tmp_path)


def trace(at, prefix: str) -> dict:
    return next(t for t in traces(at, "embedding") if t["name"].startswith(prefix))


def test_the_page_opens_on_the_trained_encoders_umap_map_and_says_why():
    at = page("embeddings", emb_batch="64")
    assert at.radio(key="emb_projection").value == "UMAP" and at.radio(key="emb_source").value == "trained"
    assert any("shapeless blob" in c.value for c in at.caption)
    assert any("UMAP is compiling" in i.value for i in at.info)  # not on disk here, not compiled: PCA meanwhile


def small_batch(batch_size: int, epochs: int = 0):
    """The latents the page shows at these settings (the same cached call as the page)."""
    from ui import data, latents
    from ui.settings import Settings

    settings = Settings(n_train=128)
    return latents.batch(settings, data.dataset(settings), batch_size, epochs)


@pytest.mark.slow  # compiles UMAP when numba's cache is cold
def test_a_map_computed_before_opens_as_umap_without_waiting_for_the_compile(tmp_path):
    from ui import maps

    batch = small_batch(64)
    maps.coordinates(batch, "fused", "UMAP", 2, 1111, maps.draws(batch, 1111))  # what `make setup` does
    at = page("embeddings", emb_batch="64", emb_source="untrained")
    assert not any("UMAP is compiling" in i.value for i in at.info)  # warmup.ready() is False all along
    assert at.get("plotly_chart")[0].proto.spec.count("UMAP 1") == 1


@pytest.mark.slow
def test_tsne_in_3d_with_a_label_range_opposite_pairs_only_lines_and_a_higher_delta():
    at = page(
        "embeddings",
        emb_batch="64",
        emb_source="untrained",
        emb_projection="t-SNE",
        emb_3d="true",
        emb_labels="-1,3",
        emb_opposite="true",
        emb_lines="true",
        emb_delta="0.8",
    )
    kinds = {t["name"]: t["type"] for t in traces(at, "embedding")}
    assert set(kinds.values()) == {"scatter3d"} and "lines to the sources" in kinds
    assert at.slider(key="emb_labels").value == (-1.0, 3.0) and at.select_slider(key="emb_delta").value == 0.8
    outside = trace(at, "outside the label range")
    assert len(values(outside["customdata"])) > 0
    inside = values(trace(at, "real samples")["customdata"])
    assert len(inside) + len(values(outside["customdata"])) == 64
    shown = 0
    for name in ("MS-Mix", "Manifold Mixup"):
        mixed = next((t for t in traces(at, "embedding") if t["name"] == f"mixed: {name}"), None)
        if mixed is not None:
            labels = values(mixed["marker"]["color"])
            assert np.all((labels >= -1) & (labels <= 3))
            assert all("×" in text for text in mixed["text"])
            shown += len(labels)
        opposite, drawn = metric(at, f"From opposite sentiments: {name}").split(" of ")
        assert int(opposite) <= int(drawn)
    assert shown > 0 and len(values(trace(at, "lines to the sources")["x"])) == 4 * shown  # a, mixed, b, gap per point
    assert at.query_params["emb_projection"] == "t-SNE" and at.query_params["emb_labels"] == "-1,3"


def test_picking_a_sample_rings_it_and_its_nearest_neighbours_and_puts_it_in_the_url():
    at = page("embeddings", emb_batch="64", emb_projection="PCA", emb_source="untrained", emb_view="text")
    rows = at.selectbox(key="emb_pick").options
    at.selectbox(key="emb_pick").set_value(int(rows[5].split(" ")[1])).run()
    row = int(rows[5].split(" ")[1])
    assert at.query_params["emb_pick"] == str(row)
    picked = trace(at, "picked: row")
    assert picked["name"] == f"picked: row {row}"
    real = trace(at, "real samples")
    position = int(np.flatnonzero(values(real["customdata"]) == 5)[0])
    assert values(picked["x"])[0] == values(real["x"])[position]
    table = at.dataframe[0].value
    features = view_features(small_batch(64).latents, "text")
    near, _ = nearest_neighbours(features, features[5], 8, exclude=5)
    np.testing.assert_array_equal(table["row"], small_batch(64).index[near])
    ringed = trace(at, f"neighbours of row {row}")
    assert len(values(ringed["x"])) == len(table) == 8
    assert set(np.round(values(ringed["x"]), 5)) <= set(np.round(values(real["x"]), 5))
    again = page("embeddings", emb_batch="64", emb_projection="PCA", emb_source="untrained", emb_pick=str(row))
    assert again.selectbox(key="emb_pick").value == row
    bad = page("embeddings", emb_batch="64", emb_projection="PCA", emb_source="untrained", emb_pick="-7")
    assert bad.selectbox(key="emb_pick").value == int(rows[0].split(" ")[1])


def test_a_link_with_the_old_short_name_of_the_random_pairs_opens_the_same_view():
    old = {"emb_show_mixup": "false", "emb_trace": "mixup:3"}  # from before they were called Manifold Mixup
    at = page("embeddings", emb_batch="64", emb_projection="PCA", emb_source="untrained", emb_mixed="10", **old)
    assert at.toggle(key="emb_show_manifold").value is False and at.selectbox(key="emb_trace").value == "manifold:3"
    assert at.query_params["emb_show_manifold"] == "false" and "emb_show_mixup" not in at.query_params


def test_tracing_a_mixed_point_joins_it_to_its_two_sources_and_a_click_does_the_same():
    at = page("embeddings", emb_batch="64", emb_projection="PCA", emb_source="untrained", emb_mixed="10")
    at.selectbox(key="emb_trace").set_value("manifold:3").run()
    assert at.query_params["emb_trace"] == "manifold:3"
    line = trace(at, "lines to the sources")
    mixup = trace(at, "mixed: Manifold Mixup")
    x = values(line["x"])
    assert len(x) == 4 and x[1] == values(mixup["x"])[3] and np.isnan(x[3])
    names = [t["name"] for t in traces(at, "embedding")]
    at.session_state["embedding"] = {  # what the browser sends for a click on MS-Mix's point #2
        "selection": {"points": [{"curve_number": names.index("mixed: MS-Mix"), "point_index": 2, "customdata": 2}]}
    }
    at.run()
    assert at.selectbox(key="emb_trace").value == "msmix:2"
    assert values(trace(at, "lines to the sources")["x"])[1] == values(trace(at, "mixed: MS-Mix")["x"])[2]
    at.session_state["embedding"] = {"selection": {"points": [{"curve_number": 0, "point_index": 7, "customdata": 7}]}}
    at.run()
    assert trace(at, "picked: row")["name"] == f"picked: row {at.selectbox(key='emb_pick').value}"
    assert at.query_params["emb_pick"] == str(at.selectbox(key="emb_pick").value)


@pytest.mark.slow
def test_the_papers_preset_sets_the_boundary_picture():
    at = page("embeddings", emb_batch="64", emb_projection="PCA", emb_source="untrained")
    at.button(key="emb_preset_0").click().run()
    assert not at.exception
    assert at.radio(key="emb_projection").value == "t-SNE" and at.radio(key="emb_source").value == "trained"
    assert at.toggle(key="emb_opposite").value and at.toggle(key="emb_lines").value
    assert at.select_slider(key="emb_delta").value == 0.8
    assert at.query_params["emb_projection"] == "t-SNE" and at.query_params["emb_delta"] == "0.8"
    for name in ("MS-Mix", "Manifold Mixup"):
        shown = next((t for t in traces(at, "embedding") if t["name"] == f"mixed: {name}"), None)
        opposite = int(metric(at, f"From opposite sentiments: {name}").split(" of ")[0])
        assert (0 if shown is None else len(values(shown["x"]))) == opposite  # only the opposite pairs are drawn
