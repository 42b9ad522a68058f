"""Inline SVG line charts for per-round metrics of federated runs (no JavaScript, no build step).

Each series is a list of (x, y) points, e.g. (round, loss). Axes get "nice" ticks; every point
carries a <title> so hovering shows its exact value; a legend names the series.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

PALETTE = ["#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#bf3989", "#0a7a8a"]


def nice_ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (steps of 1, 2 or 5 times a power of ten)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0, 1.0]
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / max(target, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks = []
    v = start
    while v <= hi + step * 1e-9:
        ticks.append(round(v, 12))
        v += step
    if ticks[-1] < hi:
        ticks.append(round(ticks[-1] + step, 12))
    return ticks


def _fmt(v: float) -> str:
    if v == int(v) and abs(v) < 1e6:
        return str(int(v))
    if abs(v) >= 1000 or abs(v) < 0.01:
        return f"{v:.3g}"
    return f"{v:.3f}".rstrip("0").rstrip(".")


def line_chart_svg(
    series: Mapping[str, Sequence[tuple[float, float]]],
    *,
    title: str,
    x_label: str = "round",
    y_label: str = "",
    width: int = 460,
    height: int = 240,
) -> str:
    """An SVG line chart; series with no finite points are listed in the legend as 'no data'."""
    clean = {
        name: sorted((float(x), float(y)) for x, y in pts if math.isfinite(float(x)) and math.isfinite(float(y)))
        for name, pts in series.items()
    }
    points = [p for pts in clean.values() for p in pts]
    left, right, top, bottom = 56, 16, 30, 44
    legend_h = 16 * len(clean)
    full_h = height + legend_h
    plot_w, plot_h = width - left - right, height - top - bottom
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{width}" '
        f'height="{full_h}" viewBox="0 0 {width} {full_h}" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="13" font-weight="600">{escape(title)}</text>',
    ]
    if not points:
        out.append(
            f'<text x="{width / 2}" y="{top + plot_h / 2}" text-anchor="middle" font-size="12" '
            'fill="#6a7683">no data recorded</text></svg>'
        )
        return "".join(out)

    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    xt = nice_ticks(min(xs), max(xs), 6)
    yt = nice_ticks(min(ys), max(ys), 5)
    x0, x1, y0, y1 = xt[0], xt[-1], yt[0], yt[-1]

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * plot_w

    def sy(y: float) -> float:
        return top + plot_h - (y - y0) / (y1 - y0) * plot_h

    out.append('<g class="axes" font-size="10" fill="#44505e" stroke="none">')
    for t in yt:
        y = sy(t)
        out.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#e3e7ec"/>'
            f'<text x="{left - 6}" y="{y + 3:.1f}" text-anchor="end">{_fmt(t)}</text>'
        )
    for t in xt:
        x = sx(t)
        out.append(
            f'<line x1="{x:.1f}" y1="{top + plot_h}" x2="{x:.1f}" y2="{top + plot_h + 4}" stroke="#44505e"/>'
            f'<text x="{x:.1f}" y="{top + plot_h + 16}" text-anchor="middle">{_fmt(t)}</text>'
        )
    out.append(
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#44505e"/>'
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#44505e"/>'
        f'<text x="{left + plot_w / 2}" y="{top + plot_h + 32}" text-anchor="middle">{escape(x_label)}</text>'
    )
    if y_label:
        out.append(
            f'<text transform="translate(14 {top + plot_h / 2}) rotate(-90)" text-anchor="middle">'
            f"{escape(y_label)}</text>"
        )
    out.append("</g>")

    for i, (name, pts) in enumerate(clean.items()):
        colour = PALETTE[i % len(PALETTE)]
        if pts:
            path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
            out.append(
                f'<polyline class="series" data-series="{escape(name)}" points="{path}" fill="none" '
                f'stroke="{colour}" stroke-width="2"/>'
            )
            for x, y in pts:
                out.append(
                    f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{colour}">'
                    f"<title>{escape(name)} @ {escape(x_label)} {_fmt(x)}: {_fmt(y)}</title></circle>"
                )
        ly = height + 12 + 16 * i
        label = name if pts else f"{name} (no data)"
        out.append(
            f'<rect x="{left}" y="{ly - 8}" width="12" height="4" fill="{colour}"/>'
            f'<text x="{left + 18}" y="{ly - 3}" font-size="11">{escape(label)}</text>'
        )
    out.append("</svg>")
    return "".join(out)
