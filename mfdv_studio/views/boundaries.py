"""Decision boundaries: P(class 1) with noise on / off (2-D runs); input slice and feature PCA (images).

Every map has its colour bar (probabilities) or a class legend (predicted class, PCA dots); legends and
bars sit in their own layout cells, and the image result is a 2×2 grid so that it fits 1280×800.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from mfdv_engine.safetext import printable  # run names, ids and class names come from the project file

from .plotting import TITLE_STYLE, label_axes, legend_row

CMAP = pg.colormap.get("CET-D1")   # diverging: blue (class 0) – white – red (class 1)
GRID_CLASS_COLORS = ("#1f3b99", "#a31621")   # the test points of the 2-D runs, on that map


#: categorical class colours, each told from the others at a glance (matplotlib's tab10, in its own order;
#: evenly spaced hues made classes 6 and 7 two blues)
CLASS_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                 "#bcbd22", "#17becf")


def class_colors(n: int) -> list[pg.QtGui.QColor]:
    """One colour per class, the same in the predicted-class map, its legend and the PCA; past ten
    classes (CIFAR-100, Tiny-ImageNet) n evenly spaced hues, since no palette keeps that many apart."""
    if n <= len(CLASS_PALETTE):
        return [pg.mkColor(c) for c in CLASS_PALETTE[:n]]
    return [pg.intColor(k, hues=max(n, 1)) for k in range(n)]


def class_names(res: dict, n: int) -> list[str]:
    names = [printable(c, limit=20) for c in (res.get("classes") or [])]
    return [names[k] if k < len(names) else str(k) for k in range(n)]


def _image(values, rect: QRectF) -> pg.ImageItem:
    img = pg.ImageItem(np.asarray(values, dtype=float))
    img.setRect(rect)
    return img


def _color_bar(images: list[pg.ImageItem], cmap, label: str) -> pg.ColorBarItem:
    """A colour bar for maps of a probability (fixed 0–1: the maps are comparable)."""
    bar = pg.ColorBarItem(values=(0, 1), colorMap=cmap, label=label, interactive=False, width=14)
    bar.setImageItem(images)
    return bar


def _even(plots: list[pg.PlotItem]) -> None:
    """Side-by-side maps of one width: the layout shares out space from each plot's preferred width,
    which its title sets."""
    width = max(p.preferredWidth() for p in plots)
    for p in plots:
        p.setPreferredWidth(width)


class BoundariesView(QWidget):
    compute_requested = Signal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.run_box = QComboBox()
        go = QPushButton("Compute")
        go.clicked.connect(self._go)
        self.info = QLabel("choose a run and press Compute (runs in the background)")
        self.info.setTextFormat(Qt.PlainText)
        self.info.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(QLabel("Run"))
        top.addWidget(self.run_box, 1)
        top.addWidget(go)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("w")
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.graphics, 1)
        lay.addWidget(self.info)
        self.result: dict | None = None
        self.color_bars: list[pg.ColorBarItem] = []
        self.class_legends: list[pg.LegendItem] = []

    def set_runs(self, runs: list[tuple[str, str]]) -> None:
        cur = self.run_box.currentData()
        self.run_box.clear()
        for rid, label in runs:
            self.run_box.addItem(printable(label), rid)
        i = self.run_box.findData(cur)
        if i >= 0:
            self.run_box.setCurrentIndex(i)

    def _go(self) -> None:
        rid = self.run_box.currentData()
        if rid:
            self.info.setText(printable(f"computing for {rid}…"))
            self.compute_requested.emit(rid)

    def clear(self) -> None:
        """No maps (their run is gone)."""
        self.result = None
        self.graphics.clear()
        self.color_bars, self.class_legends = [], []
        self.info.setText("choose a run and press Compute (runs in the background)")

    def show_result(self, res: dict) -> None:
        self.result = res
        i = self.run_box.findData(res.get("run_id"))
        if i >= 0:  # the run box names the run whose maps these are
            self.run_box.setCurrentIndex(i)
        self.graphics.clear()
        self.color_bars, self.class_legends = [], []
        if res.get("kind") == "grid":
            self._show_grid(res)
        else:
            self._show_image(res)

    def _plot(self, row: int, col: int, title: str, left: str, bottom: str) -> pg.PlotItem:
        self.graphics.ci.layout.setColumnStretchFactor(col, 1)   # the maps' columns share the width equally
        p = self.graphics.addPlot(row=row, col=col)
        p.setTitle(title, **TITLE_STYLE)
        label_axes(p, left, bottom)
        return p

    def _class_legend(self, row: int, col: int, colors, names: list[str], colspan: int = 1,
                      columns: int = 5) -> pg.LegendItem:
        legend = legend_row(self.graphics.ci, row, col, colspan=colspan, columns=columns)
        for color, name in zip(colors, names):
            legend.addItem(pg.ScatterPlotItem([], [], symbol="s", size=10, pen=None, brush=pg.mkBrush(color)), name)
        self.class_legends.append(legend)
        return legend

    def _show_grid(self, res: dict) -> None:
        xs, ys, pts, lab = res["xs"], res["ys"], res["points"], res["labels"]
        rect = QRectF(float(xs[0]), float(ys[0]), float(xs[-1] - xs[0]), float(ys[-1] - ys[0]))
        names = class_names(res, 2)
        what = "P(class 1)" if names[1] == "1" else f"P(class 1: {names[1]})"
        images, plots = [], []
        for col, (key, title) in enumerate((("on", "noise on (Monte-Carlo mean)"), ("off", "noise off (σ = 0)"))):
            p = self._plot(0, col, f"{what}, {title}", "x₂ (input units)", "x₁ (input units)")
            img = _image(np.asarray(res[key]).T, rect)  # ImageItem is (x, y)
            p.addItem(img)
            images.append(img)
            colors = [pg.mkBrush(GRID_CLASS_COLORS[int(v) != 0]) for v in lab]
            p.addItem(pg.ScatterPlotItem(pts[:, 0], pts[:, 1], size=4, pen=None, brush=colors))
            p.setAspectLocked(True)
            p.setRange(rect, padding=0.02)
            plots.append(p)
        _even(plots)
        self.color_bars.append(_color_bar(images, CMAP, what))
        self.graphics.addItem(self.color_bars[-1], row=0, col=2)
        self._class_legend(1, 0, GRID_CLASS_COLORS, [f"test point, class {n}" for n in names], colspan=2, columns=2)
        self.info.setText(printable(f"{res['run_id']}: P(class 1) over the test points' bounding box; "
                                    "dots: test points by true class"))

    def _show_image(self, res: dict) -> None:
        """Row 0: predicted class and P(true class) on one input plane (with its colour bar); row 1: the PCA
        and the class legend shared by the predicted-class map and the PCA."""
        c = res["coords"]
        rect = QRectF(float(c[0]), float(c[0]), float(c[-1] - c[0]), float(c[-1] - c[0]))
        pred = np.asarray(res["slice_pred"], dtype=float)
        labels = np.asarray(res.get("pca_labels", res.get("labels", [])), dtype=int)
        n = max(len(res.get("classes") or []), int(pred.max(initial=0)) + 1, int(labels.max(initial=0)) + 1, 2)
        colors, names = class_colors(n), class_names(res, n)
        u, v = (f"{a} (L2 distance, input units)" for a in res["axes"][:2])
        true = names[int(res["true"])] if 0 <= int(res["true"]) < n else str(res["true"])
        p = self._plot(0, 0, printable(f"predicted class around a test example (true: {true})"), v, u)
        img = _image(pred, rect)
        img.setLookupTable(np.array([col.getRgb()[:3] for col in colors], dtype=np.uint8))
        img.setLevels((0, n - 1))
        p.addItem(img)
        p.addItem(pg.ScatterPlotItem([0], [0], size=10, symbol="+", pen=pg.mkPen("k", width=2)))
        q = self._plot(0, 1, "P(true class) on the same plane", v, u)
        img2 = _image(res["slice_p"], rect)
        q.addItem(img2)
        self.color_bars.append(_color_bar([img2], pg.colormap.get("viridis"), "P(true class)"))
        self.graphics.addItem(self.color_bars[-1], row=0, col=2)
        for plot in (p, q):
            plot.setAspectLocked(True)
        _even([p, q])
        text = (f"{res['run_id']}: input slice along the FGSM direction and a random orthogonal direction "
                "(+: the example)")
        if "pca_clean" in res:
            self._show_pca(res, colors)
            text += "; PCA: dots = clean features by class, faint clouds = the layer's noise draws"
        elif "pca_error" in res:
            text += f"; PCA unavailable: {res['pca_error']}"
        self._class_legend(1, 1, colors, [f"class {k}" if k.isdigit() else k for k in names], colspan=2,
                           columns=2 if n > 4 else 1)
        for row in (0, 1):   # the PCA shares its row with the legend: both rows get the same height
            self.graphics.ci.layout.setRowStretchFactor(row, 1)
        self.info.setText(printable(text))

    def _show_pca(self, res: dict, colors: list) -> None:
        r = self._plot(1, 0, "features entering the first stochastic layer (PCA)", "PC 2 (feature units)",
                       "PC 1 (feature units)")
        noisy, clean, lab = res["pca_noisy"], res["pca_clean"], np.asarray(res["pca_labels"], dtype=int)
        for k, color in enumerate(colors):
            sel = lab == k
            if not sel.any():
                continue
            faint = pg.mkColor(color)
            faint.setAlpha(25)
            cloud = noisy[sel].reshape(-1, 2)
            r.addItem(pg.ScatterPlotItem(cloud[:, 0], cloud[:, 1], size=3, pen=None, brush=faint))
            r.addItem(pg.ScatterPlotItem(clean[sel, 0], clean[sel, 1], size=6, pen=pg.mkPen("k", width=0.5),
                                         brush=color))
