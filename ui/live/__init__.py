"""Controls drawn in the browser, so a slider move answers at once (Streamlit components v2).

A Streamlit slider waits for a server round trip and a Plotly redraw on every move. A live
component holds what its slider can show (the batch's similarities, the ratios at every α) and
redraws itself while the slider moves; the server hears the value when the slider is released or a
key pressed, and answers with what needs the library (pairs, tables, statistics). The value lives in
``st.session_state[key]`` like a widget's, so :mod:`ui.page_state` keeps it in the URL.

Each component is ``<name>.js`` and ``<name>.css`` here, after the shared slider (``slider.js``,
``slider.css``).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

import numpy as np
import streamlit as st

HERE = Path(__file__).parent


@dataclass(frozen=True)
class SliderSpec:
    """The browser slider: its label (also its accessible name), range, step and the value to show."""

    label: str
    low: float
    high: float
    step: float
    value: float
    decimals: int
    help: str = ""

    def to_data(self) -> dict:
        spec = asdict(self)
        return {**spec, "min": spec.pop("low"), "max": spec.pop("high")}


@cache
def assets(name: str) -> tuple[str, str]:
    """The component's JavaScript and CSS, each after the shared slider's."""
    read = lambda suffix: "\n".join((HERE / f"{part}.{suffix}").read_text() for part in ("slider", name))  # noqa: E731
    return read("js"), read("css")


def b64(array: np.ndarray) -> str:
    """An array's bytes as base64 text: a typed array in the browser, a fraction of the size of a JSON list."""
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def accepted(value: object, slider: dict) -> float | None:
    """The browser's value as a number within the slider's range, or None (anything else is ignored:
    the value comes over the network)."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and slider["min"] <= number <= slider["max"] else None


def mount(name: str, key: str, data: dict, events: dict[str, Callable[[object], None]] | None = None) -> None:
    """Mount the live component ``name`` with ``data`` (its slider spec under ``"slider"``).

    A value the user sets lands in ``st.session_state[key]`` before the run it starts. ``events``:
    a trigger the component sends (``setTriggerValue(name, value)``, e.g. a clicked cell) -> the
    callback that gets its value, before the run it starts.
    """
    js, css = assets(name)
    component = st.components.v2.component(f"msmix.{name}", js=js, css=css)  # same definition each run: no warning
    component_key = f"{key}_live"

    def follow() -> None:
        value = accepted(st.session_state[component_key].get("value"), data["slider"])
        if value is not None:
            st.session_state[key] = value

    def relay(event: str, callback: Callable[[object], None]) -> Callable[[], None]:
        return lambda: callback(st.session_state[component_key].get(event))

    callbacks = {f"on_{event}_change": relay(event, callback) for event, callback in (events or {}).items()}
    component(
        key=component_key, data=data, default={"value": data["slider"]["value"]}, on_value_change=follow, **callbacks
    )
