"""The app's figure-free computations: latents of a batch, pair statistics, 2-D maps."""

import numpy as np
import pandas as pd
import pytest
import torch

from msmix_core import MODALITIES
from msmix_core.analysis import (
    STRATEGIES,
    LatentBatch,
    Projector,
    display_order,
    embed,
    encode_batch,
    find_samples,
    fit_encoder,
    intensity_table,
    kept_share,
    modality_similarity,
    nearest_neighbours,
    off_map,
    ordered_pair_count,
    pair_statistics,
    pair_table,
    read_selection,
    sample_captions,
    view_features,
    with_sources,
)
from msmix_core.analysis.embedding import cached_map
from msmix_core.data import Split, make_synthetic
from msmix_core.errors import MsmixError
from msmix_core.mixing import method_knobs, sass_similarity


@pytest.fixture(scope="module")
def dataset():
    return make_synthetic(n_train=128, seed=3)


def polar_batch(b: int = 64, seed: int = 0) -> LatentBatch:
    """Latents that point one way for positive labels and the other way for negative ones."""
    rng = np.random.default_rng(seed)
    labels = rng.uniform(-3, 3, b).astype(np.float32)
    direction = rng.normal(size=8)
    latents = {
        m: (np.sign(labels)[:, None] * direction + 0.3 * rng.normal(size=(b, 8))).astype(np.float32) for m in MODALITIES
    }
    intensities = {m: rng.uniform(-3, 3, b).astype(np.float32) for m in MODALITIES}
    return LatentBatch(latents, labels, np.arange(100, 100 + b), intensities)


def test_encode_batch_is_seeded_and_capped(dataset):
    model, method = fit_encoder(dataset, "late_fusion", seed=5)
    first = encode_batch(model, method, dataset, 32, seed=1)
    again = encode_batch(*fit_encoder(dataset, "late_fusion", seed=5), dataset, 32, seed=1)
    for m in MODALITIES:
        assert first.latents[m].shape[0] == 32 and first.latents[m].ndim == 2
        np.testing.assert_array_equal(first.latents[m], again.latents[m])
        np.testing.assert_array_equal(first.intensities[m], again.intensities[m])
        assert np.all(np.abs(first.intensities[m]) < 3)
    np.testing.assert_array_equal(first.labels, dataset.train.labels[first.index])
    assert len(encode_batch(model, method, dataset, 10_000).labels) == len(dataset.train)
    with pytest.raises(MsmixError, match="at least 2"):
        encode_batch(model, method, dataset, 1)


def test_sequence_latents_are_pooled_over_time(dataset):
    model, method = fit_encoder(dataset, "mult", seed=5)
    batch = encode_batch(model, method, dataset, 8)
    assert all(batch.latents[m].shape == (8, model.latent_dims[m]) for m in MODALITIES)


@pytest.mark.slow
def test_training_moves_the_intensity_predictors(dataset):
    untrained = encode_batch(*fit_encoder(dataset, seed=5), dataset, 32)
    trained = encode_batch(*fit_encoder(dataset, seed=5, epochs=1), dataset, 32)
    np.testing.assert_array_equal(untrained.index, trained.index)
    assert not np.allclose(untrained.intensities["text"], trained.intensities["text"])
    with pytest.raises(MsmixError, match="epochs"):
        fit_encoder(dataset, epochs=-1)


def test_pair_statistics_match_the_methods_own_diagnostics():
    batch = polar_batch()
    stats = pair_statistics(batch, threshold=0.6, repeats=1, seed=7).set_index("id")
    assert list(stats.index) == list(STRATEGIES)
    assert list(stats["strategy"]) == [s.label for s in STRATEGIES.values()]
    for name, strategy in STRATEGIES.items():
        result = strategy(batch, torch.Generator().manual_seed(7), threshold=0.6)
        table = pair_table(batch, result)
        assert stats.loc[name, "contradictory_rate"] == pytest.approx(table["contradictory"].mean())
        gap = np.abs(table["label_a"] - table["label_b"]).mean()
        assert stats.loc[name, "mean_abs_label_gap"] == pytest.approx(gap, rel=1e-5)


