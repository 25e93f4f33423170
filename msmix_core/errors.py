"""The one exception type users see.

Every error caused by the user's input (a bad file, an unknown name, a knob out of range)
is raised as :class:`MsmixError` with a message that says what is wrong and how to fix it.
The command line prints that message on one line and exits non-zero; the app shows it with
``st.error``. Anything else that escapes is a bug.
"""

from __future__ import annotations

import re
import stat
from pathlib import Path


class MsmixError(ValueError):
    """A problem with the user's input, explained in the message."""


class MsmixWarning(UserWarning):
    """Something in the input that msmix works around but the user should know (the CLI prints it on one line)."""


#: What a path that is not a regular file is, by its ``stat`` type, in words.
FILE_KINDS = {stat.S_IFDIR: "a folder", stat.S_IFIFO: "a FIFO", stat.S_IFCHR: "a device", stat.S_IFBLK: "a device"}
FILE_KINDS |= {stat.S_IFSOCK: "a socket"}


def not_a_file(path: Path) -> str | None:
    """Why ``path`` cannot be read as a regular file, to follow its name ("is missing", "is a FIFO, not a file",
    "cannot be read (Too many levels of symbolic links)"); None when it can. A FIFO is named, never opened."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return "is missing"
    except (OSError, ValueError) as exc:  # a link loop, a name too long, no permission, a NUL in the name
        return f"cannot be read ({getattr(exc, 'strerror', None) or exc})"
    if stat.S_ISREG(mode):
        return None
    return f"is {FILE_KINDS.get(stat.S_IFMT(mode), 'not a file')}, not a file"


def require_file(path: str | Path, hint: str) -> Path:
    """``path`` as a Path when it names a regular file; else a MsmixError saying what it is (missing, a folder)."""
    path = Path(path)
    problem = not_a_file(path)
    if problem == "is missing":
        raise MsmixError(f"no such file: {path}: {hint}")
    if problem is not None:
        raise MsmixError(f"{path} {problem}: {hint}")
    return path


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (at most 200 characters), for one-line errors that quote it."""
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


#: Characters a terminal acts on rather than shows: C0 and C1 controls (escape sequences start with ESC or
#: CSI), DEL, and the marks that reorder or hide text (bidirectional overrides, zero-width characters).
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def first_unprintable(text: str, allow: str = "") -> str | None:
    """The first character of ``text`` that a terminal acts on rather than shows (see :func:`printable`), apart
    from those in ``allow``; None when there is none. For text a user gives to be stored and shown later."""
    return next((match.group() for match in _UNPRINTABLE.finditer(text) if match.group() not in allow), None)


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
