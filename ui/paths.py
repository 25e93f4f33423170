"""The one gate for every path a visitor sends: URL values, typed paths, the names of uploaded files.

A served app must not let a visitor open or probe the server's files. With ``$MSMIX_DATA_DIRS``
set (folders separated by ``os.pathsep``) :func:`visitor_path` accepts only paths that resolve,
symbolic links followed, inside those folders (or the extra ``roots`` a page reads, such as the run
store): everything else gets the same line, :data:`REFUSED`, whether it exists or not, and so does
text that is no path at all (too long, a NUL byte, an unknown ``~user``, a symbolic-link loop),
which never raises. Unset (a local, single-user run), any real path passes; text that is no path
gets :data:`UNUSABLE`. No streamlit here: the pages call it, the tests call it directly.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from msmix_core.errors import MsmixError

#: Folders (``os.pathsep``-separated) that a served app may read; unset: any path (a local, single-user run).
DATA_DIRS_ENV = "MSMIX_DATA_DIRS"
#: The longest path (characters) and file or folder name the gate looks at (Linux's PATH_MAX and NAME_MAX).
MAX_PATH_CHARS = 4096
MAX_NAME_CHARS = 255
#: The one answer to a path outside the data folders, or to text that is no path, on a served app.
REFUSED = "this server only opens files in its data folders: choose a file there, or upload one in the sidebar"
#: The answer to text that is no path, on a local run.
UNUSABLE = (
    "that is not a path this machine can open (too long, a NUL byte, an unknown ~user or a symbolic-link loop): "
    "check it"
)


def data_dirs() -> list[Path]:
    """The data folders of ``$MSMIX_DATA_DIRS``, resolved; empty when unset (any path may be opened)."""
    folders = []
    for text in os.environ.get(DATA_DIRS_ENV, "").split(os.pathsep):
        if text.strip():
            try:
                folders.append(Path(text.strip()).expanduser().resolve())
            except (OSError, RuntimeError, ValueError):  # the operator's typo: that folder opens nothing
                continue
    return folders


def _is_path_text(text: object) -> bool:
    return (
        isinstance(text, str)
        and bool(text.strip())
        and len(text) <= MAX_PATH_CHARS
        and "\0" not in text
        and all(len(part) <= MAX_NAME_CHARS for part in text.split(os.sep))
    )


def restricted() -> bool:
    """Whether this server limits visitors to its data folders (``$MSMIX_DATA_DIRS`` is set)."""
    return bool(os.environ.get(DATA_DIRS_ENV, "").strip())


def shown(path: str | Path, root: str | Path) -> str:
    """How a server file or folder under ``root`` (the run store) is named to a visitor: its path relative to
    ``root`` on a served app (no server folder is shown), the whole path otherwise."""
    if not restricted():
        return str(path)
    relative = os.path.relpath(path, root)
    return "the run store" if relative == "." else relative


def visitor_path(text: str, roots: Iterable[str | Path] = ()) -> Path:
    """``text`` as a resolved path this server may open, or :class:`MsmixError` with one uniform line.

    ``roots``: folders besides ``$MSMIX_DATA_DIRS`` that the caller may read (e.g. the run store). Whether
    the file exists is for the caller to check, and only once the path has passed.
    """
    limited = restricted()
    try:
        if not _is_path_text(text):
            raise ValueError("not a path")
        path = Path(text.strip()).expanduser().resolve()
        if limited:
            allowed = data_dirs() + [Path(root).expanduser().resolve() for root in roots]
            if not any(path.is_relative_to(folder) for folder in allowed):
                raise ValueError("outside the data folders")
    except (OSError, RuntimeError, ValueError):  # RuntimeError: a symbolic-link loop or an unknown ~user
        raise MsmixError(REFUSED if limited else UNUSABLE) from None
    return path


def upload_name(name: str) -> str:
    """An uploaded file's name as the app may show and use it: the last part only (a browser may send a
    path), printable, and short; :class:`MsmixError` for a name that is none."""
    last = PurePosixPath(str(name).replace("\\", "/")).name if isinstance(name, str) else ""
    if last in ("", ".", "..") or len(last) > MAX_NAME_CHARS or not last.isprintable():
        raise MsmixError(
            "the uploaded file's name is not usable (empty, too long or with control characters): "
            "rename the file, e.g. features.npz, and upload it again"
        )
    return last
