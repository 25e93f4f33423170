"""The teaching tour (README, docs/app.md) as steps inside the app: one tour on the synthetic data, one on CMU-MOSI.

A step opens a page with preset settings (its URL values: the sidebar's and the page's own), and
shows its question and a short speaker note above the page, with Back and Next. The URL carries
the step (``tour``, ``tour_step``), so a link opens it. Every number a step's text states is a
placeholder filled by the step's ``facts``, computed with the same cached latents and library calls
as the page it opens (``tests/test_app_tour.py`` compares them with what the page shows), so the
text cannot drift from the view.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import streamlit as st

from msmix_core.analysis import (
    find_samples,
    kept_share,
    modality_similarity,
    nearest_neighbours,
    pair_statistics,
    pair_table,
    view_features,
)
from msmix_core.analysis.alignment import intensity_tracking
from msmix_core.data import MSADataset
from msmix_core.errors import brief
from ui import data, latents, maps, page_state
from ui import settings as settings_module
from ui.settings import Settings

#: URL keys of the step being shown.
TOUR_KEY, STEP_KEY = "tour", "tour_step"
#: The (tour, step) whose presets this session last applied: a control moved during a step stays moved.
APPLIED_KEY = "tour_applied"
#: The shown step's text with its numbers, and what it was computed for.
TEXT_KEY = "tour_text"

Facts = Callable[[Settings, MSADataset, dict[str, str]], dict[str, object]]


@dataclass(frozen=True)
class Step:
    """One stop of a tour: the page, its URL values, the question (with ``{placeholders}``) and a speaker note."""

    page: str
    title: str
    question: str
    note: str
    params: dict[str, str] = field(default_factory=dict)
    facts: Facts | None = None


@dataclass(frozen=True)
class Tour:
    name: str
    settings: dict[str, str]
    steps: tuple[Step, ...]


def _epochs(params: dict[str, str], key: str) -> int:
    return latents.TRAINED_EPOCHS if params[key] in ("trained", "true") else 0


def _batch(settings: Settings, ds: MSADataset, size: str, epochs: int):
    return latents.batch(settings, ds, int(size), epochs)


def home_facts(settings: Settings, ds: MSADataset, params: dict[str, str]) -> dict[str, object]:
    """The sizes Home shows."""
    sizes = ds.summary()["sizes"]
    return {"train": sizes["train"], "valid": sizes["valid"], "test": sizes["test"]}


def pair_facts(settings: Settings, ds: MSADataset, params: dict[str, str]) -> dict[str, object]:
    """What Pair selection reads out at the step's δ, batch and encoder: the share kept and two strategies' rates."""
    batch = _batch(settings, ds, params["pairs_batch"], _epochs(params, "pairs_source"))
    delta = float(params["pairs_delta"])
    _, share = kept_share(modality_similarity(batch)["averaged"], delta)
    stats = pair_statistics(batch, threshold=delta, seed=settings.seed).set_index("id")["contradictory_rate"]
    return {
        "delta": f"{delta:.2f}",
        "kept": f"{100 * share:.0f} %",
        "sass": f"{100 * stats['sass']:.0f} %",
        "random": f"{100 * stats['random']:.0f} %",
        "guard": f"{100 * stats['guard']:.0f} %",
    }


def ratio_facts(settings: Settings, ds: MSADataset, params: dict[str, str]) -> dict[str, object]:
    """The flatness of SAL's target that Mixing ratios states under its distributions."""
    batch = _batch(settings, ds, params["ratios_batch"], 0)
    return {"flatness": f"{intensity_tracking(batch)['flatness'].iloc[0]:.2f}×"}


def embedding_facts(settings: Settings, ds: MSADataset, params: dict[str, str]) -> dict[str, object]:
    """The Embeddings page's counts: each method's pairs of opposite sentiments among the points shown."""
    batch = _batch(settings, ds, params["emb_batch"], _epochs(params, "emb_source"))
    count = int(params["emb_mixed"])
    facts = {"shown": count}
    for name, result in maps.draws(batch, settings.seed, float(params.get("emb_delta", maps.DELTA))).items():
        table = pair_table(batch, result).iloc[:count]
        facts[maps.MIXERS[name][1]] = int(table["contradictory"].sum())
    return facts


