"""What SAL compares, as the SIG page shows it: its distributions, their flatness, whether intensities track |label|."""

import numpy as np
import pandas as pd
import pytest
import torch

from msmix_core import MODALITIES
from msmix_core.analysis.alignment import intensity_tracking, sal_distributions, sal_sentence, tracking_sentence
from msmix_core.analysis.latents import LatentBatch
from msmix_core.figures import sal_distribution_chart
from msmix_core.mixing.ms_mix import alignment_loss, stack_modalities


def _batch(labels, intensities) -> LatentBatch:
    n = len(labels)
    return LatentBatch(
        index=np.arange(n),
        labels=np.asarray(labels, dtype=np.float32),
        latents={m: np.zeros((n, 2), dtype=np.float32) for m in MODALITIES},
        intensities={m: np.asarray(intensities[m], dtype=np.float32) for m in MODALITIES},
    )


def test_distributions_are_sals_softmaxes_each_sorted_as_weights_times_batch_size():
    labels = [3.0, -0.5, 0.0, -2.0]
    batch = _batch(labels, {"text": [3, -0.5, 0, -2], "audio": [2.9] * 4, "vision": [0, 1, 2, 3]})
    table = sal_distributions(batch)
    assert set(table["modality"]) == set(MODALITIES) and len(table) == 3 * 2 * 4
    target = table[(table["series"] == "target") & (table["modality"] == "text")]
    expected = (torch.softmax(torch.tensor([0.0, 0.5, 2.0, 3.0]) / 3, 0) + 1e-8) * 4
    np.testing.assert_allclose(target["weight"], expected.numpy(), rtol=1e-6)
    np.testing.assert_allclose(target["position"], [0, 1 / 3, 2 / 3, 1])
    curve = table[table["series"] == "intensity"].groupby("modality")["weight"]
    np.testing.assert_allclose(curve.get_group("text"), target["weight"], rtol=1e-6)  # |I| = |y|: the same curve
    np.testing.assert_allclose(curve.get_group("audio"), np.ones(4), rtol=1e-6)  # saturated: flat, uniform
    vision = curve.get_group("vision").to_numpy()
    assert np.all(np.diff(vision) > 0)  # sorted on its own


def test_sal_sentence_states_the_numbers_of_the_chart_it_describes():
    rng = np.random.default_rng(1)
    labels = rng.uniform(-3, 3, 32)
    saturated = _batch(labels, {m: np.full(32, 2.95) for m in MODALITIES})
    following = _batch(labels, {"text": labels, "audio": labels, "vision": rng.uniform(-3, 3, 32)})
    tracking = pd.concat(
        [intensity_tracking(b).assign(predictor=name) for name, b in (("untrained", following), ("trained", saturated))]
    )
    sentence = sal_sentence(tracking)
    assert f"largest weight is {tracking['flatness'].iloc[0]:.2f}× its smallest" in sentence
    assert "Trained predictor: 100% of the intensities are saturated" in sentence
    worst = tracking[tracking["predictor"] == "untrained"].set_index("modality")["sal"]
    assert f"the largest SAL term (1000·KL) is vision's ({worst['vision']:.2f})" in sentence
    distributions = pd.concat(
        [sal_distributions(b).assign(predictor=name) for name, b in (("untrained", following), ("trained", saturated))]
    )
    figure = sal_distribution_chart(distributions, tracking)
    titles = [a["text"] for a in figure.layout.annotations]
    trained = tracking[tracking["predictor"] == "trained"].set_index("modality")["sal"]
    untrained = tracking.iloc[0]["sal"]
    assert titles[0] == f"text<br>SAL term (1000·KL): untrained {untrained:.2f}, trained {trained['text']:.2f}"


def test_tracking_tells_following_from_saturated_intensities():
    rng = np.random.default_rng(0)
    labels = rng.uniform(-3, 3, 64)
    batch = _batch(labels, {"text": labels, "audio": np.full(64, 2.9), "vision": rng.uniform(-3, 3, 64)})
    tracking = intensity_tracking(batch).set_index("modality")
    assert tracking.loc["text", "spearman_abs"] == pytest.approx(1.0)
    assert np.isnan(tracking.loc["audio", "spearman_abs"])  # constant: no rank correlation
    assert abs(tracking.loc["vision", "spearman_abs"]) < 0.3
    assert tracking.loc["text", "sal"] == pytest.approx(0.0, abs=1e-3)
    assert 1 < tracking["flatness"].iloc[0] <= np.e
    stacked = stack_modalities({m: torch.from_numpy(batch.intensities[m]) for m in MODALITIES})
    total = float(alignment_loss(torch.from_numpy(batch.labels), stacked))
    assert tracking["sal"].sum() == pytest.approx(total, rel=1e-4)
    sentence = tracking_sentence("trained", intensity_tracking(batch))
    assert sentence.startswith("Trained predictor: text follows |label| (ρ = 1.00")
    assert "vision does not follow |label|" in sentence or "vision barely follows" in sentence
    assert "audio is the same for every sample" in sentence
    assert tracking.loc["audio", "saturated"] == 1.0 and "100% saturated near ±3" in sentence
