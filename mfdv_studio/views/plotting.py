"""Plot furniture shared by the training, sweep and boundary views: axis labels with units, legends in
their own layout row (never over the data), run colours, and transformed axes (symlog, log |y|, ε·255)
whose ticks are clean values of the data, not pyqtgraph's crowded log ticks."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QSizePolicy

#: series colours that read on white (matplotlib's tab10)
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
           "#7f7f7f")
#: line styles that tell series of one colour apart (metrics of one run, layers of one model)
STYLES = (Qt.SolidLine, Qt.DashLine, Qt.DotLine, Qt.DashDotLine, Qt.DashDotDotLine)
#: small titles and labels: a title's width is a minimum width of its column, and plots share a pane
TITLE_STYLE = {"size": "9pt", "color": "#444"}
LABEL_STYLE = {"color": "#333", "font-size": "9pt"}
#: symlog's linear zone: |y| ≪ C is drawn linearly, |y| ≫ C logarithmically
SYMLOG_C = 0.01
#: ε·255 ticks: 8-bit steps as papers quote them
EPS255_TICKS = (0, 1, 2, 4, 8, 16, 32, 64, 128, 255)


def run_color(i: int, n: int) -> pg.QtGui.QColor:
    """The i-th of n run colours: the palette while it lasts, else n evenly spaced hues (any number of runs)."""
    if n <= len(PALETTE):
        return pg.mkColor(PALETTE[i % len(PALETTE)])
    return pg.intColor(i, hues=n, values=1, maxValue=210)


def label_axes(plot: pg.PlotItem, left: str, bottom: str) -> None:
    """Both axis labels (with their units) and no SI-prefix rescaling: "(x0.001)" hides the unit."""
    for side, text in (("left", left), ("bottom", bottom)):
        axis = plot.getAxis(side)
        # pyqtgraph still rescales a disabled axis whose range lies in (0, 1) — ε from 0 to 0.3 read
        # "0 … 300" with no "(x0.001)" — unless no range enables the prefix at all
        axis.setSIPrefixEnableRanges(())
        axis.enableAutoSIPrefix(False)
        plot.setLabel(side, text, **LABEL_STYLE)


def legend_row(layout: pg.GraphicsLayout, row: int, col: int, colspan: int = 1, columns: int = 4) -> pg.LegendItem:
    """An empty legend in its own layout cell (below a plot): it never covers data."""
    legend = pg.LegendItem(labelTextSize="8pt", labelTextColor="#333", verSpacing=-4, colCount=columns)
    legend.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Fixed)
    layout.addItem(legend, row=row, col=col, colspan=colspan)
    layout.layout.setRowStretchFactor(row, 0)
    return legend


def sample(color, style=Qt.SolidLine, symbol: str | None = None) -> pg.PlotDataItem:
    """A legend sample (drawn in no plot)."""
    item = pg.PlotDataItem([], [], pen=pg.mkPen(color, width=2, style=style))
    if symbol:
        item.setSymbol(symbol)
        item.setSymbolBrush(pg.mkBrush(color))
        item.setSymbolPen(pg.mkPen(color))
    return item


# ---------------------------------------------------------------- transformed axes
@dataclass(frozen=True)
class Scale:
    """A monotone axis transform: data y is drawn at fwd(y); ticks are picked among data values."""
    name: str
    fwd: Callable[[np.ndarray], np.ndarray]
    inv: Callable[[np.ndarray], np.ndarray]
    ticks: Callable[[float, float, int], list[list[float]]]   # (lo, hi in data units, most labels) → levels


def symlog(y, c: float = SYMLOG_C):
    """sign(y)·log10(1 + |y|/c): negative values keep their place below zero."""
    y = np.asarray(y, dtype=float)
    return np.sign(y) * np.log10(1 + np.abs(y) / c)


def symlog_inv(t, c: float = SYMLOG_C):
    t = np.asarray(t, dtype=float)
    return np.sign(t) * c * (10 ** np.abs(t) - 1)


def log_abs(y):
    """log10 |y|; a zero has no place on it (NaN, which the caller counts and reports)."""
    a = np.abs(np.asarray(y, dtype=float))
    with np.errstate(divide="ignore"):
        return np.where(a > 0, np.log10(np.where(a > 0, a, 1)), np.nan)


def nice_ticks(lo: float, hi: float, most: int) -> list[float]:
    """Multiples of 1, 2 or 5 × 10^k in [lo, hi], at most ``most`` of them (at least 2 when the span allows)."""
    span = hi - lo
    if not (math.isfinite(span) and span > 0):
        return [lo] if math.isfinite(lo) else []
    base = 10 ** math.floor(math.log10(span / max(most, 1)))
    step = next((m * base for m in (1, 2, 5, 10) if span / (m * base) <= most), 10 * base)
    return [round(k * step, 12) for k in range(math.ceil(lo / step), math.floor(hi / step) + 1)]


def decade_ticks(lo: float, hi: float, most: int, signed: bool = True, floor: float = 1e-9) -> list[list[float]]:
    """0 and ±10^k (|10^k| ≥ ``floor``: symlog draws smaller values linearly, squeezed near 0) labelled,
    ±2·10^k and ±5·10^k as a second level when there is room; a range holding fewer than two of them
    gets plain 1-2-5 ticks instead."""
    signs = (1, -1) if signed else (1,)
    powers = [10.0 ** k for k in range(-9, 10) if 10.0 ** k >= floor * (1 - 1e-9)]
    major = sorted(({0.0} if signed and lo <= 0 <= hi else set())
                   | {s * p for p in powers for s in signs if lo <= s * p <= hi})
    if len(major) < 2:
        return [nice_ticks(lo, hi, most)]
    top = max(round(math.log10(abs(v))) for v in major if v)
    for stride in range(1, 20):   # every stride-th decade down from the largest, 0 always: symmetric labels
        kept = [v for v in major if v == 0 or (top - round(math.log10(abs(v)))) % stride == 0]
        if len(kept) <= most:
            major = kept
            break
    minor = sorted(s * m * p for p in powers for m in (2, 5) for s in signs if lo <= s * m * p <= hi)
    return [major, minor if 3 * len(major) <= most else []]


def eps255_ticks(lo: float, hi: float, most: int) -> list[list[float]]:
    """0, 1, 2, 4, 8, 16, … 255 (ε·255) in range; a narrow range gets plain ticks."""
    major = [float(v) for v in EPS255_TICKS if lo - 1e-9 <= v <= hi + 1e-9]
    if len(major) < 2:
        return [nice_ticks(lo, hi, most)]
    for drop in (1.0, 128.0):   # the crowded ones first: 0|1 and 128|255 sit closest
        if len(major) > most and drop in major and len(major) > 2:
            major.remove(drop)
    while len(major) > most:
        major = major[::2]
    return [major]


SYMLOG = Scale("symlog", symlog, symlog_inv, lambda lo, hi, most: decade_ticks(lo, hi, most, floor=SYMLOG_C))
LOG_ABS = Scale("log|y|", log_abs, lambda t: 10 ** np.asarray(t, dtype=float),
                lambda lo, hi, most: decade_ticks(lo, hi, most, signed=False))
#: ε·255 drawn at log2(1 + ε·255): 0, 1, 2, 4, 8, … 255 evenly spaced
EPS255 = Scale("ε·255", lambda k: np.log2(1 + np.maximum(np.asarray(k, dtype=float), 0)),
               lambda t: 2 ** np.asarray(t, dtype=float) - 1, eps255_ticks)


def tick_text(v: float) -> str:
    """A tick's value in at most 3 significant digits, without float noise (0.19999 → 0.2)."""
    if abs(v) < 1e-12:
        return "0"
    return f"{v:.3g}"


