"""Live training curves: plot items created once, fed by setData from a timer, one plot per tick."""
from __future__ import annotations

import functools
import re

import numpy as np
import pyqtgraph as pg
import pyqtgraph.exporters  # noqa: F401  (registers exporters)
from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtWidgets import (QCheckBox, QFileDialog, QHBoxLayout, QLabel, QPushButton, QSlider, QVBoxLayout,
                               QWidget)

from mfdv_engine.safetext import printable  # run names, messages and layer names come from the project file

LAYER_RE = re.compile(r"^sigma_mean\[(.+)\]$")
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"]


def smooth(y: np.ndarray, weight: float, block: int = 256) -> np.ndarray:
    """Exponential moving average (TensorBoard style, starting at y[0]), weight in [0, 1).

    Vectorised in blocks: within a block y_j = w^(j+1)·acc + (1−w)·Σ_{i≤j} w^(j−i)·x_i,
    one small matrix product, so a 20,000-point curve costs ~1 ms instead of
    the 4 ms of a Python loop on every redraw."""
    if weight <= 0 or len(y) == 0:
        return y
    y = np.asarray(y, dtype=float)
    gain, decay = _ema_kernel(float(weight), block)
    out = np.empty_like(y)
    acc = y[0]
    for s in range(0, len(y), block):
        x = y[s:s + block]
        n = len(x)
        out[s:s + n] = gain[:n, :n] @ x + decay[:n] * acc
        acc = out[s + n - 1]
    return out


@functools.lru_cache(maxsize=8)
def _ema_kernel(weight: float, block: int) -> tuple[np.ndarray, np.ndarray]:
    k = np.arange(block)
    lag = k[:, None] - k[None, :]
    gain = np.where(lag >= 0, weight ** np.maximum(lag, 0), 0.0) * (1 - weight)
    return gain, weight ** (k + 1)