def test_pair_statistics_of_some_strategies_are_the_same_rows_as_of_all():
    """The Pair selection page draws the δ-free strategies once per batch and the others per δ."""
    batch = polar_batch()
    every = pair_statistics(batch, threshold=0.6, repeats=2, seed=3).set_index("id")
    aware = [sid for sid, strategy in STRATEGIES.items() if strategy.uses_threshold]
    assert aware == ["sass", "guard"]
    free = [sid for sid in STRATEGIES if sid not in aware]
    parts = [
        pair_statistics(batch, threshold=t, repeats=2, seed=3, strategies=ids) for t, ids in ((0.9, free), (0.6, aware))
    ]
    assert pd.concat(parts).set_index("id").loc[list(STRATEGIES)].equals(every)  # free rows: δ changes nothing
    with pytest.raises(MsmixError, match="unknown strategies"):
        pair_statistics(batch, strategies=["sas"])


def test_similarity_based_pairing_avoids_contradictions_on_polar_latents():
    stats = pair_statistics(polar_batch(), threshold=0.6, repeats=3).set_index("id")
    assert stats.loc["guard", "contradictory_rate"] == 0.0
    assert stats.loc["sass", "contradictory_rate"] < 0.1
    assert stats.loc["random", "contradictory_rate"] > 0.3
    again = pair_statistics(polar_batch(), threshold=0.6, repeats=3).set_index("id")
    assert again.equals(stats)


def test_strategies_take_keywords_and_default_to_the_methods_declared_knobs():
    batch = polar_batch(16)
    for name, strategy in STRATEGIES.items():
        declared = method_knobs(strategy.method)
        explicit = {k: declared[k].default for k in ("threshold", "alpha", "sigma") if k in declared}
        a = strategy(batch, torch.Generator().manual_seed(3))
        b = strategy(batch, torch.Generator().manual_seed(3), **explicit)
        assert torch.equal(a.pairs, b.pairs) and torch.equal(a.mixed_labels, b.mixed_labels), name
    loose = STRATEGIES["sass"](batch, torch.Generator().manual_seed(3), threshold=0.0)
    strict = STRATEGIES["sass"](batch, torch.Generator().manual_seed(3), threshold=0.9)
    assert loose.diagnostics["num_candidates"] > strict.diagnostics["num_candidates"]
    gaps = [
        STRATEGIES["cmixup"](batch, torch.Generator().manual_seed(3), sigma=sigma, threshold=0.9).diagnostics[
            "mean_abs_label_gap"
        ]  # δ: not C-Mixup's
        for sigma in (0.01, 100.0)
    ]
    assert gaps[0] < gaps[1]


def test_pair_table_columns_follow_the_result():
    batch = polar_batch(16)
    sims = modality_similarity(batch)
    result = STRATEGIES["sass"](batch, torch.Generator().manual_seed(0))
    table = pair_table(batch, result, sims["averaged"])
    a, b = table["pos_a"].to_numpy(), table["pos_b"].to_numpy()
    np.testing.assert_array_equal(table["row_a"], batch.index[a])
    np.testing.assert_allclose(table["similarity"], sims["averaged"][a, b])
    lam = table["lam_label"]
    np.testing.assert_allclose(table["mixed_label"], lam * table["label_a"] + (1 - lam) * table["label_b"], rtol=1e-5)
    np.testing.assert_array_equal(table["contradictory"], batch.labels[a] * batch.labels[b] < 0)


def test_modality_similarity_matches_a_numpy_reference():
    batch = polar_batch(12)
    sims = modality_similarity(batch)
    features, _ = batch.tensors()
    np.testing.assert_allclose(sims["averaged"], sass_similarity(features).numpy(), atol=1e-6)
    x = batch.latents["audio"] / np.linalg.norm(batch.latents["audio"], axis=1, keepdims=True)
    cos = x @ x.T
    off = ~np.eye(12, dtype=bool)
    expected = (cos - cos[off].min()) / (cos[off].max() - cos[off].min()) * off
    np.testing.assert_allclose(sims["audio"], expected, atol=1e-5)


