// A slider drawn in the browser whose value the server follows; shared by the live components.
//
// Moving it calls the component's onMove at once (the component redraws itself); letting go, or a
// key press, sends the value to the server as the component's state "value". Until the server's
// data carries that value, the slider keeps showing the user's value, not the stale one.

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
    box.innerHTML = `<label></label><output class="value"></output><input type="range">`;
    root.appendChild(box);
    const input = box.querySelector("input");
    input.addEventListener("input", () => view.onMove(Number(input.value)));
    input.addEventListener("change", () => {
      view.sent = Number(input.value);
      setStateValue("value", view.sent);
    });
    view.slider = { input, label: box.querySelector("label"), output: box.querySelector("output") };
    view.sent = null;
  }
  const { input, label } = view.slider;
  label.textContent = spec.label;
  input.setAttribute("aria-label", spec.label);
  input.title = spec.help;
  Object.assign(input, { min: spec.min, max: spec.max, step: spec.step });
  if (view.sent !== null && Math.abs(view.sent - spec.value) < 1e-9) view.sent = null; // the server caught up
  const shown = view.sent ?? spec.value;
  input.value = shown;
  return shown;
}

/** Show ``value`` as the slider's readout, with the slider's decimals. */
function showValue(view, spec, value) {
  view.slider.output.textContent = value.toFixed(spec.decimals);
}
