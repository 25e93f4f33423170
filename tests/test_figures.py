"""The plotly figure builders: the right traces, the right numbers, readable axes."""

import base64
import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from plotly.colors import hex_to_rgb
from scipy.stats import beta

from msmix_core.figures import embedding_scatter, intensity_scatter, similarity_heatmap, strategy_bars
from msmix_core.figures.pairs import LEVELS, similarity_palette
from msmix_core.figures.palette import VEIL_COLOR
from msmix_core.figures.ratios import BETA_GRID, ratio_densities


def image_pixels(trace) -> np.ndarray:
    """The RGB pixels of an image trace's PNG source, decoded by Pillow (not by the code that wrote them)."""
    header, payload = trace.source.split(",", 1)
    assert header == "data:image/png;base64"
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(payload))).convert("RGB"))


def test_similarity_heatmap_veils_non_candidates_and_marks_pairs():
    sim = np.random.default_rng(0).uniform(size=(6, 6))
    mask = sim > 0.5
    pairs = np.array([[0, 1], [2, 3]])
    fig = similarity_heatmap(sim, mask, pairs)
    image, scale, chosen = fig.data
    pixels = image_pixels(image)
    palette = similarity_palette()
    levels = np.rint(sim * (LEVELS - 1)).astype(int)
    np.testing.assert_array_equal(pixels[mask], palette[levels[mask]])  # candidates: their Cividis colour
    np.testing.assert_array_equal(pixels[~mask], palette[LEVELS + levels[~mask]])  # the rest: veiled
    veil = np.asarray(hex_to_rgb(VEIL_COLOR))
    lighter = np.abs(palette[LEVELS:].astype(int) - veil).sum(1) < np.abs(palette[:LEVELS].astype(int) - veil).sum(1)
    assert lighter.all()  # a veiled cell is always nearer the veil's grey than its unveiled colour
    assert scale.marker.colorscale[0][1] != scale.marker.colorscale[-1][1] and scale.marker.showscale
    assert (scale.marker.cmin, scale.marker.cmax) == (0, 1)
    np.testing.assert_array_equal(chosen.y, pairs[:, 0])
    np.testing.assert_array_equal(chosen.x, pairs[:, 1])
    assert "sample a" in fig.layout.yaxis.title.text and "sample b" in fig.layout.xaxis.title.text
    unmasked = similarity_heatmap(sim).data
    assert len(unmasked) == 2 and (image_pixels(unmasked[0]) == palette[levels]).all()


def test_similarity_heatmap_ships_kilobytes_at_batch_256():
    sim = np.random.default_rng(2).uniform(size=(256, 256))
    fig = similarity_heatmap(sim, sim > 0.4, np.stack([np.arange(256), np.arange(256)[::-1]], 1))
    assert len(fig.to_json()) < 150_000  # one indexed PNG, not 2 × 65,536 numbers


def test_similarity_heatmap_orders_rows_columns_and_pairs_together():
    sim = np.random.default_rng(1).uniform(size=(5, 5))
    labels = np.array([2.0, -1.0, 0.5, -3.0, 1.0])
    order = np.argsort(labels)
    pairs = np.array([[0, 3], [4, 1]])
    strip, image, _, chosen = similarity_heatmap(sim, sim > 0.3, pairs, order=order, labels=labels).data
    np.testing.assert_array_equal(np.asarray(strip.z)[0], np.sort(labels))
    pixels = image_pixels(image)
    rank = np.argsort(order)
    for (a, b), x, y in zip(pairs, chosen.x, chosen.y, strict=True):  # a cross sits on its own cell
        level = round(sim[a, b] * (LEVELS - 1)) + (0 if sim[a, b] > 0.3 else LEVELS)
        assert (x, y) == (rank[b], rank[a]) and (pixels[y, x] == similarity_palette()[level]).all()
    shown = sim[order][:, order]
    expected = np.rint(shown * (LEVELS - 1)).astype(int) + np.where(shown > 0.3, 0, LEVELS)
    np.testing.assert_array_equal(pixels, similarity_palette()[expected])


def test_strategy_bars_show_percentages_and_gaps():
    stats = pd.DataFrame({"strategy": ["A", "B"], "contradictory_rate": [0.1, 0.5], "mean_abs_label_gap": [0.3, 1.2]})
    figure = strategy_bars(stats)
    rate, gap = figure.data
    np.testing.assert_allclose(rate.y, [10, 50])
    np.testing.assert_allclose(gap.y, [0.3, 1.2])
    assert (rate.texttemplate, gap.texttemplate) == ("%{y:.0f} %", "%{y:.2f}") and rate.textposition == "outside"
    assert figure.layout.yaxis.range == (0, 60) and figure.layout.yaxis2.range[1] > 1.2  # room for the labels


