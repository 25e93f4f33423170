// The Mixing ratios page's λ histograms with their own α slider (slider.js), drawn in the browser.
//
// The server sends, for every α the slider reaches, each ratio's histogram (as a density) and the
// Beta(α, α) density; an α move picks that frame and redraws the bars and the curve at once. The
// per-pair table below follows from the server when the slider is released (or a key pressed).

const SVG = "http://www.w3.org/2000/svg";
const PANEL = { width: 230, height: 240, left: 44, right: 8, top: 26, bottom: 40 };

function svg(tag, attributes = {}, parent = null) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (parent) parent.appendChild(node);
  return node;
}

/** The frame of the α nearest to ``alpha`` (the grid holds every slider step, and the server's α). */
export function nearestFrame(alphas, alpha) {
  let best = 0;
  alphas.forEach((a, i) => {
    if (Math.abs(a - alpha) < Math.abs(alphas[best] - alpha)) best = i;
  });
  return best;
}

function build(root, data) {
  const width = PANEL.width * data.keys.length;
  const figure = svg("svg", { viewBox: `0 0 ${width} ${PANEL.height}`, role: "img", class: "panels" }, root);
  const panels = data.keys.map((key, column) => {
    const g = svg("g", { transform: `translate(${column * PANEL.width}, 0)` }, figure);
    const inner = { w: PANEL.width - PANEL.left - PANEL.right, h: PANEL.height - PANEL.top - PANEL.bottom };
    svg("text", { x: PANEL.left + inner.w / 2, y: 17, class: "panel-title" }, g).textContent = `λ_${key}`;
    const plot = svg("g", { transform: `translate(${PANEL.left}, ${PANEL.top})` }, g);
    svg("line", { x1: 0, y1: inner.h, x2: inner.w, y2: inner.h, class: "axis" }, plot);
    for (const tick of [0, 0.5, 1]) {
      svg("text", { x: tick * inner.w, y: inner.h + 15, class: "tick" }, plot).textContent = String(tick);
    }
    if (column === 0) {
      const middle = inner.h / 2;
      svg("text", { x: -34, y: middle, class: "y-title", transform: `rotate(-90, -34, ${middle})` }, plot).textContent =
        "density";
    }
    svg("text", { x: inner.w / 2, y: inner.h + 32, class: "axis-title" }, plot).textContent =
      "ratio of source a (0–1)";
    const bars = Array.from({ length: data.bins }, () => svg("rect", { class: "bar" }, plot));
    const curve = svg("path", { class: "curve" }, plot);
    const ticks = [0, 1, 2].map(() => svg("text", { x: -4, class: "ytick" }, plot));
    return { inner, bars, curve, ticks };
  });
  const legend = document.createElement("div");
  legend.className = "legend";
  legend.innerHTML = `<span class="swatch"></span> MS-Mix ratios <span class="line"></span> <span class="beta"></span>`;
  root.appendChild(legend);
  return { panels, beta: legend.querySelector(".beta") };
}

function draw(parts, data, index) {
  const hist = data.hist[index];
  const beta = data.beta[index];
  const top = Math.max(...hist.flat(), ...beta) * 1.05 || 1;
  parts.panels.forEach((panel, column) => {
    const { w, h } = panel.inner;
    const y = (density) => h - (Math.min(density, top) / top) * h;
    panel.bars.forEach((bar, b) => {
      const x0 = (b / data.bins) * w;
      bar.setAttribute("x", x0 + 0.5);
      bar.setAttribute("width", Math.max(w / data.bins - 1, 0.5));
      bar.setAttribute("y", y(hist[column][b]));
      bar.setAttribute("height", h - y(hist[column][b]));
    });
    panel.curve.setAttribute("d", beta.map((d, i) => `${i ? "L" : "M"}${data.beta_x[i] * w},${y(d)}`).join(""));
    panel.ticks.forEach((tick, t) => {
      const value = (top * t) / 2;
      tick.setAttribute("y", y(value) + 4);
      tick.textContent = column === 0 ? value.toFixed(value < 10 ? 1 : 0) : "";
    });
  });
}

export default function ratioHistograms(component) {
  const { data, parentElement, setStateValue } = component;
  const view = liveView(parentElement, "ratio-histograms");
  const redraw = (alpha) => {
    const index = nearestFrame(data.alphas, alpha);
    const shown = data.alphas[index];
    showValue(view, data.slider, shown);
    draw(view.parts, data, index);
    view.parts.beta.textContent = `Beta(${shown}, ${shown}) (Manifold Mixup)`;
    view.parts.beta.dataset.alpha = shown;
  };
  const alpha = liveSlider(view, view.root, data.slider, setStateValue, redraw);
  view.parts ??= build(view.root, data); // the panels are the same every run: the ratios of KEYS
  view.root.style.setProperty("--bars", data.colours.bars);
  view.root.style.setProperty("--line", data.colours.line);
  view.parts.beta.dataset.serverAlpha = data.slider.value;
  redraw(alpha);
}