def neighbour_facts(settings: Settings, ds: MSADataset, params: dict[str, str]) -> dict[str, object]:
    """The first sample the step's search finds, and how many of its nearest neighbours share its sign."""
    batch = _batch(settings, ds, params["emb_batch"], _epochs(params, "emb_source"))
    texts = np.asarray(ds.train.raw_text)[batch.index]
    ids = None if ds.train.ids is None else np.asarray(ds.train.ids)[batch.index]
    found = find_samples(params["emb_find"], ids, texts)
    picked = int(found[0])
    features = view_features(batch.latents, params["emb_view"])
    near, _ = nearest_neighbours(features, features[picked], 8, exclude=picked)
    same = int(np.sum(np.sign(batch.labels[near]) == np.sign(batch.labels[picked])))
    return {"hits": len(found), "sentence": texts[picked], "same": same, "near": len(near)}


def _with(facts: Facts, **extra: object) -> Facts:
    """``facts`` plus constant values (that are not numbers read from the page)."""
    return lambda settings, ds, params: {**facts(settings, ds, params), **extra}


PAIRS, RATIOS, EMBEDDINGS = "pages/pairs.py", "pages/ratios.py", "pages/embeddings.py"
PAIRS_DEFAULT = {"pairs_batch": "64", "pairs_delta": "0.4", "pairs_source": "untrained", "pairs_view": "averaged"}
EMB_OPENING = {
    "emb_projection": maps.OPENING["projection"],
    "emb_source": maps.OPENING["source"],
    "emb_batch": str(maps.OPENING["batch"]),
    "emb_view": maps.OPENING["view"],
    "emb_mixed": "64",
}
#: The Embeddings page's preset "The paper's picture", as URL values.
EMB_PAPER = {**EMB_OPENING, **{k: page_state.encode(v) for k, v in next(iter(maps.PRESETS.values()))[1].items()}}
LATER = (
    Step(
        "pages/training.py",
        "Training",
        "No mixing, Mixup (of the input features) and MS-Mix with the same seed, live: is the gap between the "
        "validation curves larger than the wiggle from epoch to epoch?",
        "Set a few epochs and press Run; the curves grow as each epoch ends. Stop keeps the run so far.",
    ),
    Step(
        "pages/ablation.py",
        "Ablation",
        "Full MS-Mix against MS-Mix without SASS, SIG or SAL, over a few seeds: which gap survives the paired test?",
        "With two or three seeds small gaps are rarely significant, and that is the lesson.",
    ),
    Step(
        "pages/sweeps.py",
        "Sweeps",
        "δ from 0.1 to 0.9 over two seeds: do the ±std bands around the paper's 0.2 and the release's 0.4 overlap?",
        "Then α or the learning rate: which knob moves the metric more than the seeds do?",
    ),
    Step(
        "pages/robustness.py",
        "Robustness",
        "Remove or noise one modality: which one does the model lean on?",
        "Text carries most of the synthetic sentiment: expect removing it to hurt most.",
    ),
)

