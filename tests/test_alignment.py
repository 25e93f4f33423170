"""What SAL compares, as the SIG page shows it: its distributions, their flatness, whether intensities track |label|."""

import numpy as np
import pytest
import torch

from msmix_core import MODALITIES
from msmix_core.analysis.alignment import intensity_tracking, sal_distributions, tracking_sentence
from msmix_core.analysis.latents import LatentBatch
from msmix_core.mixing.ms_mix import alignment_loss, stack_modalities


def _batch(labels, intensities) -> LatentBatch:
    n = len(labels)
    return LatentBatch(
        index=np.arange(n),
        labels=np.asarray(labels, dtype=np.float32),
        latents={m: np.zeros((n, 2), dtype=np.float32) for m in MODALITIES},
        intensities={m: np.asarray(intensities[m], dtype=np.float32) for m in MODALITIES},
    )


def test_distributions_are_sals_softmaxes_ranked_by_abs_label():
    labels = [3.0, -0.5, 0.0, -2.0]
    batch = _batch(labels, {"text": [3, -0.5, 0, -2], "audio": [2.9] * 4, "vision": [0, 1, 2, 3]})
    table = sal_distributions(batch)
    target = table[table["series"] == "label"]
    assert target["abs_label"].tolist() == [0.0, 0.5, 2.0, 3.0]
    expected = torch.softmax(torch.tensor([0.0, 0.5, 2.0, 3.0]) / 3, 0) + 1e-8
    np.testing.assert_allclose(target["p"], expected.numpy(), rtol=1e-6)
    text = table[table["series"] == "text"]["p"].to_numpy()
    np.testing.assert_allclose(text, target["p"].to_numpy(), rtol=1e-6)  # |I| = |y|: the same distribution
    audio = table[table["series"] == "audio"]["p"].to_numpy()
    np.testing.assert_allclose(audio, np.full(4, 0.25 + 1e-8), rtol=1e-6)  # saturated: flat


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
