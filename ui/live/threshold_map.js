// The Pair selection page's similarity map with its own δ slider (slider.js), drawn in the browser.
//
// A δ move redraws the veil and the counts here, at once; the server hears the new δ when the
// slider is released (or a key pressed) and sends back what needs the mixing code: the pairs SASS
// draws at that δ, the strategy statistics below the map. Counting follows the library exactly:
// a pair (a, b), a ≠ b, passes when its float32 similarity exceeds δ rounded to float32, as torch
// compares a float32 tensor with a Python float.

const LEVELS_PER_HALF = (palette) => palette.length / 6; // palette: [2·L, 3], colours then veiled colours

function decode(text, Type) {
  const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  return new Type(bytes.buffer);
}

/** Ordered pairs a ≠ b of a size × size float32 matrix that exceed δ, and how many have opposite labels. */
export function countPassing(similarity, labels, size, delta) {
  const threshold = Math.fround(delta);
  let kept = 0;
  let opposite = 0;
  for (let a = 0; a < size; a++) {
    const row = a * size;
    for (let b = 0; b < size; b++) {
      if (a !== b && similarity[row + b] > threshold) {
        kept++;
        if (labels[a] * labels[b] < 0) opposite++;
      }
    }
  }
  return { kept, opposite };
}

/** Ordered pairs a ≠ b whose labels have opposite signs. */
export function countOpposite(labels) {
  let opposite = 0;
  for (const la of labels) for (const lb of labels) if (la * lb < 0) opposite++;
  return opposite;
}

const percent = (part, whole) => (whole ? Math.round((100 * part) / whole) : 0);

/** The cell (row a, column b) under a point at fractions ``x``, ``y`` of the map, or null outside it. */
export function cellAt(x, y, size) {
  const b = Math.floor(x * size);
  const a = Math.floor(y * size);
  return a < 0 || b < 0 || a >= size || b >= size ? null : [a, b];
}
const signed = (x) => (x >= 0 ? "+" : "−") + Math.abs(x).toFixed(2);

function build(root) {
  root.insertAdjacentHTML("beforeend", `
    <div class="readout" aria-live="polite"><span class="kept"></span><span class="opposite"></span></div>
    <div class="title"></div>
    <div class="figure">
      <div class="ytitle"></div>
      <div class="plot">
        <canvas class="strip" title="each sample's label"></canvas>
        <div class="cells"><canvas class="map"></canvas><canvas class="marks"></canvas></div>
        <div class="xtitle"></div>
      </div>
      <div class="scale"><span>1</span><div class="bar"></div><span>0</span><small>similarity</small></div>
    </div>
    <div class="legend"><span class="veil"></span> fails δ: never mixed
      <span class="cross">×</span> <span class="pairs"></span></div>
    <div class="hover"></div>`);
  return {
    kept: root.querySelector(".kept"),
    opposite: root.querySelector(".opposite"),
    title: root.querySelector(".title"),
    strip: root.querySelector("canvas.strip"),
    cells: root.querySelector(".cells"),
    map: root.querySelector("canvas.map"),
    marks: root.querySelector("canvas.marks"),
    pairs: root.querySelector(".legend .pairs"),
    veil: root.querySelector(".legend .veil"),
    cross: root.querySelector(".legend .cross"),
    hover: root.querySelector(".hover"),
    bar: root.querySelector(".scale .bar"),
    xtitle: root.querySelector(".xtitle"),
    ytitle: root.querySelector(".ytitle"),
  };
}

/** The arrays of one batch and view, decoded once per digest (a δ move sends the same ones again). */
function arrays(view, data) {
  if (view.digest === data.digest) return view.arrays;
  const similarity = decode(data.similarity, Float32Array);
  view.digest = data.digest;
  view.arrays = {
    similarity,
    averaged: data.averaged === null ? similarity : decode(data.averaged, Float32Array),
    levels: decode(data.levels, Uint8Array),
    palette: decode(data.palette, Uint8Array),
    strip: decode(data.strip, Uint8Array),
    labels: Float32Array.from(data.labels),
  };
  view.arrays.opposite = countOpposite(view.arrays.labels);
  return view.arrays;
}

function drawStrip(canvas, strip, size) {
  canvas.width = size;
  canvas.height = 1;
  const image = canvas.getContext("2d").createImageData(size, 1);
  for (let i = 0; i < size; i++) image.data.set([strip[3 * i], strip[3 * i + 1], strip[3 * i + 2], 255], 4 * i);
  canvas.getContext("2d").putImageData(image, 0, 0);
}

function drawCells(canvas, a, size, delta) {
  canvas.width = size;
  canvas.height = size;
  const context = canvas.getContext("2d");
  const image = context.createImageData(size, size);
  const half = LEVELS_PER_HALF(a.palette);
  const threshold = Math.fround(delta);
  for (let i = 0; i < size * size; i++) {
    const passes = a.similarity[i] > threshold && i % (size + 1) !== 0;
    const colour = 3 * (a.levels[i] + (passes ? 0 : half));
    image.data.set([a.palette[colour], a.palette[colour + 1], a.palette[colour + 2], 255], 4 * i);
  }
  context.putImageData(image, 0, 0);
}