TOURS: dict[str, Tour] = {
    "synthetic": Tour(
        "the synthetic data",
        {"source": "synthetic"},
        (
            Step(
                "pages/home.py",
                "The pipeline",
                "Encoders → SASS → SIG → mixed latents → head, with SAL: which part decides *which* samples are "
                "mixed, and which *how much* of each modality? The data: {train} training, {valid} validation and "
                "{test} test samples.",
                "Read the three sentences under the title; the picture is the whole method.",
                facts=home_facts,
            ),
            Step(
                PAIRS,
                "Random pairs contradict",
                "Random pairing (Manifold Mixup) mixes opposite sentiments in {random} of its pairs. What does a mixed "
                "label near 0 mean for features that express neither sentiment?",
                "Point at the bar chart: C-Mixup pairs by label distance; the label-aware guard ({guard}) is the "
                "floor.",
                PAIRS_DEFAULT,
                pair_facts,
            ),
            Step(
                PAIRS,
                "δ on an untrained encoder",
                "At δ = {delta} SASS keeps {kept} of the ordered pairs and mixes opposite sentiments in {sass} of its "
                "pairs, against {random} for random pairing. Is similarity of an untrained encoder a proxy for "
                "sentiment?",
                "Drag δ on the map: the veil spreads in the browser at once. The similarity is min-max scaled per "
                "batch, so even δ = 0.8 keeps some pairs.",
                {**PAIRS_DEFAULT, "pairs_delta": "0.8"},
                pair_facts,
            ),
            Step(
                PAIRS,
                "δ on a trained encoder",
                "After 3 epochs of MS-Mix, at δ = {delta}, SASS keeps {kept} of the pairs and mixes opposite "
                "sentiments in {sass} of them, against {random} for random pairing. Did similarity become a better "
                "proxy?",
                "Open the Text tab: text carries sentiment most strongly in the synthetic data.",
                {**PAIRS_DEFAULT, "pairs_delta": "0.8", "pairs_source": "trained"},
                pair_facts,
            ),
            Step(
                PAIRS,
                "A pair with a conflict flag",
                "Open a pair whose sample carries a modality-conflict flag: one modality contradicts the label "
                "(sarcasm-like). What can per-modality ratios do that one ratio cannot?",
                "The list is filtered to pairs with a conflict flag; the pair card names the contradicting modality.",
                {**PAIRS_DEFAULT, "pair_filter": "conflict"},
            ),
            Step(
                RATIOS,
                "SIG's ratios",
                "SIG's λ crowd around 0.5 against Beta(2, 2). Lower α to 0.3: Beta's mass moves to 0 and 1; where do "
                "SIG's ratios go? (SAL's target is flat: its largest weight is {flatness} the smallest.)",
                "Each SIG ratio is the mean of a Beta draw and an intensity share, so it stays away from the edges.",
                {"ratios_batch": "128", "ratios_trained": "true"},
                ratio_facts,
            ),
            Step(
                EMBEDDINGS,
                "Where mixed points land",
                "At the released δ = 0.4, of the first {shown} pairs Manifold Mixup joins opposite sentiments "
                "{manifold} times, MS-Mix {msmix} times. Where do the mixed points land among real samples of their "
                "colour?",
                "This is the trained encoder's map; switch to untrained to see a shapeless blob. Click a point to ring "
                "its neighbours.",
                EMB_OPENING,
                embedding_facts,
            ),
            Step(
                EMBEDDINGS,
                "The paper's picture",
                "Only the mixed points from opposite sentiments, joined to their sources: Manifold Mixup's {manifold} "
                "land between the negative and the positive samples, with labels near 0; MS-Mix drew {msmix} such "
                "pairs.",
                "t-SNE lays the mixed points out with the real ones, as the paper's figure does.",
                EMB_PAPER,
                embedding_facts,
            ),
            *LATER,
        ),
    ),
    "mosi": Tour(
        "real CMU-MOSI",
        {"source": "mosi"},
        (
            Step(
                "pages/home.py",
                "Real data",
                "CMU-MOSI: {train} training, {valid} validation and {test} test utterances of movie reviews, split by "
                "speaker. What makes real sentiment harder than the synthetic data?",
                "Real transcripts and official scores; the features are the utterance-level ones of Poria et al.",
                facts=home_facts,
            ),
            Step(
                PAIRS,
                "Random pairs on real data",
                "On real utterances random pairing mixes opposite sentiments in {random} of its pairs; an untrained "
                "SASS at δ = {delta} in {sass}.",
                "The same picture as on the synthetic data: an untrained encoder's similarity is noise.",
                PAIRS_DEFAULT,
                pair_facts,
            ),
            Step(
                PAIRS,
                "A trained encoder splits the map",
                "Trained for 3 epochs, at δ = {delta}: the map splits into a negative and a positive block, and SASS "
                "mixes opposite sentiments in {sass} of its pairs against {random} for random pairing.",
                "Order by label (the default) to see the two blocks; SASS keeps {kept} of the pairs.",
                {**PAIRS_DEFAULT, "pairs_delta": "0.8", "pairs_source": "trained"},
                pair_facts,
            ),
            Step(
                EMBEDDINGS,
                "Neighbours of a review",
                "“{sentence}”: {same} of its {near} nearest utterances in the trained latents have a label of the same "
                "sign. Do real neighbours share a sentiment?",
                "The search found {hits} sentence(s) with “terrible” in this batch; the first is picked and its "
                "neighbours are ringed in green.",
                {**EMB_OPENING, "emb_projection": "PCA", "emb_find": "terrible"},
                neighbour_facts,
            ),
            Step(
                EMBEDDINGS,
                "Mixed points on real data",
                "Of the first {shown} pairs, Manifold Mixup joins opposite sentiments {manifold} times, MS-Mix {msmix} "
                "times.",
                "The boundary picture on real data: t-SNE of the trained encoder, opposite-sentiment pairs only.",
                EMB_PAPER,
                embedding_facts,
            ),
            LATER[0],
        ),
    ),
}


