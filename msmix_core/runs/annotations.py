"""Tags and a free-text note per run, kept in the run's folder next to its record.

``tags.json`` (a JSON list of tags) and ``note.txt`` (UTF-8 text) are the user's, not the
trainer's: they can be written while a run trains, are replaced atomically
(:func:`~msmix_core.runs.files.atomic_write`) and are bounded in size, so a folder copied from
elsewhere cannot make a listing allocate without limit. A run without them has no tags and no note.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from msmix_core.errors import MsmixError, first_unprintable
from msmix_core.runs.files import atomic_write, loads_checked, read_regular, write_errors, write_json

TAGS_FILE, NOTE_FILE = "tags.json", "note.txt"
#: At most this many tags per run, each a word of at most TAG_LENGTH characters without spaces or commas
#: (a comma separates tags in tables and URLs).
MAX_TAGS, TAG_LENGTH = 32, 40
#: A note longer than this (in UTF-8 bytes) is refused when written, and not read back whole when found.
MAX_NOTE_BYTES = 16_384
#: The most bytes a tags file can need: JSON writes a character outside ASCII as up to 12 (a surrogate pair).
TAGS_FILE_LIMIT = MAX_TAGS * (TAG_LENGTH * 12 + 4) + 2
_TAG = re.compile(rf"[^\s,]{{1,{TAG_LENGTH}}}")


def _folder(path: Path) -> Path:
    if not path.is_dir():
        raise MsmixError(f"run {path.name!r} was deleted ({path} is gone): nothing to annotate")
    return path


def check_tag(tag: str) -> str:
    """``tag`` when it is one word of 1 to TAG_LENGTH printable characters without spaces or commas, else a
    MsmixError (a control character would act on the terminal or page that shows the tag)."""
    if not isinstance(tag, str) or not _TAG.fullmatch(tag) or not tag.isprintable():
        raise MsmixError(
            f"{tag!r:.80} is not a tag: use one word of 1 to {TAG_LENGTH} printable characters, no spaces or commas"
        )
    return tag


def read_tags(path: Path) -> list[str]:
    """The tags of the run in folder ``path`` (none when it has no tags file); a MsmixError when the file is damaged."""
    file = path / TAGS_FILE
    if not file.exists():
        return []
    tags = loads_checked(read_regular(file, TAGS_FILE_LIMIT), TAGS_FILE)
    if not isinstance(tags, list):
        raise MsmixError(f"{TAGS_FILE} holds a {type(tags).__name__} where a list belongs")
    for name in tags:
        check_tag(name)
    return tags


def set_tags(path: Path, tags: Iterable[str]) -> list[str]:
    """Give the run in ``path`` exactly ``tags`` (duplicates dropped, order kept); returns them."""
    tags = list(dict.fromkeys(check_tag(tag) for tag in tags))
    if len(tags) > MAX_TAGS:
        raise MsmixError(f"a run takes at most {MAX_TAGS} tags, got {len(tags)}: remove some")
    file = _folder(path) / TAGS_FILE
    with write_errors(f"write the tags of run {path.name}", path):
        if tags:
            write_json(file, tags, "run tags")
        else:
            file.unlink(missing_ok=True)
    return tags


def tag(path: Path, add: Iterable[str] = (), remove: Iterable[str] = ()) -> list[str]:
    """Add and remove tags of the run in ``path``; returns its tags after the change."""
    drop = {check_tag(name) for name in remove}
    return set_tags(path, [name for name in [*read_tags(path), *add] if name not in drop])


def read_note(path: Path) -> str:
    """The note of the run in folder ``path`` ('' when it has none); a MsmixError when it is not UTF-8 text."""
    file = path / NOTE_FILE
    if not file.exists():
        return ""
    data = read_regular(file, MAX_NOTE_BYTES)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise MsmixError(f"{NOTE_FILE} is not UTF-8 text: rewrite it with 'msmix runs note'") from None


def write_note(path: Path, text: str) -> str:
    """Replace the note of the run in ``path`` with ``text`` (stripped; empty removes the note); returns it."""
    if not isinstance(text, str):
        raise MsmixError(f"a note is text, got {type(text).__name__}")
    text = text.replace("\r\n", "\n")
    bad = first_unprintable(text, allow="\n\t")
    if bad is not None:
        raise MsmixError(f"a note cannot hold the control character {bad!a} (only line breaks and tabs): remove it")
    data = text.strip().encode("utf-8")
    if len(data) > MAX_NOTE_BYTES:
        raise MsmixError(f"a note takes at most {MAX_NOTE_BYTES} bytes of UTF-8 text, got {len(data)}: shorten it")
    file = _folder(path) / NOTE_FILE
    with write_errors(f"write the note of run {path.name}", path):
        if data:
            atomic_write(file, lambda handle: handle.write(data))
        else:
            file.unlink(missing_ok=True)
    return data.decode("utf-8")
