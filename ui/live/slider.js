// A slider drawn in the browser whose value the server follows; shared by the live components.
//
// Moving it calls the component's onMove at once (the component redraws itself); letting go, or a
// key press, sends the value to the server as the component's state "value". Until the server's
// data carries that value, the slider keeps showing the user's value, not the stale one.
//
// Play (as in TensorFlow Playground) moves the slider by itself from where it is to its end, one
// step of the slider at a time, redrawing as a drag does; pause, or the end, sends the value to the
// server as letting go does. At 1× the whole range takes PLAY_MS.

const PLAY_MS = 8000;
const SPEEDS = [0.5, 1, 2, 4];

/** Where play is ``elapsedMs`` after ``value`` at ``speed``: the whole range takes ``durationMs`` at 1×. */
function advance(spec, value, elapsedMs, speed, durationMs = PLAY_MS) {
  return Math.min(spec.max, value + ((spec.max - spec.min) * speed * elapsedMs) / durationMs);
}

/** ``value`` on the slider's steps, rounded to its decimals (what the slider itself can show). */
function snap(spec, value) {
  const steps = Math.round((value - spec.min) / spec.step);
  return Number(Math.min(spec.max, spec.min + steps * spec.step).toFixed(spec.decimals));
}

/** The values play shows from ``start`` at ``speed``, one animation frame every ``frameMs``: each step once. */
function playedValues(spec, start, speed, frameMs, durationMs = PLAY_MS) {
  const shown = [];
  let value = start >= spec.max ? spec.min : start;
  let last = snap(spec, value);
  while (last < spec.max) {
    value = advance(spec, value, frameMs, speed, durationMs);
    const next = snap(spec, value);
    if (next !== last) shown.push(next);
    last = next;
  }
  return shown;
}

/** The component's state across renders, kept on its host: ``root`` is its own element, of class ``className``. */
function liveView(parentElement, className) {
  if (!parentElement.__live) {
    const root = document.createElement("div"); // parentElement also holds the component's <style>: add to it
    root.className = className;
    parentElement.appendChild(root);
    parentElement.__live = { root };
  }
  return parentElement.__live;
}

function liveSlider(view, root, spec, setStateValue, onMove) {
  view.onMove = onMove;
  if (!view.slider) {
    const box = document.createElement("div");
    box.className = "control";
    box.innerHTML =
      `<label></label><output class="value"></output>` +
      `<button type="button" class="play" aria-label="Play" data-playing="false">▶ Play</button>` +
      `<select class="speed" aria-label="Speed" title="play speed">` +
      SPEEDS.map((x) => `<option value="${x}"${x === 1 ? " selected" : ""}>${x}×</option>`).join("") +
      `</select><input type="range">`;
    root.appendChild(box);
    const input = box.querySelector("input");
    const send = () => {
      view.sent = Number(input.value);
      view.setStateValue("value", view.sent);
    };
    input.addEventListener("input", () => {
      view.player.stop(false);
      view.onMove(Number(input.value));
    });
    input.addEventListener("change", send);
    view.slider = { input, label: box.querySelector("label"), output: box.querySelector("output") };
    view.player = player(view, box.querySelector(".play"), box.querySelector(".speed"), send);
    view.sent = null;
  }
  view.setStateValue = setStateValue;
  const { input, label } = view.slider;
  view.spec = spec;
  if (view.player.playing()) return Number(input.value); // a rerun while playing: play keeps the slider
  label.textContent = spec.label;
  input.setAttribute("aria-label", spec.label);
  input.title = spec.help;
  Object.assign(input, { min: spec.min, max: spec.max, step: spec.step });
  if (view.sent !== null && Math.abs(view.sent - spec.value) < 1e-9) view.sent = null; // the server caught up
  const shown = view.sent ?? spec.value;
  input.value = shown;
  return shown;
}

/** Play and pause for the slider of ``view``; ``send`` hands the value to the server when play stops. */
function player(view, button, speed, send) {
  const state = { frame: null, value: 0, time: 0 };
  const show = (playing) => {
    button.dataset.playing = String(playing);
    button.textContent = playing ? "⏸ Pause" : "▶ Play";
    button.setAttribute("aria-label", playing ? "Pause" : "Play");
  };
  const tick = (now) => {
    const spec = view.spec;
    state.value = advance(spec, state.value, now - state.time, Number(speed.value));
    state.time = now;
    const shown = snap(spec, state.value);
    if (shown !== Number(view.slider.input.value)) {
      view.slider.input.value = shown;
      view.onMove(shown);
      view.root.dataset.frames = Number(view.root.dataset.frames ?? 0) + 1;
    }
    if (shown >= spec.max) stop(true);
    else state.frame = requestAnimationFrame(tick);
  };
  const stop = (sendValue) => {
    if (state.frame === null) return;
    cancelAnimationFrame(state.frame);
    state.frame = null;
    show(false);
    if (sendValue) send();
  };
  const start = () => {
    const spec = view.spec;
    const from = Number(view.slider.input.value);
    state.value = from >= spec.max ? spec.min : from;
    state.time = performance.now();
    show(true);
    if (state.value !== from) {
      view.slider.input.value = snap(spec, state.value);
      view.onMove(snap(spec, state.value));
    }
    state.frame = requestAnimationFrame(tick);
  };
  button.addEventListener("click", () => (state.frame === null ? start() : stop(true)));
  return { stop, playing: () => state.frame !== null };
}

/** Show ``value`` as the slider's readout, with the slider's decimals. */
function showValue(view, spec, value) {
  view.slider.output.textContent = value.toFixed(spec.decimals);
}
