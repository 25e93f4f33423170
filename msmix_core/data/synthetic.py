"""The embedded default: a synthetic multimodal sentiment dataset with an explicit generative model.

The data is built so that the problems MS-Mix addresses are visible and measurable. For every
utterance ``i`` of speaker ``k`` about topic ``c``:

1. **Latent sentiment** ``s_i``: exactly 0 with probability ``neutral_rate``, otherwise a random
   sign times ``3 · Beta(2, 3)`` (mean 1.2: many mildly polar, fewer strongly polar utterances).
2. **Label**: ``n_annotators`` annotators each vote ``clip(round(s_i + label_noise · ε), -3, 3)``
   on MOSI's 7-point integer scale, and the label is their mean, as in CMU-MOSI. Votes that cancel
   give exact zeros; ``label_noise`` is the annotators' disagreement.
3. **Conflict**: with probability ``conflict_rate`` a polar utterance has one modality (drawn by
   ``conflict_modality_probs``) expressing ``-s_i`` instead of ``s_i`` (sarcasm-like). The label
   still follows ``s_i``.
4. **Features** of modality ``m`` at step ``t`` (``D_m`` dimensions, an orthonormal basis per
   modality whose first vector ``u_m`` is the sentiment direction)::

       x[t] = strength_m · gate[t] · sentiment_m · u_m        # sentiment, in a few steps only
            + speaker_scale · a_k + topic_scale · b_c        # nuisance clusters, constant over time
            + utterance_scale · e_i                          # per-utterance style, constant over time
            + frame_noise · n[t]                             # AR(1) noise, temporal_corr over steps

   ``gate`` is 1 on one contiguous window covering ``expressive_frac`` of the valid steps and 0
   elsewhere. ``a_k``, ``b_c``, ``e_i`` are Gaussian in ``nuisance_rank`` basis vectors orthogonal to
   ``u_m``, scaled to a norm of about ``√D_m``: they dominate Euclidean distances (nearest neighbours
   share a speaker, not a sentiment) yet stay linearly separable from the sentiment. ``n[t]`` is
   isotropic with unit variance per dimension.
5. **Splits** are speaker-independent like MOSI's: each split has its own speakers, in proportion to
   its size. With ``min_valid_frac < 1`` each sample gets a random valid length and zero padding.

Per split, ``extras`` holds ``conflict`` (bool), ``conflict_modality`` (int8, -1 or an index into
``MODALITIES``), ``speaker`` (int64) and ``sentiment_text``/``sentiment_audio``/``sentiment_vision``
(float32, the signed sentiment each modality expresses). ``raw_text`` holds template transcripts
whose wording follows ``sentiment_text``; ids look like MMSA's (``"synth_spk03$_$0012"``).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass
from numbers import Real

import numpy as np

from msmix_core import MODALITIES
from msmix_core.data.schema import LABEL_RANGES, SPLITS, MSADataset, Split
from msmix_core.errors import MsmixError


@dataclass(frozen=True)
class SyntheticConfig:
    """Every knob of the generative model (see the module docstring); defaults are the ``small`` preset."""

    n_train: int = 1284  #: samples per split: CMU-MOSI's standard split sizes
    n_valid: int = 229
    n_test: int = 686
    text_dim: int = 32  #: feature size per modality (MMSA's MOSI: 768 / 5 / 20)
    audio_dim: int = 16
    vision_dim: int = 16
    text_len: int = 16  #: time steps per modality (MMSA's aligned files: 50)
    audio_len: int = 16
    vision_len: int = 16
    min_valid_frac: float = 1.0  #: < 1 draws per-sample valid lengths in [ceil(frac·T), T] and sets *_lengths
    neutral_rate: float = 0.05  #: share of utterances whose latent sentiment is exactly 0
    n_annotators: int = 5  #: votes averaged into a label (CMU-MOSI had 5 annotators)
    label_noise: float = 0.65  #: std of each annotator's deviation from the latent sentiment
    text_strength: float = 2.0  #: amplitude of the sentiment in each modality's expressive steps:
    audio_strength: float = 0.4  #: text strong, audio and vision weak, as unimodal results on MOSI show
    vision_strength: float = 0.4
    expressive_frac: float = 0.3  #: share of valid steps that express the sentiment
    temporal_corr: float = 0.5  #: AR(1) coefficient of the frame noise across steps
    frame_noise: float = 1.0  #: std of the frame noise per dimension
    n_speakers: int = 93  #: speakers over all splits (CMU-MOSI: 93 videos)
    speaker_scale: float = 1.5  #: size of the speaker offsets, as a std per dimension
    n_topics: int = 8  #: topics shared by all speakers
    topic_scale: float = 1.0  #: size of the topic offsets, as a std per dimension
    utterance_scale: float = 0.5  #: size of the per-utterance offsets, as a std per dimension
    nuisance_rank: int = 8  #: directions spanned by the speaker, topic and utterance offsets (at most D - 1)
    conflict_rate: float = 0.1  #: share of polar utterances with one modality of opposite polarity
    conflict_modality_probs: tuple[float, float, float] = (1 / 3, 1 / 3, 1 / 3)  #: which modality flips

    def __post_init__(self) -> None:
        positive = ["n_train", "n_valid", "n_test", "text_len", "audio_len", "vision_len", "n_annotators"]
        positive += ["n_speakers", "n_topics", "nuisance_rank"]
        for name in positive:
            _check_int(self, name, 1)
        for m in MODALITIES:
            _check_int(self, f"{m}_dim", 2)
        rates = ["neutral_rate", "conflict_rate", "temporal_corr"]
        for name in rates:
            _check_range(self, name, 0.0, 1.0, closed_low=True)
        for name in ("min_valid_frac", "expressive_frac"):
            _check_range(self, name, 0.0, 1.0, closed_low=False)
        nonnegative = ["label_noise", "frame_noise", "speaker_scale", "topic_scale", "utterance_scale"]
        for name in nonnegative + [f"{m}_strength" for m in MODALITIES]:
            _check_range(self, name, 0.0, math.inf, closed_low=True)
        probs = self.conflict_modality_probs
        if (
            len(probs) != len(MODALITIES)
            or any(not isinstance(p, Real) or not p >= 0 for p in probs)
            or not math.isclose(sum(probs), 1.0, abs_tol=1e-6)
        ):
            raise MsmixError(
                f"SyntheticConfig.conflict_modality_probs must be 3 non-negative numbers (text, audio, vision) "
                f"summing to 1, got {probs!r}"
            )

    def dim(self, modality: str) -> int:
        return getattr(self, f"{modality}_dim")

    def length(self, modality: str) -> int:
        return getattr(self, f"{modality}_len")

    def strength(self, modality: str) -> float:
        return getattr(self, f"{modality}_strength")


def _check_int(config: SyntheticConfig, name: str, low: int) -> None:
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise MsmixError(f"SyntheticConfig.{name} must be an integer >= {low}, got {value!r}")


def _check_range(config: SyntheticConfig, name: str, low: float, high: float, closed_low: bool) -> None:
    value = getattr(config, name)
    ok = isinstance(value, Real) and not isinstance(value, bool) and value <= high
    ok = ok and (value >= low if closed_low else value > low)
    if not ok:
        bracket = "[" if closed_low else "("
        raise MsmixError(f"SyntheticConfig.{name} must be a number in {bracket}{low}, {high}], got {value!r}")


#: Named knob sets. ``small`` is the app's fast default. ``mosi`` has the feature sizes of MMSA's aligned
#: CMU-MOSI file; its 50 steps average away more frame noise, so audio and vision are made weaker to keep
#: unimodal probes near MOSI's (text about 0.7-0.85 correlation, audio and vision about 0.2-0.4).
PRESETS: dict[str, SyntheticConfig] = {
    "small": SyntheticConfig(),
    "mosi": SyntheticConfig(
        text_dim=768,
        audio_dim=5,
        vision_dim=20,
        text_len=50,
        audio_len=50,
        vision_len=50,
        audio_strength=0.25,
        vision_strength=0.25,
    ),
}

_TOPICS = (
    "the movie",
    "the plot",
    "the acting",
    "the ending",
    "the soundtrack",
    "the cast",
    "the dialogue",
    "the camera work",
)
_OPENERS = ("", "honestly ", "well ", "i think ", "um ", "so ")
# Templates by sentiment band (neutral, mild, strong) and sign; "{t}" is the topic.
_TEMPLATES = {
    ("neutral", 0): ("{t} was okay i guess", "i don't really have an opinion on {t}", "{t} was just average"),
    ("mild", 1): ("{t} was pretty good", "i kind of liked {t}", "{t} was better than i expected"),
    ("mild", -1): ("{t} was a bit boring", "i didn't really like {t}", "{t} was kind of disappointing"),
    ("strong", 1): ("{t} was absolutely amazing", "i loved {t} so much", "{t} was one of the best i have seen"),
    ("strong", -1): ("{t} was terrible", "i hated {t}", "{t} was a complete waste of time"),
}


def make_synthetic(preset: str = "small", seed: int = 0, **overrides) -> MSADataset:
    """Build the synthetic dataset of ``PRESETS[preset]`` with ``overrides`` applied (same seed, same bytes).

    ``overrides`` are :class:`SyntheticConfig` fields, e.g. ``make_synthetic(conflict_rate=0.3)``.
    """
    if preset not in PRESETS:
        raise MsmixError(f"unknown synthetic preset {preset!r}: use one of {sorted(PRESETS)}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise MsmixError(f"seed must be an integer >= 0, got {seed!r}")
    knobs = {f.name for f in dataclasses.fields(SyntheticConfig)}
    unknown = sorted(set(overrides) - knobs)
    if unknown:
        raise MsmixError(f"unknown synthetic knob(s) {unknown}: use fields of SyntheticConfig, {sorted(knobs)}")
    config = dataclasses.replace(PRESETS[preset], **overrides)
    rng = np.random.default_rng(seed)
    sizes = [config.n_train, config.n_valid, config.n_test]
    n = sum(sizes)

    speaker = _assign_speakers(config.n_speakers, sizes, rng)
    topic = rng.integers(config.n_topics, size=n)
    latent = _latent_sentiment(n, config.neutral_rate, rng)
    labels = _annotate(latent, config.n_annotators, config.label_noise, rng)
    conflict = (rng.random(n) < config.conflict_rate) & (latent != 0)
    probs = np.asarray(config.conflict_modality_probs, dtype=float)
    flipped = rng.choice(len(MODALITIES), size=n, p=probs / probs.sum())
    conflict_modality = np.where(conflict, flipped, -1).astype(np.int8)

    features, lengths, expressed = {}, {}, {}
    for index, m in enumerate(MODALITIES):
        expressed[m] = np.where(conflict_modality == index, -latent, latent).astype(np.float32)
        features[m], lengths[m] = _modality_features(config, m, expressed[m], speaker, topic, rng)
    raw_text = _transcripts(expressed["text"], topic, rng)
    first_clip = np.unique(speaker, return_index=True)[1]  # rows are grouped by speaker
    clip = np.arange(n) - first_clip[speaker]
    ids = np.array([f"synth_spk{k:02d}$_${c:04d}" for k, c in zip(speaker.tolist(), clip.tolist(), strict=True)])

    per_sample = {
        **{m: features[m] for m in MODALITIES},
        **{f"{m}_lengths": lengths[m] for m in MODALITIES},
        "labels": labels,
        "ids": ids,
        "raw_text": raw_text,
    }
    extras = {
        "conflict": conflict,
        "conflict_modality": conflict_modality,
        "speaker": speaker,
        **{f"sentiment_{m}": expressed[m] for m in MODALITIES},
    }
    splits, bounds = {}, np.cumsum([0, *sizes]).tolist()
    for name, (lo, hi) in zip(SPLITS, itertools.pairwise(bounds), strict=True):
        rows = slice(lo, hi)  # views: each split shares the generated arrays
        splits[name] = Split(
            **{k: None if v is None else v[rows] for k, v in per_sample.items()},
            extras={k: v[rows] for k, v in extras.items()},
        )
    settings = dataclasses.asdict(config) | {"conflict_modality_probs": list(config.conflict_modality_probs)}
    info = {"source": "synthetic", "preset": preset, "seed": int(seed), "config": settings}  # JSON values only
    return MSADataset(_name(preset, seed, config), splits, LABEL_RANGES["mosi"], metrics="mosi", info=info)


def _name(preset: str, seed: int, config: SyntheticConfig) -> str:
    """``synthetic:<preset>``, then the data seed and every knob that differs from the preset, so that
    runs on differently generated data never share a dataset name in the run store."""
    base = PRESETS[preset]
    changed = [f"seed={seed}"] if seed else []
    changed += [
        f"{f.name}={getattr(config, f.name)}"
        for f in dataclasses.fields(SyntheticConfig)
        if getattr(config, f.name) != getattr(base, f.name)
    ]
    return f"synthetic:{preset}" + (f" ({', '.join(changed)})" if changed else "")


def _assign_speakers(n_speakers: int, sizes: list[int], rng: np.random.Generator) -> np.ndarray:
    """The speaker (int64) of every row, speaker-independent across splits and grouped within each split.

    Speakers are shared out in proportion to split sizes, at least one per split and never more
    than the split's samples; every speaker of a split has at least one utterance.
    """
    total, first, speaker = sum(sizes), 0, []
    for size in sizes:
        k = min(size, max(1, round(n_speakers * size / total)))
        drawn = np.concatenate([np.arange(k), rng.integers(k, size=size - k)])
        speaker.append(np.sort(drawn) + first)
        first += k
    return np.concatenate(speaker).astype(np.int64)


def _latent_sentiment(n: int, neutral_rate: float, rng: np.random.Generator) -> np.ndarray:
    """Latent sentiment in [-3, 3]: exact 0 with ``neutral_rate``, else ``±3·Beta(2, 3)``."""
    sign = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    magnitude = 3.0 * rng.beta(2.0, 3.0, size=n)
    return np.where(rng.random(n) < neutral_rate, 0.0, sign * magnitude)


def _annotate(latent: np.ndarray, n_annotators: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    """Mean of integer votes on the 7-point scale [-3, 3], each the latent sentiment plus annotator noise."""
    votes = np.clip(np.rint(latent[:, None] + noise * rng.standard_normal((latent.size, n_annotators))), -3, 3)
    return votes.mean(axis=1).astype(np.float32)


def _modality_features(
    config: SyntheticConfig,
    modality: str,
    expressed: np.ndarray,
    speaker: np.ndarray,
    topic: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray | None]:
    """``[N, T, D]`` float32 features of one modality (see the module docstring) and its valid lengths."""
    n, steps, dim = expressed.size, config.length(modality), config.dim(modality)
    rank = min(config.nuisance_rank, dim - 1)
    basis = np.linalg.qr(rng.standard_normal((dim, rank + 1)))[0].astype(np.float32)
    direction, nuisance_basis = basis[:, 0], basis[:, 1:]

    def nuisance(count: int, scale: float) -> np.ndarray:
        # Norm about scale·√D, as if each of the D dimensions had std `scale`, but in `rank` directions.
        coords = rng.standard_normal((count, rank), dtype=np.float32)
        return np.float32(scale * math.sqrt(dim / rank)) * coords @ nuisance_basis.T

    static = (
        nuisance(int(speaker.max()) + 1, config.speaker_scale)[speaker]
        + nuisance(config.n_topics, config.topic_scale)[topic]
        + nuisance(n, config.utterance_scale)
    )
    if config.min_valid_frac < 1.0:
        shortest = math.ceil(config.min_valid_frac * steps)
        lengths = rng.integers(shortest, steps + 1, size=n).astype(np.int64)
    else:
        lengths = None
    valid = np.full(n, steps) if lengths is None else lengths
    width = np.maximum(1, np.rint(config.expressive_frac * valid)).astype(np.int64)
    start = (rng.random(n) * (valid - width + 1)).astype(np.int64)
    t = np.arange(steps)
    gate = (t >= start[:, None]) & (t < (start + width)[:, None])
    signal = np.where(gate, np.float32(config.strength(modality)) * expressed[:, None], np.float32(0.0))

    x = rng.standard_normal((n, steps, dim), dtype=np.float32)  # innovations, overwritten step by step
    rho, innovation = np.float32(config.temporal_corr), np.float32(math.sqrt(1.0 - config.temporal_corr**2))
    noise = x[:, 0].copy()
    for step in range(steps):  # stationary AR(1) noise with unit variance, then the other terms
        if step:
            noise *= rho
            noise += innovation * x[:, step]
        x[:, step] = np.float32(config.frame_noise) * noise + static + signal[:, step, None] * direction
    if lengths is not None:
        x[t >= lengths[:, None]] = 0.0  # zero padding after the valid steps, as in MMSA's files
    return x, lengths


def _transcripts(sentiment: np.ndarray, topic: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Template sentences about the topic whose wording follows the sentiment the text expresses."""
    strength = np.abs(sentiment)
    band = np.where(strength < 0.5, "neutral", np.where(strength < 1.5, "mild", "strong"))
    sign = np.where(band == "neutral", 0, np.sign(sentiment)).astype(int)
    picks = rng.random((sentiment.size, 2))
    sentences = []
    for b, s, c, (p_open, p_template) in zip(band.tolist(), sign.tolist(), topic.tolist(), picks, strict=True):
        templates = _TEMPLATES[(b, s)]
        template = templates[int(p_template * len(templates))]
        sentences.append(_OPENERS[int(p_open * len(_OPENERS))] + template.format(t=_TOPICS[c % len(_TOPICS)]))
    return np.array(sentences)
