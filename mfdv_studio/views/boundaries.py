"""Decision boundaries: P(class 1) with noise on / off (2-D runs); input slice and feature PCA (images)."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from mfdv_engine.safetext import printable  # run names and ids come from the project file

CMAP = pg.colormap.get("CET-D1")   # diverging: blue (class 0) – white – red (class 1)


class BoundariesView(QWidget):
    compute_requested = Signal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.run_box = QComboBox()
        go = QPushButton("Compute")
        go.clicked.connect(self._go)
        self.info = QLabel("choose a run and press Compute (runs in the background)")
        self.info.setTextFormat(Qt.PlainText)
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

    def show_result(self, res: dict) -> None:
        self.result = res
        self.graphics.clear()
        if res.get("kind") == "grid":
            self._show_grid(res)
        else:
            self._show_image(res)

    def _show_grid(self, res: dict) -> None:
        xs, ys, pts, lab = res["xs"], res["ys"], res["points"], res["labels"]
        rect = QRectF(float(xs[0]), float(ys[0]), float(xs[-1] - xs[0]), float(ys[-1] - ys[0]))
        for col, (key, title) in enumerate((("on", "noise on (Monte-Carlo mean)"), ("off", "noise off (σ = 0)"))):
            p = self.graphics.addPlot(row=0, col=col, title=f"P(class 1), {title}")
            img = pg.ImageItem(np.asarray(res[key]).T)  # ImageItem is (x, y)
            img.setLookupTable(CMAP.getLookupTable(0, 1, 256))
            img.setLevels((0, 1))
            img.setRect(rect)
            p.addItem(img)
            colors = [pg.mkBrush("#1f3b99") if int(v) == 0 else pg.mkBrush("#a31621") for v in lab]
            p.addItem(pg.ScatterPlotItem(pts[:, 0], pts[:, 1], size=4, pen=None, brush=colors))
            p.setAspectLocked(True)
        self.info.setText(printable(f"{res['run_id']}: P(class 1) over the test points' bounding box; "
                                    "blue = class 0, red = class 1"))

    def _show_image(self, res: dict) -> None:
        c = res["coords"]
        rect = QRectF(float(c[0]), float(c[0]), float(c[-1] - c[0]), float(c[-1] - c[0]))
        p = self.graphics.addPlot(row=0, col=0, title=f"predicted class around a test example (true {res['true']})")
        img = pg.ImageItem(np.asarray(res["slice_pred"], dtype=float))
        img.setLookupTable(np.array([pg.intColor(k, hues=10).getRgb()[:3] for k in range(10)], dtype=np.uint8))
        img.setLevels((0, 9))
        img.setRect(rect)
        p.addItem(img)
        p.setLabel("bottom", res["axes"][0])
        p.setLabel("left", res["axes"][1])
        p.addItem(pg.ScatterPlotItem([0], [0], size=10, symbol="+", pen=pg.mkPen("k", width=2)))
        q = self.graphics.addPlot(row=0, col=1, title="P(true class) on the same plane")
        img2 = pg.ImageItem(np.asarray(res["slice_p"], dtype=float))
        img2.setLookupTable(pg.colormap.get("viridis").getLookupTable(0, 1, 256))
        img2.setLevels((0, 1))
        img2.setRect(rect)
        q.addItem(img2)
        text = f"{res['run_id']}: input slice along the FGSM direction and a random orthogonal direction"
        if "pca_clean" in res:
            r = self.graphics.addPlot(row=0, col=2, title="features entering the first stochastic layer (PCA)")
            noisy, clean, lab = res["pca_noisy"], res["pca_clean"], res["pca_labels"]
            for k in range(10):
                sel = lab == k
                if not sel.any():
                    continue
                color = pg.intColor(k, hues=10)
                faint = pg.mkColor(color)
                faint.setAlpha(25)
                cloud = noisy[sel].reshape(-1, 2)
                r.addItem(pg.ScatterPlotItem(cloud[:, 0], cloud[:, 1], size=3, pen=None, brush=faint))
                r.addItem(pg.ScatterPlotItem(clean[sel, 0], clean[sel, 1], size=6, pen=pg.mkPen("k", width=0.5),
                                             brush=color, name=str(k)))
            text += "; PCA: dots = clean features by class, faint clouds = the layer's noise draws"
        elif "pca_error" in res:
            text += f"; PCA unavailable: {res['pca_error']}"
        self.info.setText(printable(text))

