"""The one exception type users see.

Every error caused by the user's input (a bad file, an unknown name, a knob out of range)
is raised as :class:`MsmixError` with a message that says what is wrong and how to fix it.
The command line prints that message on one line and exits non-zero; the app shows it with
``st.error``. Anything else that escapes is a bug.
"""

from __future__ import annotations

from pathlib import Path


class MsmixError(ValueError):
    """A problem with the user's input, explained in the message."""


class MsmixWarning(UserWarning):
    """Something in the input that msmix works around but the user should know (the CLI prints it on one line)."""


def require_file(path: str | Path, hint: str) -> Path:
    """``path`` as a Path when it names a file; else a MsmixError saying whether it is missing or a folder."""
    path = Path(path)
    if path.is_dir():
        raise MsmixError(f"{path} is a folder, not a file: {hint}")
    if not path.is_file():
        raise MsmixError(f"no such file: {path}: {hint}")
    return path


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (at most 200 characters), for one-line errors that quote it."""
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__
