"""The MS-Mix paper's figure style from docs/results.md's table: one polygon per method over the six backbones.

    .venv/bin/python bench/results_plot.py                                  # writes docs/results_polygons.svg
    .venv/bin/python bench/results_plot.py --metrics Non0_acc_2 Corr --out figure.svg

Reads the tables of docs/results.md with all the training videos (speaker split), takes each cell's mean, and
draws one radar panel per metric: an axis per backbone of the paper (TFN, LMF, MulT, MISA, ALMT, GLoMo),
a polygon per method, each value relative to the best method on that backbone (value / best; best / value
for MAE, where lower is better), so the best method of a backbone sits on the outer ring. A backbone
without runs of a method leaves a gap in that method's polygon. The SVG is written by hand (no plotting
library needed); colours are the app's Okabe-Ito palette (``none`` black, ``msmix`` vermillion).
"""

from __future__ import annotations

import argparse
import math
import sys
from html import escape
from pathlib import Path

from msmix_core.figures.palette import OKABE_ITO

ROOT = Path(__file__).resolve().parent.parent
BACKBONES = ("tfn", "lmf", "mult", "misa", "almt", "glomo")
NAMES = {"tfn": "TFN", "lmf": "LMF", "mult": "MulT", "misa": "MISA", "almt": "ALMT", "glomo": "GLoMo"}
METHODS = ("none", "mixup", "manifold", "cmixup", "multimix", "powmix", "msmix")
#: The baseline in black, MS-Mix in vermillion, the rivals in the palette's other colours.
COLOURS = dict(
    zip(
        METHODS,
        (OKABE_ITO[7], OKABE_ITO[1], OKABE_ITO[5], OKABE_ITO[2], OKABE_ITO[4], OKABE_ITO[0], OKABE_ITO[3]),
        strict=True,
    )
)
LOWER_IS_BETTER = {"MAE"}
TITLES = {
    "Non0_acc_2": "Acc-2 (Non0)",
    "Non0_F1_score": "F1 (Non0)",
    "Mult_acc_7": "Acc-7",
    "MAE": "MAE",
    "Corr": "Corr",
}
PANEL, RADIUS = 360, 130
#: The dataset of the tables with all the training videos (the 25 % tables are left out).
FULL = "mosi-utterance (speaker split)"


def read_table(markdown: str, dataset: str = FULL) -> dict[tuple[str, str], dict[str, float]]:
    """(backbone, method) -> metric -> mean, from every row of ``dataset`` in the tables with a ``backbone`` column."""
    rows: dict[tuple[str, str], dict[str, float]] = {}
    header: list[str] | None = None
    for line in markdown.splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = cells if {"dataset", "backbone", "label"} <= set(cells) else []
            continue
        if not header or set(line) <= set("|-: "):
            continue
        row = dict(zip(header, cells, strict=False))
        if row["dataset"] != dataset:
            continue
        rows[(row["backbone"], row["label"])] = {
            key: float(text.split("±")[0]) for key, text in row.items() if "±" in text
        }
    return rows


def relative(rows: dict[tuple[str, str], dict[str, float]], metric: str) -> dict[tuple[str, str], float]:
    """Each (backbone, method) value against the best method of its backbone: 1 for the best."""
    out = {}
    for backbone in BACKBONES:
        values = {m: rows[(backbone, m)][metric] for m in METHODS if metric in rows.get((backbone, m), {})}
        if not values:
            continue
        lower = metric in LOWER_IS_BETTER
        best = min(values.values()) if lower else max(values.values())
        for method, value in values.items():
            out[(backbone, method)] = best / value if lower else value / best
    return out


def _point(cx: float, cy: float, axis: int, fraction: float) -> tuple[float, float]:
    angle = -math.pi / 2 + 2 * math.pi * axis / len(BACKBONES)
    return cx + RADIUS * fraction * math.cos(angle), cy + RADIUS * fraction * math.sin(angle)


def panel(metric: str, values: dict[tuple[str, str], float], x0: float) -> list[str]:
    """One radar panel; the radius runs from the panel's lowest relative value (rounded down) to 1."""
    cx, cy = x0 + PANEL / 2, 40 + PANEL / 2
    low = math.floor(min(values.values(), default=0.9) * 50) / 50 if values else 0.9
    low = min(low, 0.98)

    def scale(v: float) -> float:
        return 0.1 + 0.9 * (v - low) / (1 - low)

    parts = [f'<text x="{cx}" y="30" class="title">{escape(TITLES.get(metric, metric))}, relative to the best</text>']
    for ring in (low, (low + 1) / 2, 1.0):
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in (_point(cx, cy, a, scale(ring)) for a in range(6)))
        parts.append(f'<polygon points="{points}" class="ring"/>')
        x, y = _point(cx, cy, 0, scale(ring))
        parts.append(f'<text x="{x + 4:.1f}" y="{y + 4:.1f}" class="tick">{ring:.3f}</text>')
    for a, backbone in enumerate(BACKBONES):
        x, y = _point(cx, cy, a, 1.0)
        parts.append(f'<line x1="{cx}" y1="{cy}" x2="{x:.1f}" y2="{y:.1f}" class="axis"/>')
        lx, ly = _point(cx, cy, a, 1.18)
        missing = "" if any(b == backbone for b, _ in values) else " (no runs)"
        parts.append(f'<text x="{lx:.1f}" y="{ly + 4:.1f}" class="label">{NAMES[backbone]}{missing}</text>')
    for method, colour in COLOURS.items():
        path, pen = [], "M"
        for a in [*range(6), 0]:
            value = values.get((BACKBONES[a], method))
            if value is None:
                pen = "M"
                continue
            x, y = _point(cx, cy, a, scale(value))
            path.append(f"{pen}{x:.1f},{y:.1f}")
            pen = "L"
            if a or len(path) == 1:  # one marker per vertex (the closing point repeats the first)
                parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}"/>')
        if path:
            parts.append(f'<path d="{" ".join(path)}" stroke="{colour}" class="method"/>')
    return parts


def figure(rows: dict[tuple[str, str], dict[str, float]], metrics: list[str]) -> str:
    """The SVG: one panel per metric, a legend of the methods below."""
    width, height = PANEL * len(metrics), PANEL + 90
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
        "<style>text{font-family:sans-serif;fill:#222}.title{font-size:14px;text-anchor:middle;font-weight:bold}"
        ".label{font-size:12px;text-anchor:middle}.tick{font-size:9px;fill:#777}.ring{fill:none;stroke:#ddd}"
        ".axis{stroke:#bbb}.method{fill:none;stroke-width:2;stroke-opacity:0.85}.legend{font-size:12px}</style>",
        f'<rect width="{width}" height="{height}" fill="white"/>',
    ]
    for i, metric in enumerate(metrics):
        parts += panel(metric, relative(rows, metric), i * PANEL)
    step = width / len(METHODS)
    for i, (method, colour) in enumerate(COLOURS.items()):
        x, y = i * step + 12, height - 24
        parts.append(f'<line x1="{x:.1f}" y1="{y}" x2="{x + 22:.1f}" y2="{y}" stroke="{colour}" stroke-width="3"/>')
        parts.append(f'<text x="{x + 28:.1f}" y="{y + 4}" class="legend">{method}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", type=Path, default=ROOT / "docs" / "results.md")
    parser.add_argument("--metrics", nargs="+", default=["Non0_acc_2", "MAE", "Corr"])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results_polygons.svg")
    args = parser.parse_args(argv)
    rows = read_table(args.table.read_text())
    args.out.write_text(figure(rows, args.metrics))
    print(f"wrote {args.out} ({len(rows)} backbone × method cells)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
