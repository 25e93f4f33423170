"""The one gate for visitors' paths (ui/paths.py): data folders, uniform refusals, text that is no path."""

from __future__ import annotations

import os

import pytest

from msmix_core.errors import MsmixError
from ui.paths import DATA_DIRS_ENV, REFUSED, UNUSABLE, data_dirs, upload_name, visitor_path

#: Text that is no usable path: each must be refused with the one line, never raise anything else.
NOT_PATHS = ["x" * 100_000, "a\0b", "~no_such_user_msmix/data.npz", "", "   ", "/tmp/" + "y" * 300 + "/f.npz"]


@pytest.fixture()
def served(tmp_path, monkeypatch):
    """A served app: one data folder with a file, a private folder beside it, and a symbolic-link loop inside."""
    data, private = tmp_path / "data", tmp_path / "private"
    data.mkdir()
    private.mkdir()
    (data / "ok.npz").write_bytes(b"")
    (private / "secret.npz").write_bytes(b"")
    (data / "loop_a").symlink_to(data / "loop_b")
    (data / "loop_b").symlink_to(data / "loop_a")
    (data / "escape.npz").symlink_to(private / "secret.npz")
    monkeypatch.setenv(DATA_DIRS_ENV, os.pathsep.join([str(data), "", "~no_such_user_msmix"]))
    return data, private


def _refusal(text: str, **kw) -> str:
    with pytest.raises(MsmixError) as caught:
        visitor_path(text, **kw)
    return str(caught.value)


def test_inside_the_data_folders_a_path_passes_resolved(served):
    data, _ = served
    assert data_dirs() == [data.resolve()]  # the unknown ~user folder opens nothing
    assert visitor_path(str(data / "ok.npz")) == (data / "ok.npz").resolve()
    assert visitor_path(str(data / "missing.npz")) == (data / "missing.npz").resolve()  # existence: the caller's


def test_outside_the_data_folders_every_path_gets_the_same_line_whether_it_exists_or_not(served):
    data, private = served
    probes = [
        "/etc/passwd",
        "/etc/nonexist",
        str(private / "secret.npz"),
        str(private / "nothing.npz"),
        str(data / ".." / "private" / "secret.npz"),  # climbing out
        str(data / "escape.npz"),  # a symbolic link inside that points outside
        str(data) + "2/x.npz",  # a sibling whose name starts the same
        str(data / "loop_a" / "x.npz"),  # a symbolic-link loop
        "relative.npz",
        *NOT_PATHS,
    ]
    assert {_refusal(text) for text in probes} == {REFUSED}


def test_extra_roots_open_only_what_the_page_reads(served, tmp_path):
    store = tmp_path / "runs"
    store.mkdir()
    assert visitor_path(str(store / "tune.db"), roots=[store]) == (store / "tune.db").resolve()
    assert _refusal(str(store / "tune.db")) == REFUSED


def test_a_local_run_opens_any_path_and_names_text_that_is_none(tmp_path, monkeypatch):
    monkeypatch.delenv(DATA_DIRS_ENV, raising=False)
    assert visitor_path("/etc/passwd") == __import__("pathlib").Path("/etc/passwd").resolve()
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    assert {_refusal(text) for text in [*NOT_PATHS, str(tmp_path / "a" / "x")]} == {UNUSABLE}


@pytest.mark.parametrize(
    ("sent", "kept"),
    [("features.npz", "features.npz"), ("../../etc/passwd.npz", "passwd.npz"), ("C:\\Users\\me\\f.pkl", "f.pkl")],
)
def test_an_upload_keeps_only_the_last_part_of_its_name(sent, kept):
    assert upload_name(sent) == kept


@pytest.mark.parametrize("sent", ["", "..", "a/..", "a\0b.npz", "x" * 300 + ".npz", "bad\nname.npz"])
def test_an_upload_name_that_is_none_is_refused_in_one_line(sent):
    with pytest.raises(MsmixError, match="rename the file"):
        upload_name(sent)