def step_params(tour_id: str, number: int) -> dict[str, str]:
    """The URL of step ``number`` (1-based): the tour's settings, the step's page values and the tour keys."""
    tour = TOURS[tour_id]
    return {**tour.settings, **tour.steps[number - 1].params, TOUR_KEY: tour_id, STEP_KEY: str(number)}


def text(step: Step, settings: Settings, ds: MSADataset) -> tuple[str, str]:
    """The step's question and note with their numbers filled in from the view the step opens."""
    values = {} if step.facts is None else step.facts(settings, ds, step.params)
    return step.question.format(**values), step.note.format(**values)


def synthetic_maps() -> list[tuple[str, int, int, str, int, float]]:
    """The maps the synthetic tour's Embeddings steps open (``make setup`` computes them ahead of time)."""
    return [
        (
            p["emb_projection"],
            _epochs(p, "emb_source"),
            int(p["emb_batch"]),
            p["emb_view"],
            3 if p.get("emb_3d") == "true" else 2,
            float(p.get("emb_delta", maps.DELTA)),
        )
        for p in (s.params for s in TOURS["synthetic"].steps if s.page == EMBEDDINGS)
    ]


def synthetic_batches() -> list[tuple[int, int]]:
    """The (training epochs, batch size) of the synthetic tour's Pair selection and Mixing ratios steps."""
    found = []
    for step in TOURS["synthetic"].steps:
        p = step.params
        if "pairs_batch" in p:
            found.append((_epochs(p, "pairs_source"), int(p["pairs_batch"])))
        if "ratios_batch" in p:
            size = int(p["ratios_batch"])
            found.append((0, size))
            if p.get("ratios_trained") == "true":
                found.append((latents.TRAINED_EPOCHS, size))
    return list(dict.fromkeys(found))


def _apply(tour: Tour, step: Step) -> None:
    """Make the step's values this session's: its settings over the current ones, the page's from the URL."""
    settings_module.adopt({**tour.settings, **step.params}, forget=page_state.BOUND)  # widgets restart from them
    for key, value in step.params.items():
        st.query_params[key] = value


def banner() -> None:
    """When the URL names a tour step: apply its presets once, and show its question, note, Back and Next."""
    tour_id, number = st.query_params.get(TOUR_KEY), st.query_params.get(STEP_KEY, "1")
    if tour_id is None:
        return
    tour = TOURS.get(tour_id)
    if tour is None or not number.isdigit() or not 1 <= int(number) <= len(tour.steps):
        st.warning(
            f"This link names no tour step ({TOUR_KEY}={brief(tour_id)}, {STEP_KEY}={brief(number)}): "
            "the page opens as is."
        )
        return
    k = int(number)
    step = tour.steps[k - 1]
    if st.session_state.get(APPLIED_KEY) != (tour_id, k):
        _apply(tour, step)
        st.session_state[APPLIED_KEY] = (tour_id, k)
    current = settings_module.current()
    memo = (tour_id, k, latents.data_key(current))
    if st.session_state.get(TEXT_KEY, (None,))[0] != memo:  # computed once per step and data, not per rerun
        with data.user_errors():
            st.session_state[TEXT_KEY] = (memo, text(step, current, data.dataset(current)))
    question, note = st.session_state[TEXT_KEY][1]
    box = st.container(border=True, key="tour_banner")
    box.markdown(f"**Tour on {tour.name} · step {k} of {len(tour.steps)}: {step.title}**")
    box.markdown(question)
    box.caption(f"Speaker note: {note}")
    back, forward, leave = box.columns([1, 1, 4])
    if back.button("← Back", disabled=k == 1, key="tour_back"):
        st.switch_page(tour.steps[k - 2].page, query_params=step_params(tour_id, k - 1))
    if forward.button("Next →", disabled=k == len(tour.steps), key="tour_next", type="primary"):
        st.switch_page(tour.steps[k].page, query_params=step_params(tour_id, k + 1))
    if leave.button("Leave the tour", key="tour_leave"):
        del st.query_params[TOUR_KEY]
        del st.query_params[STEP_KEY]
        st.session_state.pop(APPLIED_KEY, None)
        st.rerun()
