"""A page's own controls in the URL, next to the sidebar's: a copied link reproduces the whole view.

A page calls :func:`bind` right before it draws a keyed widget: on the first run of a session
the widget starts from the URL's value when that value is valid (else from the page's default),
and every later change is mirrored back into the URL (a value equal to the
default is left out, so plain links stay short). Values are parsed by a :data:`Parser`; anything
it refuses (a typo, a number out of range, an option that does not exist) falls back to the
default, as the sidebar's settings do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import streamlit as st

#: Text from the URL -> the widget's value, or None when the text is not a valid value.
Parser = Callable[[str], Any]

#: Separator of the items of a multiselect in the URL.
SEPARATOR = ","

#: Every widget key :func:`bind` or :func:`bind_group` was called with in this server process (a tour step
#: resets them to its URL).
BOUND: set[str] = set()


def choice(options: Sequence[Any]) -> Parser:
    """The option whose text is the URL's text (options may be numbers, shown as text in the URL)."""
    by_text = {encode(option): option for option in options}
    return by_text.get


def number(low: float, high: float, kind: type = float) -> Parser:
    """A number of type ``kind`` within ``[low, high]``."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            return None
        return value if low <= value <= high else None

    return parse


def interval(low: float, high: float) -> Parser:
    """Two comma-separated numbers ``a,b`` with ``low <= a <= b <= high`` (a range slider)."""
    inside = number(low, high)

    def parse(text: str) -> tuple[float, float] | None:
        ends = [inside(item) for item in text.split(SEPARATOR)]
        if len(ends) != 2 or None in ends or ends[0] > ends[1]:
            return None
        return ends[0], ends[1]

    return parse


def flag(text: str) -> bool | None:
    """``"true"``/``"false"`` (a toggle or checkbox)."""
    return {"true": True, "false": False}.get(text.lower())


def subset(options: Sequence[Any]) -> Parser:
    """Some of ``options``, comma-separated (an empty text is the empty choice); any unknown item refuses all."""
    by_text = {encode(option): option for option in options}

    def parse(text: str) -> list[Any] | None:
        items = [item for item in text.split(SEPARATOR) if item]
        return [by_text[item] for item in items] if all(item in by_text for item in items) else None

    return parse


def encode(value: Any) -> str:
    """A widget value as URL text: booleans lower case, numbers without trailing zeros, lists comma-joined."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return SEPARATOR.join(encode(item) for item in value)
    return str(value)


def _restore(key: str, default: Any, parse: Parser) -> None:
    """Give the widget ``key`` its start value once per session: the URL's (when ``parse`` accepts it) or ``default``.

    Call it before the widget is drawn, and draw the widget without its own default value.
    """
    if key in st.session_state:
        return
    text = st.query_params.get(key)
    value = None if text is None else parse(text)
    st.session_state[key] = default if value is None else value


def _publish(key: str, default: Any) -> None:
    """Mirror the widget ``key``'s value in the URL; a value equal to ``default`` is removed from it."""
    value = st.session_state.get(key, default)
    if encode(value) == encode(default):
        if key in st.query_params:
            del st.query_params[key]
    elif st.query_params.get(key) != encode(value):
        st.query_params[key] = encode(value)


def bind(key: str, default: Any, parse: Parser) -> str:
    """Start the widget ``key`` from the URL once, mirror its value in the URL; returns ``key`` for the widget call.

    Call it right before drawing the widget, and draw the widget without a default of its own (its
    value lives in ``st.session_state[key]``). By then a changed widget's new value is in the session
    state already, so the URL follows every change.
    """
    BOUND.add(key)
    _restore(key, default, parse)
    _publish(key, default)
    return key


def bind_group(
    key: str, defaults: dict[str, Any], parse: Callable[[str], dict[str, Any] | None], join: Callable[..., str]
) -> None:
    """Several widgets (the keys of ``defaults``) kept in one URL parameter ``key``, e.g. a filter's parts.

    ``parse`` turns the URL's text into the widgets' values (None when the text is not valid: the
    defaults then); ``join`` (called with the values as keywords) makes the text. Call it before
    drawing the widgets, which take no defaults of their own; a text equal to the defaults' is left out.
    """
    BOUND.update(defaults)
    if any(name not in st.session_state for name in defaults):
        text = st.query_params.get(key)
        start = (None if text is None else parse(text)) or defaults
        for name in defaults:
            st.session_state.setdefault(name, start[name])
    text = join(**{name: st.session_state[name] for name in defaults})
    if text == join(**defaults):
        if key in st.query_params:
            del st.query_params[key]
    elif st.query_params.get(key) != text:
        st.query_params[key] = text
