"""The controls drawn in the browser (ui.live): what they are sent, and their JavaScript against the library."""

import base64
import json
import shutil
import subprocess

import numpy as np
import pytest
import torch
from helpers import live_data, page, set_delta, set_live

from msmix_core.analysis import kept_share
from msmix_core.mixing import candidate_mask
from msmix_core.mixing.ms_mix import opposite_sign
from ui.live import SliderSpec, accepted, assets
from ui.live.ratio_histograms import KEYS, alpha_grid
from ui.live.threshold_map import map_data


def decode(text: str, dtype) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=dtype)


def example(size: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    sim = rng.random((size, size)).astype(np.float32)
    labels = rng.uniform(-3, 3, size)
    order = np.argsort(labels)
    pairs = np.array([[0, 1], [2, 3]])
    return sim, labels, order, pairs


def build(sim, labels, order, pairs, averaged=None, delta=0.4):
    return map_data(
        delta,
        kept_share(sim if averaged is None else averaged, delta)[0],
        sim,
        averaged,
        labels,
        order,
        np.arange(100, 100 + len(labels)),
        pairs,
        view="averaged" if averaged is None else "text",
        order_name="by label",
        label_range=(-3.0, 3.0),
        help_text="",
    )


def test_the_map_ships_everything_in_display_order():
    sim, labels, order, pairs = example()
    data = build(sim, labels, order, pairs)
    shown = decode(data["similarity"], np.float32).reshape(6, 6)
    np.testing.assert_array_equal(shown, sim[order][:, order])
    assert data["averaged"] is None  # the averaged view counts on its own matrix
    assert data["labels"] == labels[order].tolist() and data["rows"] == (100 + order).tolist()
    rank = np.argsort(order)
    assert data["pairs"] == [[int(rank[0]), int(rank[1])], [int(rank[2]), int(rank[3])]]
    assert len(decode(data["strip"], np.uint8)) == 3 * 6 and len(decode(data["levels"], np.uint8)) == 36
    assert data["server_kept"] == kept_share(sim, 0.4)[0]


def test_the_digest_changes_with_what_is_drawn_not_with_delta():
    sim, labels, order, pairs = example()
    same = build(sim, labels, order, pairs, delta=0.4)["digest"]
    assert build(sim, labels, order, pairs, delta=0.7)["digest"] == same  # the browser keeps its decoded arrays
    assert build(sim, labels, order[::-1].copy(), pairs)["digest"] != same
    assert build(sim, labels, order, pairs, averaged=sim.T.copy())["digest"] != same


def test_another_view_ships_the_averaged_similarity_for_the_counts():
    sim, labels, order, pairs = example()
    averaged = np.full_like(sim, 0.5)
    data = build(sim, labels, order, pairs, averaged=averaged)
    np.testing.assert_array_equal(decode(data["averaged"], np.float32), averaged.ravel())


def run_script(call: str, payload: dict, component: str = "threshold_map"):
    """Evaluate ``call`` in node after ``component``'s script as the browser gets it, on ``payload`` (``input``)."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is missing: `make test` and `make test-fast` install Debian's nodejs (make node)")
    program = assets(component)[0] + (
        f"\nconst input = JSON.parse(process.env.MAP_INPUT);\nprocess.stdout.write(JSON.stringify({call}));\n"
    )
    done = subprocess.run(
        [node, "--input-type=module", "-e", program],
        env={"MAP_INPUT": json.dumps(payload)},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


@pytest.mark.parametrize("seed", [0, 1])
def test_the_browser_counts_the_pairs_as_the_library(seed):
    rng = np.random.default_rng(seed)
    size = 40
    sim = np.round(rng.random((size, size)), 2).astype(np.float32)  # many cells exactly at a δ of the slider
    labels = np.round(rng.uniform(-3, 3, size), 0)  # zeros among them: they never clash
    deltas = [0.0, 0.3, 0.4, 0.41, 0.55, 0.99, 1.0]
    counts = run_script(
        "input.deltas.map(d => countPassing(Float32Array.from(input.sim), Float32Array.from(input.labels), "
        "input.size, d))",
        {"sim": sim.ravel().tolist(), "labels": labels.tolist(), "size": size, "deltas": deltas},
    )
    clash = opposite_sign(torch.from_numpy(labels))
    for delta, got in zip(deltas, counts, strict=True):
        mask = candidate_mask(torch.from_numpy(sim), delta)
        assert got == {"kept": int(mask.sum()), "opposite": int((mask & clash).sum())}, delta
    assert run_script("countOpposite(input.labels)", {"labels": labels.tolist()}) == int(clash.sum())


@pytest.mark.app
def test_the_pairs_page_mounts_the_map_and_follows_delta():
    at = page("pairs", pairs_view="text")
    data = live_data(at)
    assert data["view"] == "text" and data["averaged"] is not None and data["size"] == 64
    assert all(0 <= a < 64 and 0 <= b < 64 for a, b in data["pairs"])
    set_delta(at, 0.9)
    moved = live_data(at)
    assert moved["slider"]["value"] == 0.9 and moved["server_kept"] < data["server_kept"]
    assert moved["digest"] == data["digest"]


def test_the_alpha_grid_holds_every_slider_step_and_a_linked_alpha():
    grid = alpha_grid(0.1, 8.0)
    assert len(grid) == 80 and grid[0] == 0.1 and grid[-1] == 8.0 and 2.3 in grid
    assert 0.55 in alpha_grid(0.1, 8.0, 0.55) and len(alpha_grid(0.1, 8.0, 2.0)) == 80


@pytest.mark.app
@pytest.mark.parametrize("alpha", ["0.5", "0.55"])
def test_the_histograms_at_an_alpha_are_those_of_the_table_drawn_at_it(alpha):
    at = page("ratios", ratios_alpha=alpha)
    data = live_data(at)
    assert data["slider"]["value"] == float(alpha) and float(alpha) in data["alphas"]
    frame = data["hist"][data["alphas"].index(float(alpha))]
    table = next(d.value for d in at.dataframe if "lam_text" in d.value)
    for key, hist in zip(KEYS, frame, strict=True):
        expected = np.histogram(table[f"lam_{key}"], bins=data["bins"], range=(0, 1), density=True)[0]
        np.testing.assert_allclose(hist, expected, atol=1e-4)
    set_live(at, "ratios_alpha", 3.0)
    moved = live_data(at)
    assert (moved["slider"]["value"] == 3.0 and moved["hist"] == data["hist"]) or alpha == "0.55"


def test_the_browser_shows_the_frame_of_the_alpha_it_is_at():
    alphas = alpha_grid(0.1, 8.0, 0.55)
    got = run_script(
        "input.probes.map(a => nearestFrame(input.alphas, a))",
        {"alphas": alphas, "probes": [0.1, 0.5, 0.55, 0.6, 2.3, 8.0]},
        "ratio_histograms",
    )
    assert [alphas[i] for i in got] == [0.1, 0.5, 0.55, 0.6, 2.3, 8.0]


def test_only_a_number_in_the_sliders_range_is_taken_from_the_browser():
    slider = SliderSpec("δ", 0.0, 1.0, 0.01, 0.4, 2).to_data()
    assert accepted(0.45, slider) == 0.45 and accepted("0.5", slider) == 0.5 and accepted(1, slider) == 1.0
    for bad in (None, "x", [0.4], float("nan"), float("inf"), -0.01, 1.5):
        assert accepted(bad, slider) is None


DELTA = SliderSpec("δ", 0.0, 1.0, 0.01, 0.4, 2).to_data()
ALPHA = SliderSpec("α", 0.1, 8.0, 0.1, 2.0, 1).to_data()


@pytest.mark.parametrize("speed", [0.5, 1, 4])
def test_play_sweeps_delta_to_one_step_by_step(speed):
    shown = run_script("playedValues(input.spec, 0.4, input.speed, 16)", {"spec": DELTA, "speed": speed})
    assert shown == [round(0.41 + k / 100, 2) for k in range(60)]  # every step once, in order, ending at 1
    again = run_script("playedValues(input.spec, 1, 1, 16)", {"spec": DELTA})
    assert again[0] == 0.01 and again[-1] == 1.0  # from the end, play starts over


def test_play_speed_scales_the_sweep_and_stays_on_the_slider_steps():
    slow, fast, end = run_script(
        "[advance(input.spec, 0, 1000, 0.5), advance(input.spec, 0, 1000, 2), advance(input.spec, 0.9, 4000, 4)]",
        {"spec": DELTA},
    )
    assert (slow, fast, end) == (pytest.approx(0.0625), pytest.approx(0.25), 1.0)  # 8 s for the range at 1×
    alphas = run_script("playedValues(input.spec, 2, 4, 40)", {"spec": ALPHA})
    grid = alpha_grid(0.1, 8.0)
    assert alphas[-1] == 8.0 and all(a in grid for a in alphas)  # no 2.3000000000000003: frames exist for each
    assert alphas == sorted(set(alphas)) and alphas[0] == 2.2  # 0.16 a frame at 4×: a step may be skipped
    assert max(np.diff(alphas)) < 0.2 + 1e-9


def test_a_click_on_the_map_names_the_cell_under_it():
    got = run_script(
        "[[0, 0], [0.99, 0.5], [0.5, 0.999], [1.0, 0.2], [-0.01, 0.5]].map(([x, y]) => cellAt(x, y, 64))", {}
    )
    assert got == [[0, 0], [32, 63], [63, 32], None, None]  # [row a, column b]