function drawMarks(canvas, pairs, size, colour, opened) {
  const side = canvas.clientWidth || 1;
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.round(side * ratio);
  canvas.height = Math.round(side * ratio);
  const context = canvas.getContext("2d");
  context.clearRect(0, 0, canvas.width, canvas.height);
  const cell = canvas.width / size;
  const arm = Math.max(2.5 * ratio, Math.min(4 * ratio, cell / 2));
  context.strokeStyle = colour;
  context.lineWidth = 1.5 * ratio;
  context.beginPath();
  for (const [a, b] of pairs) {
    const x = (b + 0.5) * cell;
    const y = (a + 0.5) * cell;
    context.moveTo(x - arm, y - arm);
    context.lineTo(x + arm, y + arm);
    context.moveTo(x + arm, y - arm);
    context.lineTo(x - arm, y + arm);
  }
  context.stroke();
  if (opened) {
    const [a, b] = opened; // the pair the page shows: a square round its cell
    const pad = Math.max(2 * ratio, cell / 2);
    context.strokeStyle = "#000";
    context.lineWidth = 2 * ratio;
    context.strokeRect(b * cell - pad, a * cell - pad, cell + 2 * pad, cell + 2 * pad);
  }
}

function scaleGradient(palette) {
  const half = LEVELS_PER_HALF(palette);
  const stops = [];
  for (let k = 0; k <= 8; k++) {
    const level = Math.round(((half - 1) * (8 - k)) / 8);
    stops.push(`rgb(${palette[3 * level]}, ${palette[3 * level + 1]}, ${palette[3 * level + 2]})`);
  }
  return `linear-gradient(${stops.join(", ")})`;
}

export default function thresholdMap(component) {
  const { data, parentElement, setStateValue, setTriggerValue } = component;
  const view = liveView(parentElement, "threshold-map");
  const delta = liveSlider(view, view.root, data.slider, setStateValue, (moved) => view.redraw(moved));
  view.parts ??= build(view.root);
  const parts = view.parts;
  const size = data.size;
  const a = arrays(view, data);
  const total = size * (size - 1);
  const serverDelta = data.slider.value;

  view.redraw = (shown) => {
    const { kept, opposite } = countPassing(a.averaged, a.labels, size, shown);
    showValue(view, data.slider, shown);
    parts.kept.dataset.kept = kept;
    parts.kept.dataset.delta = shown;
    parts.kept.innerHTML =
      `Pairs kept: <b>${percent(kept, total)}&nbsp;%</b> (${kept.toLocaleString("en")} of ` +
      `${total.toLocaleString("en")} ordered pairs a ≠ b)`;
    parts.opposite.textContent =
      ` · opposite signs among them: ${percent(opposite, kept)}\u00a0% (among all pairs: ${percent(a.opposite, total)}\u00a0%)`;
    const passing = a.similarity === a.averaged ? kept : countPassing(a.similarity, a.labels, size, shown).kept;
    parts.title.textContent =
      `${data.view} similarity, δ = ${shown.toFixed(2)}: ${percent(passing, total)}\u00a0% of pairs pass`;
    drawCells(parts.map, a, size, shown);
    const current = Math.abs(shown - serverDelta) < 1e-9;
    parts.marks.style.visibility = current ? "visible" : "hidden";
    parts.pairs.textContent = current
      ? `the ${data.pairs.length} pairs drawn at this δ`
      : `drawing the pairs for δ = ${shown.toFixed(2)}…`;
  };

  parts.kept.dataset.serverKept = data.server_kept;
  parts.kept.dataset.serverDelta = serverDelta;
  parts.xtitle.textContent = `sample b (${data.order_name})`;
  parts.ytitle.textContent = `sample a (${data.order_name})`;
  parts.bar.style.background = scaleGradient(a.palette);
  parts.veil.style.background = data.colours.veil;
  parts.cross.style.color = data.colours.pairs;
  drawStrip(parts.strip, a.strip, size);
  view.redraw(delta);
  const marks = () => drawMarks(parts.marks, data.pairs, size, data.colours.pairs, data.opened);
  requestAnimationFrame(marks); // after layout, when the canvas has its width
  view.resize?.disconnect();
  view.resize = new ResizeObserver(marks);
  view.resize.observe(parts.cells);

  const cellOf = (event) => {
    const box = parts.cells.getBoundingClientRect();
    return cellAt((event.clientX - box.left) / box.width, (event.clientY - box.top) / box.height, size);
  };
  parts.cells.onmousemove = (event) => {
    const cell = cellOf(event);
    if (!cell) return;
    const [i, b] = cell;
    const similarity = a.similarity[i * size + b];
    const passes = i !== b && similarity > Math.fround(Number(view.slider.input.value));
    parts.hover.textContent =
      `a: label ${signed(a.labels[i])} (train row ${data.rows[i]}) · b: label ${signed(a.labels[b])} ` +
      `(train row ${data.rows[b]}) · similarity ${similarity.toFixed(2)}: ${passes ? "passes" : "fails"} δ · ` +
      "click to open this pair";
  };
  parts.cells.onclick = (event) => {
    const cell = cellOf(event);
    if (cell && cell[0] !== cell[1]) setTriggerValue("cell", cell);
  };
  parts.cells.onmouseleave = () => (parts.hover.textContent = "");
  return () => view.resize?.disconnect();
}
