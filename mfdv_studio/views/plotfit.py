"""What a training plot shows when its data cannot span an axis: one point (a run one log step old)
gets axes around it instead of pyqtgraph's empty ±0.5 default, and a plot with nothing to draw for
the run shown (σ of a plain or PNI run) says so instead of keeping the previous run's axes."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg

#: half the span put around a lone value, per plot: (x, y); accuracy stays within 0–100 %
LONE_PAD = {"acc": 5.0, "lr": None, "loss": None, "sigma": None}


def data_bounds(plot: pg.PlotItem) -> tuple[np.ndarray, np.ndarray] | None:
    """(x min/max, y min/max) over every finite point drawn in ``plot``; None when none is."""
    xs, ys = [], []
    for item in plot.listDataItems():
        if not item.isVisible():
            continue
        x, y = item.getData()
        if x is None or y is None or not len(x):
            continue
        ok = np.isfinite(x) & np.isfinite(y)
        xs.append(np.asarray(x, dtype=float)[ok])
        ys.append(np.asarray(y, dtype=float)[ok])
    x, y = (np.concatenate(v) if v else np.empty(0) for v in (xs, ys))
    if not len(x):
        return None
    return np.array([x.min(), x.max()]), np.array([y.min(), y.max()])


def _pad(lo: float, hi: float, fixed: float | None) -> tuple[float, float]:
    """A range around a lone value: ``fixed`` either side, else 10 % of it (at least a small absolute amount)."""
    if fixed is not None:
        return lo - fixed, hi + fixed
    half = max(abs(lo) * 0.1, 1e-6)
    return lo - half, hi + half


class RangeFitter:
    """Per plot: sets a range around data that spans no width or height, and gives the axes back to
    auto-range once the data spans both (never fighting a zoom the user made meanwhile)."""

    def __init__(self) -> None:
        self._forced: set[str] = set()

    def fit(self, key: str, plot: pg.PlotItem) -> None:
        b = data_bounds(plot)
        if b is None:
            return
        (x0, x1), (y0, y1) = b
        flat_x, flat_y = x1 - x0 <= 0, y1 - y0 <= 0
        if not (flat_x or flat_y):
            if key in self._forced:
                self._forced.discard(key)
                plot.enableAutoRange()
            return
        self._forced.add(key)
        xr = _pad(x0, x1, 1.0) if flat_x else (x0, x1)
        yr = _pad(y0, y1, LONE_PAD.get(key)) if flat_y else (y0, y1)
        if key == "acc" and flat_y:
            yr = (max(0.0, yr[0]), min(100.0, yr[1])) if 0 <= y0 <= 100 else yr
        plot.setRange(xRange=xr, yRange=yr, padding=0.05)


class NoDataNote:
    """A sentence in the middle of a plot that has nothing to draw; its axes hidden meanwhile."""

    def __init__(self, plot: pg.PlotItem) -> None:
        self.plot = plot
        self.item = pg.TextItem("", color="#555", anchor=(0.5, 0.5))
        self.item.setPos(0.5, 0.5)
        self.item.setVisible(False)
        plot.addItem(self.item, ignoreBounds=True)

    @property
    def shown(self) -> bool:
        return self.item.isVisible()

    def show(self, text: str) -> None:
        if self.shown and self.item.textItem.toPlainText() == text:
            return
        self.item.setText(text)
        self.item.setVisible(True)
        for side in ("left", "bottom"):
            self.plot.getAxis(side).setStyle(showValues=False)
        self.plot.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)

    def hide(self) -> None:
        if not self.shown:
            return
        self.item.setVisible(False)
        for side in ("left", "bottom"):
            self.plot.getAxis(side).setStyle(showValues=True)
        self.plot.enableAutoRange()


def skipped_notes(counts: dict[str, tuple[int, int]], scale_name: str) -> list[str]:
    """What a plot did not draw, said in the plot (no series vanishes silently)."""
    notes = []
    for label, (bad, off) in counts.items():
        if off:
            notes.append(f"{label}: {off} zero value(s) not drawn on {scale_name}")
        if bad:
            notes.append(f"{label}: {bad} non-finite value(s) skipped")
    return notes
