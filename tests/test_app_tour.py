"""AppTest of the guided tour: each step's numbers are the page's, Back/Next apply each step's presets."""

from dataclasses import replace
from pathlib import Path

import pytest
from helpers import app_test, live_data, metric, page, ran, set_delta
from streamlit.testing.v1 import AppTest

from msmix_core.data import find_mosi_folder
from ui import data, tours
from ui.settings import Settings

SMALL = Settings(n_train=128)


def check_home(at: AppTest, facts: dict) -> None:
    for split in ("train", "valid", "test"):
        assert metric(at, f"{split} samples") == str(facts[split])


def check_pairs(at: AppTest, facts: dict) -> None:
    reading = " ".join(i.value for i in at.info)
    assert f"keeps {facts['kept']} of the ordered pairs" in reading
    assert f"Of the pairs it draws, {facts['sass']} have opposite signs" in reading
    assert f"against {facts['random']} for random pairing" in reading
    assert f"the label-aware guard's {facts['guard']}" in reading


def check_ratios(at: AppTest, facts: dict) -> None:
    assert any(f"largest weight is {facts['flatness']}" in c.value for c in at.caption)


def check_embeddings(at: AppTest, facts: dict) -> None:
    assert metric(at, "From opposite sentiments: MS-Mix") == f"{facts['msmix']} of {facts['shown']}"
    assert metric(at, "From opposite sentiments: Manifold Mixup") == f"{facts['manifold']} of {facts['shown']}"


def check_neighbours(at: AppTest, facts: dict) -> None:
    reading = " ".join(m.value for m in at.markdown)
    assert facts["sentence"] in reading and f"**{facts['same']} of {facts['near']}** have a label of the same sign"


#: How the page shows each kind of number a step states.
CHECKS = {
    tours.home_facts: check_home,
    tours.pair_facts: check_pairs,
    tours.ratio_facts: check_ratios,
    tours.embedding_facts: check_embeddings,
    tours.neighbour_facts: check_neighbours,
}


def steps_with_numbers():
    for tour_id, tour in tours.TOURS.items():
        for number, step in enumerate(tour.steps, start=1):
            if step.facts is not None:
                marks = [pytest.mark.slow]
                if tour_id == "mosi":
                    marks.append(pytest.mark.skipif(find_mosi_folder() is None, reason="no CMU-MOSI utterance folder"))
                yield pytest.param(tour_id, number, id=f"{tour_id}-{number}", marks=marks)


@pytest.fixture
def no_umap_compile(monkeypatch):
    """The map is not what a step's numbers depend on: PCA stands in, and no compile thread competes."""
    from ui import warmup

    monkeypatch.setattr(warmup, "ready", lambda: False)
    monkeypatch.setattr(warmup, "start", lambda: None)


@pytest.mark.parametrize(("tour_id", "number"), list(steps_with_numbers()))
def test_every_number_a_step_states_is_the_one_its_page_shows(tour_id, number, no_umap_compile):
    step = tours.TOURS[tour_id].steps[number - 1]
    at = page(Path(step.page).stem, **tours.step_params(tour_id, number))
    settings = SMALL if tour_id == "synthetic" else replace(SMALL, source="mosi")  # the page's settings: its cache
    facts = step.facts(settings, data.dataset(settings), step.params)
    shown = [m.value for m in at.markdown]
    assert shown[0].startswith(f"**Tour on {tours.TOURS[tour_id].name} · step {number} of ")
    assert shown[1] == step.question.format(**facts)  # the banner states these numbers...
    CHECKS[step.facts](at, facts)  # ...and the page shows the same


def test_every_step_opens_a_page_of_the_app_and_only_steps_with_facts_have_placeholders():
    from ui.navigation import PAGES

    pages = {path for entries in PAGES.values() for path, *_ in entries}
    for tour in tours.TOURS.values():
        for step in tour.steps:
            assert step.page in pages
            if step.facts is None:
                assert "{" not in step.question + step.note


def app(path: str = "pages/home.py", **params: str) -> AppTest:
    """The whole app (its navigation, so that Back and Next can switch pages) on ``path`` with ``params``."""
    return ran(app_test(**{"n_train": "128", **params}).switch_page(path))


def banner_title(at: AppTest) -> str:
    return at.markdown[0].value


@pytest.mark.slow
def test_next_and_back_open_each_steps_page_with_its_presets_and_a_moved_control_stays(no_umap_compile):
    at = app("pages/pairs.py", **tours.step_params("synthetic", 3))  # Pair selection at δ 0.8, untrained
    assert "step 3 of" in banner_title(at) and live_data(at)["slider"]["value"] == 0.8
    assert at.radio(key="pairs_source").value == "untrained"
    set_delta(at, 0.6)  # a control moved during a step stays where the teacher put it
    assert live_data(at)["slider"]["value"] == 0.6 and "step 3 of" in banner_title(at)
    at.button(key="tour_next").click().run()
    assert "step 4 of" in banner_title(at) and at.radio(key="pairs_source").value == "trained"
    assert live_data(at)["slider"]["value"] == 0.8 and at.query_params["tour_step"] == "4"
    at.button(key="tour_back").click().run()
    assert "step 3 of" in banner_title(at) and at.radio(key="pairs_source").value == "untrained"
    assert live_data(at)["slider"]["value"] == 0.8  # the step's preset again, not the moved value
    at.button(key="tour_next").click().run()
    at.button(key="tour_next").click().run()
    assert "step 5 of" in banner_title(at) and "conflict flag" in banner_title(at)
    assert at.session_state["pair_filter_kinds"] == ["conflict"]  # Pair selection filtered to them
    assert at.query_params["pair_filter"] == "conflict"
    at.button(key="tour_leave").click().run()
    assert "tour" not in at.query_params and not any("Tour on" in m.value for m in at.markdown)


def test_a_step_sets_the_data_source_and_keeps_the_other_settings(no_umap_compile):
    at = app(**tours.step_params("synthetic", 1), data_seed="3")
    assert "step 1 of" in banner_title(at) and at.button(key="tour_back").disabled
    assert metric(at, "train samples") == "128" and at.sidebar.number_input(key="sb_data_seed").value == 3


def test_a_link_to_a_step_that_does_not_exist_says_so_and_opens_the_page():
    at = page("home", tour="synthetic", tour_step="99")
    assert any("names no tour step" in w.value for w in at.warning)
    at = page("home", tour="t" * 100_000)
    assert [len(w.value) < 300 for w in at.warning if "names no tour step" in w.value] == [True]
    assert not any("Tour on" in m.value for m in at.markdown)


def test_the_tour_page_lists_both_tours_and_starts_one():
    at = app("pages/tour.py")
    steps = " ".join(m.value for m in at.markdown)
    assert all(step.title in steps for step in tours.TOURS["synthetic"].steps)
    at.button(key="tour_start_synthetic").click().run()
    assert not at.exception and "step 1 of" in banner_title(at) and at.query_params["tour"] == "synthetic"
