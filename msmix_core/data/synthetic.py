"""The embedded default: a synthetic MSA dataset whose generative model makes MS-Mix's story visible.

Generative model, per sample ``i`` (all draws from one ``numpy.random.Generator(seed)``):

1. **Sentiment** ``s_i`` in [-3, 3], MOSI-like: exactly 0 with probability ``zero_rate``; else
   positive with probability ``positive_rate`` and a magnitude ``|N(0, magnitude_scale)| + 0.2``
   clipped to 3, so mildly polar samples are many and strongly polar ones fewer.
2. **Label** ``y_i = s_i + label_noise·N(0, 1)``, clipped to [-3, 3] and rounded to a multiple of
   0.2 (a mean of five annotators' integer scores, as on MOSI); an exact zero stays 0.
3. **Conflict**: with probability ``conflict_rate`` one modality, chosen uniformly, expresses the
   opposite polarity (``-s_i``: sarcasm-like). ``conflict``/``conflict_modality`` record it.
4. **Nuisance**: a speaker ``k_i`` uniform over ``n_speakers``; each speaker has a random offset
   per modality of norm ``nuisance_strength``, independent of sentiment. It dominates raw
   similarity, so nearest neighbours in raw feature space are mostly the same speaker, not the
   same sentiment.
5. **Features** of modality ``m`` with a fixed random unit "sentiment direction" ``u_m``:
   ``x_m[t] = offset_m(k_i) + window_i(t)·strength_m·(e_m,i/3)·u_m·√D_m·amp + noise_std·N(0, I)``
   where ``e_m,i`` is the sentiment that modality expresses (``±s_i``) and ``window_i`` is 1 on
   a random contiguous ``expressive_fraction`` of the time steps (sentiment shows in some
   frames or tokens, not all) and 0 elsewhere.

The per-sample ``extras`` are ``conflict``, ``conflict_modality`` (-1 or an index into
MODALITIES), ``speaker`` and ``sentiment_text/audio/vision`` (the signed ``e_m,i``); ``raw_text``
holds a template sentence whose wording follows the text modality's sentiment.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

import numpy as np

from msmix_core import MODALITIES
from msmix_core.data.schema import SPLITS, MSADataset, Split
from msmix_core.errors import MsmixError


@dataclass(frozen=True)
class SyntheticConfig:
    """Every knob of :func:`make_synthetic`, with the "small" preset's defaults."""

    n_train: int = 1284  #: MOSI's split sizes (1284/229/686)
    n_valid: int = 229
    n_test: int = 686
    text_dim: int = 32
    audio_dim: int = 16
    vision_dim: int = 16
    text_len: int = 16
    audio_len: int = 16
    vision_len: int = 16
    text_strength: float = 1.0  #: how strongly each modality carries sentiment: text strong ...
    audio_strength: float = 0.3  #: ... audio and vision weak, as on real MOSI
    vision_strength: float = 0.3
    amplitude: float = 0.6  #: scale of the sentiment signal relative to unit noise per dimension
    expressive_fraction: float = 0.4  #: share of time steps in which sentiment is expressed
    conflict_rate: float = 0.1  #: share of samples with one modality of opposite polarity
    label_noise: float = 0.3  #: std of the annotation noise added to the latent sentiment
    zero_rate: float = 0.08  #: share of exactly neutral samples (MOSI has a few exact zeros)
    positive_rate: float = 0.55  #: share of positive among the non-neutral samples
    magnitude_scale: float = 1.2  #: scale of |sentiment|: smaller makes mild samples commoner
    n_speakers: int = 12  #: nuisance clusters, independent of sentiment
    nuisance_strength: float = 3.0  #: norm of a speaker's offset, per time step, relative to √D
    noise_std: float = 1.0  #: per-dimension Gaussian noise


#: Named presets: "small" is the app's fast default; "mosi" matches MOSI's aligned MMSA features.
PRESETS: dict[str, SyntheticConfig] = {
    "small": SyntheticConfig(),
    "mosi": SyntheticConfig(text_dim=768, audio_dim=5, vision_dim=20, text_len=50, audio_len=50, vision_len=50),
}

_POSITIVE = ["it was pretty good", "I really enjoyed it", "honestly a great movie", "loved every minute of it"]
_NEGATIVE = ["it was kind of boring", "I did not like it", "honestly a waste of time", "the worst film this year"]
_NEUTRAL = ["it was a movie", "I watched it last week", "some parts, some other parts", "it is what it is"]


