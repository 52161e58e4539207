"""The lines one run draws on the training plots: every metric its curves have, each σ layer.

Alone, a run's metrics are told apart by colour; when runs are compared each run is one colour on
every plot and its metrics (or σ layers) are told apart by line style, so no run is ever drawn twice.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

from .curvedata import envelope, smooth
from .plotting import PALETTE, STYLES, Scale

LAYER_RE = re.compile(r"^sigma_mean\[(.+)\]$")


@dataclass(frozen=True)
class Metric:
    """One curve: which column of which table (step or epoch rows), on which plot, drawn how."""
    field: str
    plot: str
    source: str
    label: str
    color: str
    style: Qt.PenStyle
    smoothed: bool = True         # the smoothing slider applies (and, for the live run, a faint raw line)
    symbol: str | None = None
    factor: float = 1.0           # fractions → %


METRICS = (
    Metric("loss", "loss", "step", "total", PALETTE[0], Qt.SolidLine),
    Metric("ce", "loss", "step", "cross-entropy", PALETTE[1], Qt.DashLine),
    Metric("reg", "loss", "step", "regulariser", PALETTE[2], Qt.DotLine),
    Metric("train_acc", "acc", "step", "train", PALETTE[0], Qt.SolidLine, factor=100.0),
    Metric("test_acc", "acc", "epoch", "test (epoch ends)", PALETTE[1], Qt.DashLine, False, "o", 100.0),
    Metric("lr", "lr", "step", "learning rate", PALETTE[3], Qt.SolidLine, False),
)


def layers_of(step: dict[str, np.ndarray]) -> list[str]:
    """The stochastic layers whose σ the step rows carry."""
    return sorted({m.group(1) for k in step for m in [LAYER_RE.match(k)] if m})


def sigma_metric(layer: str, i: int) -> Metric:
    return Metric(f"sigma_mean[{layer}]", "sigma", "step", f"σ {layer}", PALETTE[i % len(PALETTE)],
                  STYLES[i % len(STYLES)], False)


def metrics_of(arrays: dict[str, dict[str, np.ndarray]], layers: list[str]) -> list[Metric]:
    """The metrics these curves have (σ layers numbered in ``layers``, the union over the runs shown)."""
    have = [m for m in METRICS if m.field in arrays[m.source]]
    mine = set(layers_of(arrays["step"]))
    return have + [sigma_metric(layer, i) for i, layer in enumerate(layers) if layer in mine]


def _thin(item: pg.PlotDataItem) -> None:
    """Draw at most about one point per pixel column (long runs reach 10^4-10^5 points)."""
    item.setDownsampling(auto=True, method="peak")
    item.setClipToView(True)


class Line:
    """One metric of one run: the (smoothed) line and, for the live or shown run, its raw values faint behind."""

    def __init__(self, plot: pg.PlotItem, color, style: Qt.PenStyle, faint: bool, symbol: str | None) -> None:
        self.plot = plot
        self.symbol, self._lone = symbol, False
        faint_color = pg.mkColor(color)
        faint_color.setAlpha(60)
        self.raw = plot.plot([], [], pen=pg.mkPen(faint_color, width=1, style=style)) if faint else None
        self.line = plot.plot([], [], pen=pg.mkPen(color, width=2, style=style))
        if symbol:
            self.line.setSymbol(symbol)
            self.line.setSymbolBrush(pg.mkBrush(color))
            self.line.setSymbolPen(pg.mkPen(color))
            self.line.setSymbolSize(6)
        for item in (self.raw, self.line):
            if item is not None:
                _thin(item)

    def set(self, x: np.ndarray, y: np.ndarray, weight: float, scale: Scale | None) -> tuple[int, int]:
        """Draw y (smoothed with ``weight``) on ``scale``; returns (non-finite values skipped, values the scale
        cannot show), so that the view can say what it did not draw."""
        finite = np.isfinite(y)
        ok = finite & np.isfinite(x)   # (x: no training time stored, on the time axis: said by the view)
        x, y = x[ok], y[ok]
        shown = smooth(y, weight) if weight > 0 else y
        raw_t, shown_t = (y, shown) if scale is None else (scale.fwd(y), scale.fwd(shown))
        fits = np.isfinite(shown_t)
        self.line.setData(x[fits], shown_t[fits])
        self._mark_lone(int(fits.sum()) == 1)
        if self.raw is not None:
            rfits = np.isfinite(raw_t)
            self.raw.setData(x[rfits], raw_t[rfits])
        return int((~finite).sum()), int((~fits).sum())

    def _mark_lone(self, lone: bool) -> None:
        """A line of one point draws nothing: that point gets a dot (a metric with its own symbol keeps it)."""
        if self.symbol is None and lone != self._lone:
            self.line.setSymbol("o" if lone else None)
            if lone:
                self.line.setSymbolBrush(self.line.opts["pen"].color())
                self.line.setSymbolPen(self.line.opts["pen"].color())
                self.line.setSymbolSize(7)
        self._lone = lone

    def items(self) -> list[pg.PlotDataItem]:
        return [i for i in (self.raw, self.line) if i is not None]


class RunLines:
    """Every line of one run on the four plots. ``color`` None: one colour per metric (a run alone);
    ``main``: the view's own run (live or shown), redrawn as points arrive, with raw lines and σ bands."""

    def __init__(self, plots: dict[str, pg.PlotItem], color=None, main: bool = False) -> None:
        self.plots, self.color, self.main = plots, color, main
        self.lines: dict[str, Line] = {}
        self.bands: dict[str, tuple] = {}
        self._drawn: dict[str, tuple] = {}   # a stored run's plot → (what it was drawn with, its counts)

    def draw(self, key: str, arrays: dict, layers: list[str], weight: float,
             scales: dict[str, Scale | None]) -> dict[str, tuple[int, int]]:
        """Update this run's lines on plot ``key``; per metric label: (non-finite, not on the scale) counts."""
        stamp = (weight, scales.get(key), scales.get("x"), tuple(layers))
        if not self.main and key in self._drawn and self._drawn[key][0] == stamp:
            return self._drawn[key][1]   # a stored run's curves do not change: smooth them once per setting
        counts: dict[str, tuple[int, int]] = {}
        drawn = set()
        for m in metrics_of(arrays, layers):
            if m.plot != key:
                continue
            drawn.add(m.field)
            src = arrays[m.source]
            y = np.asarray(src[m.field], dtype=float) * m.factor
            counts[m.label] = self._line(m).set(np.asarray(src.get("_x", src["step"]), dtype=float), y,
                                                weight if m.smoothed else 0.0, scales.get(key))
            if key == "sigma" and self.main:
                self._band(m, src)
        for field, line in self.lines.items():   # a metric these curves lack (another run's) draws nothing
            if line.plot is self.plots[key] and field not in drawn:
                line.set(np.empty(0), np.empty(0), 0.0, None)
        if key == "sigma":
            self._drop_gone(arrays)
        self._drawn[key] = (stamp, counts)
        return counts

    def _line(self, m: Metric) -> Line:
        if m.field not in self.lines:
            color, style = (m.color, Qt.SolidLine if m.plot == "sigma" else m.style) if self.color is None \
                else (self.color, m.style)
            self.lines[m.field] = Line(self.plots[m.plot], color, style, self.main and m.smoothed, m.symbol)
        return self.lines[m.field]

    def _band(self, m: Metric, s: dict[str, np.ndarray]) -> None:
        """The live or shown run's min–max σ band of one layer."""
        layer = LAYER_RE.match(m.field).group(1)
        if layer not in self.bands:
            band = pg.mkColor(self.color if self.color is not None else m.color)
            band.setAlpha(50)
            lo, hi = pg.PlotDataItem([], [], pen=pg.mkPen(band)), pg.PlotDataItem([], [], pen=pg.mkPen(band))
            fill = pg.FillBetweenItem(lo, hi, brush=pg.mkBrush(band))
            for item in (lo, hi, fill):
                self.plots["sigma"].addItem(item)
            self.bands[layer] = (lo, hi, fill)
        lo, hi, _ = self.bands[layer]
        x = np.asarray(s.get("_x", s["step"]), dtype=float)
        bx, blo, bhi = envelope(x, np.nan_to_num(s.get(f"sigma_min[{layer}]", np.zeros(len(x)))),
                                np.nan_to_num(s.get(f"sigma_max[{layer}]", np.zeros(len(x)))))
        lo.setData(bx, blo)
        hi.setData(bx, bhi)

    def _drop_gone(self, arrays: dict) -> None:
        """σ layers this run no longer has (a new run replaced the live one's curves)."""
        have = set(layers_of(arrays["step"]))
        for field in [f for f in self.lines if LAYER_RE.match(f) and LAYER_RE.match(f).group(1) not in have]:
            for item in self.lines.pop(field).items():
                self.plots["sigma"].removeItem(item)
        for layer in [k for k in self.bands if k not in have]:
            for item in self.bands.pop(layer):
                self.plots["sigma"].removeItem(item)

    def remove(self) -> None:
        for line in self.lines.values():
            for item in line.items():
                line.plot.removeItem(item)
        for items in self.bands.values():
            for item in items:
                self.plots["sigma"].removeItem(item)
        self.lines, self.bands, self._drawn = {}, {}, {}

    def curves_on(self, key: str) -> list[pg.PlotDataItem]:
        """This run's main lines on plot ``key`` (one per metric; tests and legends)."""
        return [ln.line for ln in self.lines.values() if ln.plot is self.plots[key]]