def test_intensity_table_is_long_format():
    batch = polar_batch(10)
    table = intensity_table(batch)
    assert len(table) == 30 and set(table["modality"]) == set(MODALITIES)
    text = table[table["modality"] == "text"]
    np.testing.assert_array_equal(text["intensity"], batch.intensities["text"])
    np.testing.assert_array_equal(text["abs_label"], np.abs(batch.labels))


def test_view_features():
    batch = polar_batch(10)
    fused = view_features(batch.latents)
    assert fused.shape == (10, 24)
    np.testing.assert_allclose(np.linalg.norm(fused, axis=1), np.sqrt(3), rtol=1e-5)
    np.testing.assert_array_equal(view_features(batch.latents, "vision"), batch.latents["vision"])
    with pytest.raises(MsmixError, match="unknown view"):
        view_features(batch.latents, "smell")


def test_pca_map_is_linear_so_midpoints_land_between_their_sources():
    x = np.random.default_rng(0).normal(size=(40, 6))
    projector = Projector("pca")
    real = projector.fit_transform(x)
    mid = projector.transform((x[:5] + x[5:10]) / 2)
    np.testing.assert_allclose(mid, (real[:5] + real[5:10]) / 2, atol=1e-5)
    assert projector.transform(np.zeros((0, 6))).shape == (0, 2)


@pytest.mark.slow  # numba compiles UMAP on first use
def test_umap_map_is_seeded_and_places_new_points():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 0.1, (30, 5)), rng.normal(5, 0.1, (30, 5))])
    first = Projector("umap", n_neighbors=10, random_state=1)
    real = first.fit_transform(x)
    np.testing.assert_allclose(real, Projector("umap", n_neighbors=10, random_state=1).fit_transform(x))
    placed = first.transform(x[:3] + 0.01)
    centre_a, centre_b = real[:30].mean(axis=0), real[30:].mean(axis=0)
    assert np.all(np.linalg.norm(placed - centre_a, axis=1) < np.linalg.norm(placed - centre_b, axis=1))


def test_umap_is_imported_with_numba_caching_on_for_its_functions():
    import numba
    from numba.core.caching import NullCache

    from msmix_core.analysis.embedding import import_umap

    umap = import_umap()
    # marked without cache=True in umap's source (a parallel njit), cached on disk all the same
    assert not isinstance(umap.umap_.smooth_knn_dist._cache, NullCache)
    assert isinstance(numba.njit(lambda x: x)._cache, NullCache)  # numba's own default is back


def test_projector_errors():
    with pytest.raises(MsmixError, match="unknown projection"):
        Projector("isomap")
    with pytest.raises(MsmixError, match="2 or 3"):
        Projector("pca", n_components=4)
    with pytest.raises(MsmixError, match="cannot place"):
        Projector("tsne").fit(np.random.default_rng(0).normal(size=(12, 3))).transform(np.zeros((1, 3)))
    with pytest.raises(MsmixError, match="fit"):
        Projector("pca").transform(np.zeros((2, 3)))
    with pytest.raises(MsmixError, match="at least 3"):
        Projector("pca").fit(np.zeros((2, 3)))


def test_tsne_is_seeded_in_two_or_three_dimensions_and_lays_out_the_other_points_with_the_real_ones():
    rng = np.random.default_rng(0)
    real = np.concatenate([rng.normal(0, 0.1, (20, 5)), rng.normal(5, 0.1, (20, 5))])
    others = [real[:4] + 0.01]
    xy, (placed,) = embed("tsne", real, others, dims=3, seed=3)
    assert xy.shape == (40, 3) and placed.shape == (4, 3) and xy.dtype == np.float32
    again, (placed_again,) = embed("tsne", real, others, dims=3, seed=3)
    np.testing.assert_array_equal(xy, again)
    np.testing.assert_array_equal(placed, placed_again)
    centre_a, centre_b = xy[:20].mean(axis=0), xy[20:].mean(axis=0)
    assert np.all(np.linalg.norm(placed - centre_a, axis=1) < np.linalg.norm(placed - centre_b, axis=1))