class ScaleAxis(pg.AxisItem):
    """An axis that labels a transformed coordinate with data values; with no scale, a plain axis."""

    def __init__(self, orientation: str, **kw) -> None:
        super().__init__(orientation, **kw)
        self.scale_: Scale | None = None

    def set_scale(self, scale: Scale | None) -> None:
        self.scale_ = scale
        self.picture = None
        self.update()

    def _most(self, size: float) -> int:
        """At most this many labels (their spacing is checked after: :meth:`_gap`)."""
        return max(2, int(size / (22 if self.orientation in ("left", "right") else 30)))

    def tickValues(self, minVal: float, maxVal: float, size: float):  # noqa: N802 (pyqtgraph override)
        if self.scale_ is None:
            return super().tickValues(minVal, maxVal, size)
        lo, hi = sorted(float(v) for v in self.scale_.inv(np.array([minVal, maxVal])))
        if not (math.isfinite(lo) and math.isfinite(hi)) or maxVal == minVal:
            return []
        per_unit = size / abs(maxVal - minVal)
        kept: list[tuple[float, int]] = []   # (position, label length) of every tick kept so far
        out = []
        for level in self.scale_.ticks(lo, hi, self._most(size)):
            keep = []
            for v in sorted(level, key=lambda v: (v != 0, -abs(v))):   # 0 and the largest values first
                t, n = float(self.scale_.fwd(np.array([v]))[0]), len(tick_text(v))
                if math.isfinite(t) and all(abs(t - kt) * per_unit >= self._gap(n, kn) for kt, kn in kept):
                    kept.append((t, n))
                    keep.append(t)
            if keep:
                out.append((1.0, sorted(keep)))
        return out

    def _gap(self, n: int, m: int) -> float:
        """Pixels two labels of n and m characters need between their centres (symlog crowds ±c around 0)."""
        return 18.0 if self.orientation in ("left", "right") else 3.5 * (n + m) + 10

    def tickStrings(self, values, scale, spacing):  # noqa: N802 (pyqtgraph override)
        if self.scale_ is None:
            return super().tickStrings(values, scale, spacing)
        return [tick_text(float(v)) for v in self.scale_.inv(np.array(values, dtype=float))]


def scale_axes() -> dict[str, ScaleAxis]:
    """``axisItems`` for a plot whose axes may be transformed (addPlot(axisItems=scale_axes()))."""
    return {"left": ScaleAxis("left"), "bottom": ScaleAxis("bottom")}