def test_a_zero_bar_still_says_its_value():
    stats = pd.DataFrame({"strategy": ["guard"], "contradictory_rate": [0.0], "mean_abs_label_gap": [0.0]})
    rate, _ = strategy_bars(stats).data
    assert rate.texttemplate == "%{y:.0f} %" and rate.cliponaxis is False and rate.y[0] == 0


@pytest.mark.parametrize("alpha", [0.5, 2.0])
def test_ratio_densities_are_histogram_densities_beside_the_beta_density(alpha):
    lam = {k: np.linspace(0.1, 0.9, 9) for k in ("text", "audio", "vision", "label")}
    frame = ratio_densities(lam, alpha, bins=20)
    np.testing.assert_allclose(frame["beta"], beta.pdf(BETA_GRID, alpha, alpha))
    for key in lam:
        assert frame[key].shape == (20,) and np.sum(frame[key]) / 20 == pytest.approx(1.0)


def test_intensity_scatter_has_one_legend_entry_per_predictor():
    rows = []
    for predictor in ("untrained", "trained"):
        for m in ("text", "audio", "vision"):
            rows.append(pd.DataFrame({"row": [0, 1], "modality": m, "abs_label": [0.5, 2.0], "intensity": [0.1, 1.0]}))
            rows[-1]["predictor"] = predictor
    fig = intensity_scatter(pd.concat(rows))
    assert len(fig.data) == 6
    assert [t.name for t in fig.data if t.showlegend] == ["untrained predictor", "trained predictor"]
    assert "|label|" in fig.layout.xaxis.title.text


def test_embedding_scatter_colours_mixed_points_by_label_with_one_marker_per_method():
    real = np.random.default_rng(0).normal(size=(10, 2))
    mixed = {
        "MS-Mix": (real[:3], np.array([0.5, -1.0, 2.0]), ["a", "b", "c"]),
        "vanilla Mixup": (real[3:5], np.array([0.0, 1.0]), ["d", "e"]),
    }
    fig = embedding_scatter(
        real, np.linspace(-3, 3, 10), (-3.0, 3.0), mixed, axis_name="PCA", highlight=np.array([2]), flagged=real[3:4]
    )
    base, ms, vanilla, found, flagged = fig.data
    assert base.marker.colorscale[0][1] != base.marker.colorscale[-1][1]
    for trace in (base, ms, vanilla):  # one colour scale for real and mixed points
        assert (trace.marker.cmin, trace.marker.cmax) == (-3.0, 3.0)
        assert trace.marker.colorscale == base.marker.colorscale
    np.testing.assert_array_equal(ms.marker.color, [0.5, -1.0, 2.0])
    assert len({base.marker.symbol, ms.marker.symbol, vanilla.marker.symbol}) == 3
    assert list(vanilla.text) == ["d", "e"]
    assert found.x[0] == real[2, 0] and flagged.name == "placed off the map: 1"
    assert fig.layout.xaxis.title.text.startswith("PCA 1")


def test_embedding_scatter_in_3d_greys_labels_outside_the_range_rings_neighbours_and_joins_sources():
    real = np.random.default_rng(0).normal(size=(6, 3))
    labels = np.array([-2.0, -1.0, 0.0, 0.5, 1.0, 2.5])
    segments = np.stack([real[[0]], real[[1]], real[[2]]], axis=1)  # one mixed point (at row 0) and its sources
    fig = embedding_scatter(
        real,
        labels,
        (-3.0, 3.0),
        {"MS-Mix": (real[:1], np.array([0.3]), ["m"])},
        axis_name="t-SNE",
        inside=labels > -1.5,
        neighbours=("neighbours of row 7: 2", np.array([3, 4])),
        picked=("picked: row 7", 2),
        links=("lines to the sources", segments),
    )
    names = [t.name for t in fig.data]
    assert names[:4] == ["real samples", "outside the label range", "mixed: MS-Mix", "lines to the sources"]
    assert names[4:] == ["neighbours of row 7: 2", "picked: row 7"]
    assert {t.type for t in fig.data} == {"scatter3d"}
    assert list(fig.data[0].customdata) == [1, 2, 3, 4, 5] and list(fig.data[1].customdata) == [0]
    line = fig.data[3]
    assert list(line.x[:3]) == [real[1, 0], real[0, 0], real[2, 0]] and np.isnan(line.x[3])
    np.testing.assert_array_equal(fig.data[4].z, real[[3, 4], 2])
    assert fig.layout.scene.zaxis.title.text.startswith("t-SNE 3")