def test_a_map_is_kept_on_disk_by_its_inputs_and_a_damaged_file_is_computed_again(tmp_path):
    real = np.random.default_rng(1).normal(size=(30, 6))
    assert cached_map("pca", real, [real[:3]], dims=3, cache_dir=tmp_path) is None
    xy, (placed,) = embed("pca", real, [real[:3]], dims=3, cache_dir=tmp_path)
    (saved,) = tmp_path.glob("*.npz")
    hit = cached_map("pca", real, [real[:3]], dims=3, cache_dir=tmp_path)
    np.testing.assert_array_equal(hit[0], xy)
    np.testing.assert_array_equal(hit[1][0], placed)
    assert cached_map("pca", real + 1, [real[:3]], dims=3, cache_dir=tmp_path) is None  # other data, other file
    assert cached_map("pca", real, [real[:3]], dims=2, cache_dir=tmp_path) is None
    for damage in (b"not a map", b"PK\x03\x04" + bytes(40)):  # not a zip; a torn one (BadZipFile)
        saved.write_bytes(damage)
        assert cached_map("pca", real, [real[:3]], dims=3, cache_dir=tmp_path) is None
    np.testing.assert_allclose(embed("pca", real, [real[:3]], dims=3, cache_dir=tmp_path)[0], xy)


def test_kept_share_counts_ordered_pairs_without_the_diagonal():
    sim = np.array([[1.0, 0.9, 0.1], [0.9, 1.0, 0.5], [0.1, 0.5, 1.0]], dtype=np.float32)
    assert ordered_pair_count(3) == 6
    assert kept_share(sim, 0.4) == (4, pytest.approx(4 / 6))  # (0,1), (1,0), (1,2), (2,1); never (i, i)
    assert kept_share(sim, 0.95) == (0, 0.0)
    stats = pair_statistics(polar_batch(16), threshold=0.0, repeats=1).set_index("id")
    assert stats.loc["random", "candidate_share"] == pytest.approx(1.0)  # B·(B−1) for every strategy
    assert 0 < stats.loc["sass", "candidate_share"] <= 1.0


def test_display_order_groups_labels_and_speakers():
    labels = np.array([0.5, -2.0, 1.0, -1.0])
    np.testing.assert_array_equal(display_order(labels, "label"), [1, 3, 0, 2])
    np.testing.assert_array_equal(display_order(labels, "batch"), [0, 1, 2, 3])
    speaker = np.array(["b", "a", "a", "b"])
    np.testing.assert_array_equal(display_order(labels, "speaker", speaker), [1, 2, 3, 0])
    with pytest.raises(MsmixError, match="no speakers"):
        display_order(labels, "speaker")
    with pytest.raises(MsmixError, match="unknown order"):
        display_order(labels, "size")


def test_read_selection_states_the_numbers_it_reads():
    stats = pd.DataFrame({"id": ["sass", "random", "guard"], "contradictory_rate": [0.47, 0.40, 0.0]})
    text = read_selection(0.4, 0.95, stats)
    assert "keeps 95 %" in text and "close to random pairing" in text and "47 %" in text and "40 %" in text
    assert "more than random" in text
    text = read_selection(0.8, 0.1, stats.assign(contradictory_rate=[0.1, 0.4, 0.0]))
    assert "keeps 10 %" in text and "only the most similar pairs" in text and "fewer than random" in text


def test_off_map_flags_points_outside_or_far_from_the_real_ones():
    real = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    flagged = off_map(real, np.array([[0.5, 0.5], [2.0, 0.5], [1.0, 1.0]]))
    np.testing.assert_array_equal(flagged, [False, True, False])
    spread = np.array([[0.0, 0.0], [0.1, 0.0], [10.0, 10.0], [10.1, 10.0]])
    assert off_map(spread, np.array([[5.0, 5.0]]))[0]  # inside the box, but far from every real point
    assert off_map(real, np.zeros((0, 2))).shape == (0,)


def test_nearest_neighbours_and_find_samples():
    features = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [-1.0, 0.0]])
    near, cosine = nearest_neighbours(features, features[0], k=2, exclude=0)
    np.testing.assert_array_equal(near, [1, 2])
    assert cosine[0] > cosine[1]
    ids = np.array(["vid1_1", "vid1_2", "vid2_1"])
    texts = np.array(["A boring film", "great cast", "so boring, really"])
    np.testing.assert_array_equal(find_samples("BORING", ids, texts), [0, 2])
    np.testing.assert_array_equal(find_samples("vid1 cast", ids, texts), [1])
    assert len(find_samples("  ", ids, texts)) == 0 and len(find_samples("x", None, None)) == 0