def envelope(x: np.ndarray, lo: np.ndarray, hi: np.ndarray, points: int = 1000):
    """The min–max band on at most ``points`` bins (min of the minima, max of the
    maxima per bin: the same envelope). pyqtgraph's FillBetweenItem rebuilds
    its polygon from every point on each change: 45 ms at 20,000 points."""
    if len(x) <= points:
        return x, lo, hi
    starts = np.arange(0, len(x), -(-len(x) // points))
    return x[starts], np.minimum.reduceat(lo, starts), np.maximum.reduceat(hi, starts)


class _Columns:
    """Named float columns that grow by doubling, so reading them is a view, not a copy of every list."""

    def __init__(self) -> None:
        self.n = 0
        self.cols: dict[str, np.ndarray] = {"step": np.empty(64)}

    def __contains__(self, name: str) -> bool:
        return name in self.cols

    def append(self, row: dict, x: float) -> None:
        cap = len(self.cols["step"])
        if self.n == cap:
            for k, v in self.cols.items():
                grown = np.full(2 * cap, np.nan)
                grown[:cap] = v
                self.cols[k] = grown
            cap *= 2
        self.cols["step"][self.n] = x
        for k, v in row.items():
            if k == "step":
                continue
            try:
                v = float(v)
            except (TypeError, ValueError):
                continue
            if k not in self.cols:
                self.cols[k] = np.full(cap, np.nan)
            self.cols[k][self.n] = v
        self.n += 1

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: v[:self.n] for k, v in self.cols.items()}


class CurveBuffer:
    """Points received during a live run, per field: x (global step) and y."""

    def __init__(self) -> None:
        self.step = _Columns()
        self.epoch = _Columns()
        self.dirty = False

    @property
    def points(self) -> int:
        return self.step.n + self.epoch.n

    def clear(self) -> None:
        self.__init__()

    def add(self, kind: str, row: dict) -> None:
        if kind not in ("step", "epoch"):
            return
        cols = self.step if kind == "step" else self.epoch
        cols.append(row, float(row.get("step", cols.n)))
        self.dirty = True

    def arrays(self) -> dict[str, dict[str, np.ndarray]]:
        return {"step": self.step.arrays(), "epoch": self.epoch.arrays()}


def _thin(item: pg.PlotDataItem) -> None:
    """Draw at most about one point per pixel column (long runs reach 10^4-10^5 points)."""
    item.setDownsampling(auto=True, method="peak")
    item.setClipToView(True)


class _Line:
    """A raw (faint) and a smoothed line of one field."""

    def __init__(self, plot: pg.PlotItem, name: str, color: str, style=Qt.SolidLine, raw: bool = True) -> None:
        c = pg.mkColor(color)
        faint = pg.mkColor(color)
        faint.setAlpha(60)
        self.raw = plot.plot([], [], pen=pg.mkPen(faint, width=1, style=style)) if raw else None
        self.smooth = plot.plot([], [], pen=pg.mkPen(c, width=2, style=style), name=printable(name))
        for item in (self.raw, self.smooth):
            if item is not None:
                _thin(item)

    def set(self, x: np.ndarray, y: np.ndarray, weight: float) -> None:
        ok = np.isfinite(y) if len(y) else np.zeros(0, bool)
        x, y = x[ok], y[ok]
        if self.raw is not None:
            self.raw.setData(x, y)
            self.smooth.setData(x, smooth(y, weight))
        else:
            self.smooth.setData(x, y)

    def remove(self, plot: pg.PlotItem) -> None:
        for item in (self.raw, self.smooth):
            if item is not None:
                plot.removeItem(item)


class TrainingView(QWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.buffer = CurveBuffer()
        self.live_run: str | None = None
        self.overlays: dict[str, dict] = {}   # run_id -> {"name":, "curves":}
        self._overlay_items: list[tuple[pg.PlotItem, _Line]] = []

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("w")
        self.p_loss = self.graphics.addPlot(row=0, col=0, title="loss (total, CE, regulariser)")
        self.p_acc = self.graphics.addPlot(row=0, col=1, title="accuracy (train, test)")
        self.p_lr = self.graphics.addPlot(row=1, col=0, title="learning rate")
        self.p_sigma = self.graphics.addPlot(row=1, col=1, title="σ per stochastic layer (mean, min–max band)")
        for p in (self.p_loss, self.p_acc, self.p_lr, self.p_sigma):
            # a GridItem in the view, not the axes' own grid (showGrid): with it
            # every repaint replays both axes' pictures over the whole plot, 55-60 ms
            # for the four plots in software rendering against 10 ms with this
            grid = pg.GridItem()
            grid.setTickSpacing(x=[None, None], y=[None, None])  # two levels: ~10 lines and ~1 per view
            grid.setTextPen(None)
            grid.setPen(pg.mkPen(0, 0, 0, 40))
            p.addItem(grid, ignoreBounds=True)
            p.setLabel("bottom", "step")
            p.addLegend(offset=(-10, 10))
        self.lines = {
            "loss": _Line(self.p_loss, "loss", COLORS[0]),
            "ce": _Line(self.p_loss, "CE", COLORS[1]),
            "reg": _Line(self.p_loss, "reg", COLORS[2]),
            "train_acc": _Line(self.p_acc, "train", COLORS[0]),
            "test_acc": _Line(self.p_acc, "test", COLORS[1], raw=False),
            "lr": _Line(self.p_lr, "lr", COLORS[3], raw=False),
        }
        self._plot_of = {"loss": self.p_loss, "ce": self.p_loss, "reg": self.p_loss, "train_acc": self.p_acc,
                         "test_acc": self.p_acc, "lr": self.p_lr}
        self._plots = [self.p_loss, self.p_acc, self.p_lr, self.p_sigma]
        self._pending: list[pg.PlotItem] = []   # plots whose data changed since they were drawn
        self._arrays = self.buffer.arrays()
        self.p_acc.listDataItems()[-1].setSymbol("o")
        self.sigma_items: dict[str, tuple] = {}   # layer -> (mean item, min item, max item, fill)

        self.smooth_slider = QSlider(Qt.Horizontal)
        self.smooth_slider.setRange(0, 99)
        self.smooth_slider.setValue(60)
        self.smooth_slider.setToolTip("smoothing (exponential moving average); raw curve stays faint behind")
        self.smooth_slider.valueChanged.connect(self._mark_dirty)
        self.logy = QCheckBox("log y (loss)")
        self.logy.toggled.connect(self._set_log)
        self.status = QLabel("no run yet")
        self.status.setTextFormat(Qt.PlainText)  # shows run names and failure sentences
        png = QPushButton("Export PNG…")
        png.clicked.connect(self._export_png_dialog)
        svg = QPushButton("Export SVG…")
        svg.clicked.connect(self._export_svg_dialog)

        bar = QHBoxLayout()
        bar.addWidget(QLabel("Smoothing"))
        bar.addWidget(self.smooth_slider, 1)
        bar.addWidget(self.logy)
        bar.addWidget(png)
        bar.addWidget(svg)
        lay = QVBoxLayout(self)
        lay.addLayout(bar)
        lay.addWidget(self.graphics, 1)
        lay.addWidget(self.status)

        self.timer = QTimer(self)
        self.timer.setInterval(50)   # one plot per tick: each plot at ~5 Hz
        self.timer.timeout.connect(self.tick)
        self.timer.start()
        self.redraws = 0

    # ---------------------------------------------------------------- live data
    def start_live(self, run_id: str | None, name: str = "") -> None:
        self.buffer.clear()
        self.live_run = run_id
        self.status.setText(printable(f"training {name or run_id or ''}…"))
        self.buffer.dirty = True

    def load_existing(self, curves: dict) -> None:
        """Seed the live buffer with a resumed run's stored curves."""
        for kind in ("step", "epoch"):
            cols = curves.get(kind, {})
            if not cols:
                continue
            n = len(next(iter(cols.values())))
            for i in range(n):
                self.buffer.add(kind, {k: float(v[i]) for k, v in cols.items() if np.isfinite(v[i])})

    def prepend_existing(self, curves: dict) -> None:
        """A resumed run's stored curves, read while its first live points came in: stored ones first."""
        live = self.buffer.arrays()
        self.buffer.clear()
        self.load_existing(curves)
        self.load_existing(live)
        self.buffer.dirty = True

    def add_event(self, kind: str, data: dict) -> None:
        self.buffer.add(kind, data)
        if kind == "epoch":
            self.status.setText(f"epoch {int(data.get('epoch', 0))}: test acc {data.get('test_acc', float('nan')):.2%}, "
                                f"loss {data.get('loss', float('nan')):.3f}")

    def finish_live(self, text: str) -> None:
        self.status.setText(printable(text))
        self.buffer.dirty = True

    def show_curves(self, curves: dict, label: str) -> None:
        """Show a stored run (not training now) as the main curves."""
        self.buffer.clear()
        self.load_existing(curves)
        self.buffer.dirty = True  # also when the stored run has no points: clear the previous curves
        self.status.setText(printable(label))

    # ---------------------------------------------------------------- overlays
    def set_overlays(self, runs: dict[str, dict]) -> None:
        """``{run_id: {"name": str, "curves": project.curves(run_id)}}`` drawn dashed."""
        for plot, line in self._overlay_items:
            line.remove(plot)
        self._overlay_items = []
        self.overlays = runs
        for i, (rid, info) in enumerate(runs.items()):
            color = COLORS[(i + 4) % len(COLORS)]
            step, epoch = info["curves"].get("step", {}), info["curves"].get("epoch", {})
            for plot, field, src in ((self.p_loss, "loss", step), (self.p_acc, "test_acc", epoch),
                                     (self.p_lr, "lr", step), (self.p_sigma, "sigma_mean", step)):
                if field in src and "step" in src:
                    line = _Line(plot, f"{info['name']} ({rid})", color, style=Qt.DashLine, raw=False)
                    line.set(np.asarray(src["step"]), np.asarray(src[field]), 0)
                    self._overlay_items.append((plot, line))

    # ---------------------------------------------------------------- drawing
    @Slot()
    def _mark_dirty(self) -> None:
        self.buffer.dirty = True

    @Slot(bool)
    def _set_log(self, on: bool) -> None:
        self.p_loss.setLogMode(y=on)
        self.buffer.dirty = True

    @Slot()
    def tick(self) -> None:
        """Timer slot: redraw *one* plot whose data changed, round-robin.

        One plot per tick keeps each repaint to a quarter of the view (the
        scene repaints only the dirty region): redrawing all four at once took
        25 ms idle and 35-60 ms under training load in software rendering, long
        enough to stall the event loop (bench/gui_latency.py); each plot still
        refreshes five times a second."""
        if self.buffer.dirty:
            self.buffer.dirty = False
            self._arrays = self.buffer.arrays()
            self._pending += [p for p in self._plots if p not in self._pending]  # fair: drawn ones go last
        if self._pending:
            self.redraws += 1
            self._draw(self._pending.pop(0))

    @Slot()
    def refresh(self) -> None:
        """Redraw every plot now (exports and screenshots)."""
        self.buffer.dirty = False
        self._arrays = self.buffer.arrays()
        self._pending = []
        self.redraws += 1
        for plot in self._plots:
            self._draw(plot)

    def _draw(self, plot: pg.PlotItem) -> None:
        w = self.smooth_slider.value() / 100.0
        s, e = self._arrays["step"], self._arrays["epoch"]
        if plot is self.p_sigma:
            self._draw_sigma(s)
            return
        empty = np.zeros(0)
        for field, line in self.lines.items():
            if self._plot_of[field] is not plot:
                continue
            src = e if field == "test_acc" else s
            y = src.get(field, empty)
            x = src["step"] if len(y) else empty
            if self.logy.isChecked() and field in ("loss", "ce", "reg"):
                y = np.where(y > 0, y, np.nan)
            line.set(x, y, w)

    def _draw_sigma(self, s: dict[str, np.ndarray]) -> None:
        layers = sorted({m.group(1) for k in s for m in [LAYER_RE.match(k)] if m})
        for i, layer in enumerate(layers):
            if layer not in self.sigma_items:
                color = pg.mkColor(COLORS[i % len(COLORS)])
                band = pg.mkColor(color)
                band.setAlpha(50)
                lo = pg.PlotDataItem([], [], pen=pg.mkPen(band))
                hi = pg.PlotDataItem([], [], pen=pg.mkPen(band))
                fill = pg.FillBetweenItem(lo, hi, brush=pg.mkBrush(band))
                self.p_sigma.addItem(lo)
                self.p_sigma.addItem(hi)
                self.p_sigma.addItem(fill)
                mean = self.p_sigma.plot([], [], pen=pg.mkPen(color, width=2), name=printable(f"σ {layer}"))
                _thin(mean)
                self.sigma_items[layer] = (mean, lo, hi, fill)
            mean, lo, hi, _ = self.sigma_items[layer]
            x = s["step"]
            mean.setData(x, s.get(f"sigma_mean[{layer}]", np.full(len(x), np.nan)), connect="finite")
            bx, blo, bhi = envelope(x, np.nan_to_num(s.get(f"sigma_min[{layer}]", np.zeros(len(x)))),
                                    np.nan_to_num(s.get(f"sigma_max[{layer}]", np.zeros(len(x)))))
            lo.setData(bx, blo)
            hi.setData(bx, bhi)
        for layer in list(self.sigma_items):
            if layer not in layers:
                for item in self.sigma_items.pop(layer):
                    self.p_sigma.removeItem(item)

    # ---------------------------------------------------------------- export
    def export(self, path: str) -> None:
        self.refresh()
        item = self.graphics.scene()
        if path.lower().endswith(".svg"):
            exp = pg.exporters.SVGExporter(item)
        else:
            exp = pg.exporters.ImageExporter(item)
        exp.export(path)

    @Slot()
    def _export_png_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export plots", "curves.png", "PNG image (*.png)")
        if path:
            self.export(path)

    @Slot()
    def _export_svg_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export plots", "curves.svg", "SVG drawing (*.svg)")
        if path:
            self.export(path)