def _check(config: SyntheticConfig) -> None:
    for f in fields(config):
        value = getattr(config, f.name)
        if f.type == "int" and (not isinstance(value, int | np.integer) or value < 1):
            raise MsmixError(f"synthetic knob {f.name} must be an integer >= 1, got {value!r}")
        if f.type == "float" and (not np.isfinite(value) or value < 0):
            raise MsmixError(f"synthetic knob {f.name} must be a number >= 0, got {value!r}")
    for name in ("conflict_rate", "zero_rate", "positive_rate", "expressive_fraction"):
        if getattr(config, name) > 1:
            raise MsmixError(f"synthetic knob {name} is a probability: give a value in [0, 1]")


def _sentence(rng: np.random.Generator, sentiment: np.ndarray) -> np.ndarray:
    choice = rng.integers(0, 4, size=sentiment.shape[0])
    out = []
    for s, c in zip(sentiment, choice, strict=True):
        bank = _POSITIVE if s > 0.5 else _NEGATIVE if s < -0.5 else _NEUTRAL
        out.append(("so " if abs(s) > 2 else "") + bank[c])
    return np.array(out)


def make_synthetic(preset: str = "small", seed: int = 0, **overrides) -> MSADataset:
    """Build the synthetic MSA dataset (see the module docstring for the generative model).

    ``preset`` picks a :data:`PRESETS` entry and ``overrides`` change any
    :class:`SyntheticConfig` knob, e.g. ``make_synthetic(conflict_rate=0.3, n_train=200)``.
    Same ``seed`` and knobs, same bytes.
    """
    if preset not in PRESETS:
        raise MsmixError(f"unknown synthetic preset {preset!r}: use one of {sorted(PRESETS)}")
    known = {f.name for f in fields(SyntheticConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise MsmixError(f"unknown synthetic knob(s) {unknown}: the knobs are {sorted(known)}")
    config = replace(PRESETS[preset], **overrides)
    _check(config)
    rng = np.random.default_rng(seed)
    n = config.n_train + config.n_valid + config.n_test

    polar = rng.random(n) >= config.zero_rate
    sign = np.where(rng.random(n) < config.positive_rate, 1.0, -1.0)
    magnitude = np.minimum(np.abs(rng.normal(0.0, config.magnitude_scale, n)) + 0.2, 3.0)
    sentiment = np.where(polar, sign * magnitude, 0.0)
    noisy = np.clip(sentiment + config.label_noise * rng.normal(size=n), -3.0, 3.0)
    labels = np.where(polar, np.round(noisy * 5) / 5, 0.0).astype(np.float32)

    conflict = rng.random(n) < config.conflict_rate
    conflict_modality = np.where(conflict, rng.integers(0, len(MODALITIES), n), -1).astype(np.int8)
    speaker = rng.integers(0, config.n_speakers, n).astype(np.int64)

    features, expressed = {}, {}
    for k, m in enumerate(MODALITIES):
        dim, length = getattr(config, f"{m}_dim"), getattr(config, f"{m}_len")
        direction = rng.normal(size=dim)
        direction /= np.linalg.norm(direction)
        offsets = rng.normal(size=(config.n_speakers, dim))
        offsets *= config.nuisance_strength / np.linalg.norm(offsets, axis=1, keepdims=True) * np.sqrt(dim) / 4
        e = np.where(conflict_modality == k, -sentiment, sentiment)
        width = max(1, round(config.expressive_fraction * length))
        start = rng.integers(0, length - width + 1, n)
        steps = np.arange(length)[None, :]
        window = ((steps >= start[:, None]) & (steps < start[:, None] + width)).astype(np.float64)
        signal = getattr(config, f"{m}_strength") * config.amplitude * np.sqrt(dim) * (e / 3.0)
        x = rng.normal(0.0, config.noise_std, size=(n, length, dim))
        x += offsets[speaker][:, None, :]
        x += (window * signal[:, None])[..., None] * direction[None, None, :]
        features[m] = x.astype(np.float32)
        expressed[m] = e.astype(np.float32)

    raw_text = _sentence(rng, expressed["text"])
    ids = np.array([f"synth_spk{k:02d}$_${i:04d}" for i, k in enumerate(speaker)])
    bounds = np.cumsum([0, config.n_train, config.n_valid, config.n_test])
    splits = {}
    for name, lo, hi in zip(SPLITS, bounds[:-1], bounds[1:], strict=True):
        part = slice(lo, hi)
        splits[name] = Split(
            text=features["text"][part],
            audio=features["audio"][part],
            vision=features["vision"][part],
            labels=labels[part],
            ids=ids[part],
            raw_text=raw_text[part],
            extras={
                "conflict": conflict[part],
                "conflict_modality": conflict_modality[part],
                "speaker": speaker[part],
                **{f"sentiment_{m}": expressed[m][part] for m in MODALITIES},
            },
        )
    return MSADataset(
        name=f"synthetic:{preset}",
        splits=splits,
        label_range=(-3.0, 3.0),
        metrics="mosi",
        info={"source": "synthetic", "preset": preset, "seed": seed, "config": asdict(config)},
    )