def _split(extras: dict, raw_text=("GOOD", "BAD", "A VERY LONG SENTENCE ABOUT A MOVIE")) -> Split:
    x = np.zeros((3, 1, 2), dtype=np.float32)
    labels = np.array([2.0, -1.0, 0.5], dtype=np.float32)
    text = None if raw_text is None else np.array(raw_text)
    return Split(x, x, x, labels, np.array(["v1_1", "v1_2", "v2_1"]), raw_text=text, extras=extras)


def test_with_sources_names_both_sentences_and_speakers():
    table = pd.DataFrame({"row_a": [0, 2], "row_b": [1, 0], "label_a": [2.0, 0.5], "label_b": [-1.0, 2.0], "x": 1})
    out = with_sources(table, _split({"video": np.array(["v1", "v1", "v2"])}))
    assert out.columns.tolist() == [
        "row_a", "row_b", "label_a", "label_b", "text_a", "speaker_a", "text_b", "speaker_b", "same_speaker", "x"
    ]  # fmt: skip
    assert out.text_a.tolist() == ["GOOD", "A VERY LONG SENTENCE ABOUT A MOVIE"] and out.text_b.tolist()[0] == "BAD"
    assert out.same_speaker.tolist() == [True, False]
    plain = with_sources(table, _split({}, raw_text=None))
    assert plain.columns.tolist() == table.columns.tolist()  # nothing known, nothing added
    coded = with_sources(table, _split({"speaker": np.array([4, 4, 7])}))  # the synthetic data's speaker codes
    assert coded.speaker_b.tolist() == [4, 4]


def test_sample_captions_cut_long_sentences():
    captions = sample_captions(_split({"video": np.array(["v1", "v1", "v2"])}), np.array([2, 0]), width=10)
    assert captions == ["“A VERY LO…” · speaker v2", "“GOOD” · speaker v1"]
    assert sample_captions(_split({}, raw_text=None), np.array([0])) == [""]


def test_a_stored_batch_is_computed_once_per_key_read_back_equal_and_a_damaged_file_is_computed_again(tmp_path):
    from msmix_core.analysis.latents import stored_batch

    batch = polar_batch(6)
    calls = []

    def compute():
        calls.append(1)
        return batch

    first = stored_batch(tmp_path, "synthetic|seed 1", compute)
    again = stored_batch(tmp_path, "synthetic|seed 1", compute)
    assert len(calls) == 1 and first is batch
    for m in MODALITIES:
        np.testing.assert_array_equal(again.latents[m], batch.latents[m])
        np.testing.assert_array_equal(again.intensities[m], batch.intensities[m])
    np.testing.assert_array_equal(again.labels, batch.labels)
    np.testing.assert_array_equal(again.index, batch.index)
    stored_batch(tmp_path, "synthetic|seed 2", compute)
    assert len(calls) == 2
    for damage in (b"damaged", b"PK\x03\x04" + bytes(40)):  # not a zip; a torn one (BadZipFile)
        for saved in tmp_path.glob("*.npz"):
            saved.write_bytes(damage)
        stored_batch(tmp_path, "synthetic|seed 1", compute)
    assert len(calls) == 4


@pytest.mark.slow
def test_the_encoder_trains_on_the_fixed_thread_count_whatever_the_process_uses(tiny, monkeypatch):
    """A page, a test and the CLI train the same encoder only if they train on the same number of threads."""
    import msmix_core.analysis.latents as latents_module
    from msmix_core.training.config import THREADS

    seen, real_train = [], latents_module.train

    def train(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real_train(*args, **kwargs)

    monkeypatch.setattr(latents_module, "train", train)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        latents_module.fit_encoder(tiny, epochs=1)
        assert seen == [THREADS] and torch.get_num_threads() == 2  # trained on THREADS, the process's count restored
    finally:
        torch.set_num_threads(before)
