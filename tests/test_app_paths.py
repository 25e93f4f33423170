"""AppTest of the paths a visitor sends (URL values and typed text): one gate, one answer, never a traceback."""

from __future__ import annotations

import os

import optuna
import pytest
from helpers import page
from test_paths import NOT_PATHS

from ui.paths import DATA_DIRS_ENV, REFUSED, UNUSABLE


def _errors(at) -> list[str]:
    return [e.value for e in [*at.error, *at.sidebar.error]]


@pytest.fixture()
def served(tmp_path, monkeypatch):
    """A served app: data folders set, a run store with an Optuna study, a symbolic-link loop in the data."""
    data, runs = tmp_path / "data", tmp_path / "runs"
    data.mkdir()
    runs.mkdir()
    (data / "a").symlink_to(data / "b")
    (data / "b").symlink_to(data / "a")
    monkeypatch.setenv(DATA_DIRS_ENV, str(data))
    monkeypatch.setenv("MSMIX_RUNS_DIR", str(runs))
    return data, runs


def _probes(data) -> list[str]:
    return [
        "/etc/passwd",
        "/etc/nonexist",
        str(data / "a" / "x.db"),
        "~root/x.db",
        *[p for p in NOT_PATHS if p.strip()],
    ]


@pytest.mark.slow
def test_sweeps_study_links_outside_the_data_folders_all_get_one_line(served):
    data, _ = served
    for probe in _probes(data):
        at = page("sweeps", sw_study=probe)
        assert _errors(at) == [f"**{REFUSED}**"], probe  # nothing tells /etc/passwd from a file that is not there


@pytest.mark.slow
def test_a_study_in_the_run_store_still_opens_on_a_served_app(served):
    _, runs = served
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(storage=f"sqlite:///{runs / 'tune.db'}", study_name="class-study")
    study.optimize(lambda t: t.suggest_float("threshold", 0, 1), 2)
    at = page("sweeps", sw_study=str(runs / "tune.db"))
    assert not _errors(at) and any("class-study" in m.value for m in at.markdown)


@pytest.mark.slow
def test_data_sources_and_mosi_folders_from_links_get_one_line_served_or_local(served, monkeypatch):
    data, _ = served
    for probe in _probes(data):
        assert _errors(page("home", source=probe)) == [f"**{REFUSED}**"], probe[:40]
    mosi = page("home", source="mosi", mosi_dir="/etc")  # does /etc hold transcripts.csv? not for a visitor to learn
    assert set(_errors(mosi)) == {f"**{REFUSED}**", REFUSED} and not any(
        "Reading" in c.value for c in mosi.sidebar.caption
    )
    monkeypatch.delenv(DATA_DIRS_ENV)
    for probe in [p for p in NOT_PATHS if p.strip()]:
        assert _errors(page("home", source=probe)) == [f"**{UNUSABLE}**"], probe[:40]
    assert os.path.exists("/etc/passwd")  # a local run reads any real path: the usual answers
    assert "is not an MMSA" in " ".join(_errors(page("home", source="/etc/passwd")))


@pytest.mark.slow
def test_a_served_app_names_no_server_folder_of_the_run_store(served):
    _, runs = served
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    (runs / "studies").mkdir()
    optuna.create_study(storage=f"sqlite:///{runs / 'studies' / 'tune.db'}", study_name="s")
    (runs / "broken-run").mkdir()
    (runs / "broken-run" / "config.json").mkdir()  # a damaged run folder, named in a warning
    for name in ("sweeps", "training", "runs"):
        at = page(name)
        shown = " ".join(
            str(getattr(e, "value", "")) for e in [*at.error, *at.caption, *at.info, *at.markdown, *at.warning]
        )
        assert "broken-run" in shown and str(runs) not in shown, name  # the folder is named, the server's path is not
        if name == "sweeps":
            assert at.selectbox(key="sw_study_file").options == ["studies/tune.db"]
