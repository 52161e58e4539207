"""Small SVG plots for Markdown reports (no plotting library in the engine's
dependencies, and the engine never imports Qt): points with 95 % intervals
over categorical x positions, one colour per series."""
from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf")


@dataclass
class Series:
    label: str
    #: (x label, y, CI low, CI high) per point; y None = no value (a diverged run)
    points: list[tuple[str, float | None, float, float]] = field(default_factory=list)


#: how a plot this tool wrote says so (the output rule lets a rerun replace it)
SVG_MARK = "plot written by mfdv reproduce"


def interval_plot_svg(series: list[Series], *, title: str, xlabel: str, ylabel: str,
                      width: int = 720, height: int = 420) -> str:
    """Each series as points joined by lines with vertical 95 % CI bars; x is
    categorical (the union of x labels in first-seen order), y in [0, 1] as %."""
    xs: list[str] = []
    for s in series:
        xs += [p[0] for p in s.points if p[0] not in xs]
    left, right, top, bottom = 70, 180, 40, 60
    pw, ph = width - left - right, height - top - bottom
    px = lambda i: left + (i + 0.5) * pw / max(len(xs), 1)  # noqa: E731
    py = lambda v: top + (1 - v) * ph  # noqa: E731
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
           f'font-size="12"><!-- {SVG_MARK} --><rect width="100%" height="100%" fill="white"/>',
           f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14">{escape(title)}</text>']
    for k in range(0, 11, 2):  # y grid every 20 %
        y = py(k / 10)
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{y}" y2="{y}" stroke="#ddd"/>'
                   f'<text x="{left - 6}" y="{y + 4}" text-anchor="end">{k * 10}</text>')
    for i, x in enumerate(xs):
        out.append(f'<text x="{px(i)}" y="{top + ph + 18}" text-anchor="middle">{escape(x)}</text>')
    out.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + ph}" stroke="black"/>'
               f'<line x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}" stroke="black"/>'
               f'<text x="{left + pw / 2}" y="{height - 15}" text-anchor="middle">{escape(xlabel)}</text>'
               f'<text transform="translate(18 {top + ph / 2}) rotate(-90)" text-anchor="middle">{escape(ylabel)}</text>')
    for j, s in enumerate(series):
        out += _series_svg(s, j, xs, px, py)
        ly = top + 10 + 20 * j
        out.append(f'<line x1="{left + pw + 12}" x2="{left + pw + 32}" y1="{ly}" y2="{ly}" '
                   f'stroke="{COLOURS[j % len(COLOURS)]}" stroke-width="2"/>'
                   f'<text x="{left + pw + 38}" y="{ly + 4}">{escape(s.label)}</text>')
    return "\n".join(out + ["</svg>"]) + "\n"


def _series_svg(s: Series, j: int, xs: list[str], px, py) -> list[str]:
    colour = COLOURS[j % len(COLOURS)]
    shift = (j - 1) * 4  # keep overlapping bars apart
    pts = [(px(xs.index(x)) + shift, y, lo, hi) for x, y, lo, hi in s.points if y is not None]
    out = []
    if len(pts) > 1:
        path = " ".join(f"{x:.1f},{py(y):.1f}" for x, y, _, _ in pts)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.5"/>')
    if j == 0:  # a point with no value (a diverged run) is named on the axis, not left blank
        out += [f'<text x="{px(xs.index(x)):.1f}" y="{py(0.04):.1f}" text-anchor="middle" fill="#888">diverged</text>'
                for x, y, _, _ in s.points if y is None]
    for x, y, lo, hi in pts:
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{py(lo):.1f}" y2="{py(hi):.1f}" stroke="{colour}"/>'
                   f'<circle cx="{x:.1f}" cy="{py(y):.1f}" r="3.5" fill="{colour}"/>')
    return out
