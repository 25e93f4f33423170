"""The one exception type users see.

Every error caused by the user's input (a bad file, an unknown name, a knob out of range)
is raised as :class:`MsmixError` with a message that says what is wrong and how to fix it.
The command line prints that message on one line and exits non-zero; the app shows it with
``st.error``. Anything else that escapes is a bug.
"""

from __future__ import annotations

import re
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


#: Characters a terminal acts on rather than shows: C0 and C1 controls (escape sequences start with ESC or
#: CSI), DEL, and the marks that reorder or hide text (bidirectional overrides, zero-width characters).
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def printable(text: str) -> str:
    """``text`` safe to print on a terminal: every control or reordering character shown as an escape (``\\x1b``).

    For text that comes from files (a run store, a dataset): a name holding an escape sequence could
    otherwise rewrite the screen, hide lines or change the terminal's title.
    """
    return _UNPRINTABLE.sub(lambda match: ascii(match.group())[1:-1], text)


def brief(text: str, limit: int = 60) -> str:
    """``text`` quoted for a message that echoes what a user typed or linked: its repr, cut after ``limit``
    characters with the length named, so a 100,000-character URL value does not come back whole."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}… ({len(text):,} characters)"
