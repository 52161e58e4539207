"""Live training curves: plot items created once, fed by setData from a timer, one plot per tick.

The live (or shown) run and the runs compared with it are :class:`.runlines.RunLines`: a run alone
draws each metric in its own colour; compared runs are one colour each on every plot, their metrics
told apart by line style. Legends sit in layout rows below the plots (:mod:`.plotting`), never over
the data; the loss axis can be symlog (MFDV's loss is negative by design) or log |loss|.
"""
from __future__ import annotations

import errno
import os

import numpy as np
import pyqtgraph as pg
import pyqtgraph.exporters  # noqa: F401  (registers exporters)
from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QSlider,
                               QVBoxLayout, QWidget)

import mfdv_engine as mfdv
from mfdv_engine.safetext import printable  # run names, messages and layer names come from the project file

from ..export_folder import ExportFolder
from .curvedata import X_AXES, CurveBuffer, as_arrays, with_x
from .plotting import (LOG_ABS, SYMLOG, SYMLOG_C, TITLE_STYLE, label_axes, legend_row, run_color, sample,
                       scale_axes)
from .plotfit import NoDataNote, RangeFitter, skipped_notes
from .runlines import Metric, RunLines, layers_of, metrics_of

#: plot key → (title, y-axis label with its unit)
PLOTS = {
    "loss": ("loss", "loss (nats)"),
    "acc": ("accuracy", "accuracy (%)"),
    "lr": ("learning rate", "learning rate (per step)"),
    "sigma": ("σ per stochastic layer (line: mean, band: min–max)", "σ (layer-input units)"),
}
#: the σ plot's sentence when no run shown has a learned σ
NO_SIGMA = ("no σ to show: this run has no learned-variance layer\n"
            "(a plain or adversarially trained network, or PNI's own noise)")
#: the loss axis choices: (combo text, scale, axis label saying which)
LOSS_AXES = {
    "linear": ("loss axis: linear", None, "loss (nats)"),
    "symlog": ("loss axis: symlog", SYMLOG,
               f"loss (nats), symlog, c = {SYMLOG_C:g}"),
    "abs": ("loss axis: log |loss|", LOG_ABS, "|loss| (nats), log scale"),
}
NEUTRAL = "#555"   # legend samples of a line style shared by all compared runs


class TrainingView(QWidget):
    #: "Export CSV…": the window writes the selected runs' stored curves (read on its reader)
    curves_export_requested = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.buffer = CurveBuffer()
        self.exports = ExportFolder()   # where its save dialogs open (the window shares its own)
        self.live_run: str | None = None
        self.main_name = ""
        self.steps_per_epoch: int | None = None   # the live run's (its trainer says at the start)
        self.fitter = RangeFitter()
        self.overlays: dict[str, dict] = {}   # run_id -> {"name":, "curves":}
        self._build_plots()
        self.main = RunLines(self.plots, main=True)
        self.compared: list[RunLines] = []
        self._compared_arrays: list[dict] = []
        self._main_in_legend = False
        self._legend_sig: tuple | None = None
        self._pending: list[pg.PlotItem] = []   # plots whose data changed since they were drawn
        self._arrays = self.buffer.arrays()
        self._build_controls()

        self.timer = QTimer(self)
        self.timer.setInterval(50)   # one plot per tick: each plot at ~5 Hz
        self.timer.timeout.connect(self.tick)
        self.timer.start()
        self.redraws = 0

    def _build_plots(self) -> None:
        """Four plots in rows 0 and 2, each with its legend in the row below; the compared runs' legend last."""
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("w")
        self.plots: dict[str, pg.PlotItem] = {}
        self.legends: dict[str, pg.LegendItem] = {}
        for i, (key, (title, left)) in enumerate(PLOTS.items()):
            row, col = 2 * (i // 2), i % 2
            p = self.graphics.addPlot(row=row, col=col, axisItems=scale_axes())
            p.setTitle(title, **TITLE_STYLE)
            label_axes(p, left, X_AXES["step"])
            # a GridItem in the view, not the axes' own grid (showGrid): with it
            # every repaint replays both axes' pictures over the whole plot, 55-60 ms
            # for the four plots in software rendering against 10 ms with this
            grid = pg.GridItem()
            grid.setTickSpacing(x=[None, None], y=[None, None])  # two levels: ~10 lines and ~1 per view
            grid.setTextPen(None)
            grid.setPen(pg.mkPen(0, 0, 0, 40))
            p.addItem(grid, ignoreBounds=True)
            self.plots[key] = p
            self.legends[key] = legend_row(self.graphics.ci, row + 1, col, columns=3)
        self.run_legend = legend_row(self.graphics.ci, 4, 0, colspan=2, columns=4)
        self.p_loss, self.p_acc, self.p_lr, self.p_sigma = self.plots.values()
        self._plots = list(self.plots.values())
        self.sigma_note = NoDataNote(self.p_sigma)

    def _build_controls(self) -> None:
        self.smooth_slider = QSlider(Qt.Horizontal)
        self.smooth_slider.setRange(0, 99)
        self.smooth_slider.setValue(60)
        self.smooth_slider.setToolTip("smoothing (exponential moving average) of every run shown; "
                                      "the live or shown run's raw curve stays faint behind")
        self.smooth_slider.valueChanged.connect(self._mark_dirty)
        self.loss_axis = QComboBox()
        for name, (text, _, _) in LOSS_AXES.items():
            self.loss_axis.addItem(text, name)
        self.loss_axis.setToolTip(f"symlog: sign(y)·log10(1+|y|/c), c = {SYMLOG_C:g}, keeps MFDV's negative loss; "
                                  "log |loss| drops exact zeros (and says so in the plot)")
        self.loss_axis.currentIndexChanged.connect(self._set_loss_axis)
        self.x_axis = QComboBox()
        for key, text in (("step", "x: step"), ("epoch", "x: epoch"), ("time", "x: training time")):
            self.x_axis.addItem(text, key)
        self.x_axis.setToolTip("what the curves are drawn over: optimiser steps, epochs (fractional between "
                               "epoch ends), or seconds of training since the run began (evaluation not counted)")
        self.x_axis.currentIndexChanged.connect(self._set_x_axis)
        self.status = QLabel("no run yet")
        self.status.setTextFormat(Qt.PlainText)  # shows run names and failure sentences
        # a long failure sentence wraps: unwrapped it widened the whole window past the screen
        self.status.setWordWrap(True)
        self.status.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        png = QPushButton("Export PNG…")
        png.clicked.connect(self._export_png_dialog)
        svg = QPushButton("Export SVG…")
        svg.clicked.connect(self._export_svg_dialog)
        csv_button = QPushButton("Export CSV…")
        csv_button.setToolTip("the selected runs' stored curves (every run when none is selected), "
                              "one line per step and per epoch")
        csv_button.clicked.connect(self.curves_export_requested)

        bar = QHBoxLayout()
        bar.addWidget(QLabel("Smoothing"))
        bar.addWidget(self.smooth_slider, 1)
        bar.addWidget(self.x_axis)
        bar.addWidget(self.loss_axis)
        bar.addWidget(png)
        bar.addWidget(svg)
        bar.addWidget(csv_button)
        lay = QVBoxLayout(self)
        lay.addLayout(bar)
        lay.addWidget(self.graphics, 1)
        lay.addWidget(self.status)

    # ---------------------------------------------------------------- live data
    def start_live(self, run_id: str | None, name: str = "") -> None:
        self.buffer.clear()
        self.live_run = run_id
        self.steps_per_epoch = None
        self._live_name = name or run_id or ""
        self.main_name = f"{self._live_name} (live)"
        self._legend_sig = None
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
        """The live run ended: its curves stay, named without "(live)"."""
        self.status.setText(printable(text))
        if self.main_name.endswith(" (live)"):
            self.main_name = self.main_name[:-len(" (live)")]
            self._legend_sig = None
        self.live_run = None
        self.buffer.dirty = True

    def set_steps_per_epoch(self, n: int) -> None:
        """The live run's steps per epoch (its epochs axis before its first epoch ends)."""
        self.steps_per_epoch = int(n) or None
        self.buffer.dirty = True

    def show_curves(self, curves: dict, label: str) -> None:
        """Show a stored run (not training now) as the main curves."""
        self.buffer.clear()
        self.steps_per_epoch = None
        self.load_existing(curves)
        self.buffer.dirty = True  # also when the stored run has no points: clear the previous curves
        self.main_name = label
        self._legend_sig = None
        self.status.setText(printable(label))

    # ---------------------------------------------------------------- compared runs
    def set_overlays(self, runs: dict[str, dict], keep_main: bool = True) -> None:
        """Compare ``{run_id: {"name": str, "curves": project.curves(run_id)}}``: each run one colour on every
        plot. ``keep_main``: the live run stays (as the first colour); else its curves are cleared, so that a
        selected run is drawn once, as one of the compared runs."""
        for lines in [self.main, *self.compared]:
            lines.remove()
        if not keep_main:
            self.buffer.clear()
            self.main_name = ""
            if runs:
                self.status.setText(f"comparing {len(runs)} runs: one colour per run, line style per metric")
        self.overlays = runs
        self._main_in_legend = bool(runs) and keep_main
        offset = int(self._main_in_legend)
        n = len(runs) + offset
        self.main = RunLines(self.plots, run_color(0, n) if self._main_in_legend else None, main=True)
        self.compared = [RunLines(self.plots, run_color(i + offset, n)) for i in range(len(runs))]
        self._compared_arrays = [as_arrays(info.get("curves") or {}) for info in runs.values()]
        self._legend_sig = None
        self.buffer.dirty = True

    # ---------------------------------------------------------------- drawing
    @Slot()
    def _mark_dirty(self) -> None:
        self.buffer.dirty = True

    @Slot(int)
    def _set_loss_axis(self, _index: int) -> None:
        _, scale, label = LOSS_AXES[self.loss_axis.currentData()]
        self.p_loss.getAxis("left").set_scale(scale)
        label_axes(self.p_loss, label, X_AXES[self.x_axis.currentData()])
        self.buffer.dirty = True

    @Slot(int)
    def _set_x_axis(self, _index: int) -> None:
        for key, plot in self.plots.items():
            left = LOSS_AXES[self.loss_axis.currentData()][2] if key == "loss" else PLOTS[key][1]
            label_axes(plot, left, X_AXES[self.x_axis.currentData()])
            plot.enableAutoRange()   # the old axis's range means nothing on the new one
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

    def _runs(self) -> list[tuple[RunLines, dict]]:
        """Each run's lines and its curves, with the x of the chosen axis (``_x``) added."""
        axis = self.x_axis.currentData()
        return [(self.main, with_x(self._arrays, axis, self.steps_per_epoch)),
                *((lines, with_x(a, axis)) for lines, a in zip(self.compared, self._compared_arrays))]

    def _draw(self, plot: pg.PlotItem) -> None:
        key = next(k for k, p in self.plots.items() if p is plot)
        weight = self.smooth_slider.value() / 100.0
        loss_scale = LOSS_AXES[self.loss_axis.currentData()][1]
        runs = self._runs()
        layers = sorted({layer for _, arrays in runs for layer in layers_of(arrays["step"])})
        counts: dict[str, tuple[int, int]] = {}
        scales = {"loss": loss_scale, "x": self.x_axis.currentData()}
        for lines, arrays in runs:
            for label, (bad, off) in lines.draw(key, arrays, layers, weight, scales).items():
                b, o = counts.get(label, (0, 0))
                counts[label] = (b + bad, o + off)
        notes = skipped_notes(counts, loss_scale.name if key == "loss" and loss_scale else "") + self._axis_notes(runs)
        title = printable(self._title(key) + "".join(f"<br>⚠ {n}" for n in notes))
        if plot.titleLabel.text != title:
            plot.setTitle(title, **TITLE_STYLE)
        if key == "sigma":
            has_points = any(len(a["step"].get("step", ())) for _, a in runs)
            if has_points and not layers:
                self.sigma_note.show(NO_SIGMA)
            else:
                self.sigma_note.hide()
        if not (key == "sigma" and self.sigma_note.shown):
            self.fitter.fit(key, plot)
        self._update_legends(runs, layers)

    def _axis_notes(self, runs: list[tuple[RunLines, dict]]) -> list[str]:
        """On the training-time axis, a run that stored no times (an older project) is not drawn: say so."""
        if self.x_axis.currentData() != "time":
            return []
        missing = sum(1 for _, a in runs if len(a["step"].get("step", ())) and "time" not in a["step"])
        return [f"{missing} run(s) stored no training time: choose x: step or epoch"] if missing else []

    def _title(self, key: str) -> str:
        """A plot's title; compared runs draw σ means only (a band each would hide the others)."""
        if key == "sigma" and self.compared:
            return "σ per stochastic layer (mean" + (", band: live run's min–max)" if self._main_in_legend else ")")
        return PLOTS[key][0]

    def _update_legends(self, runs: list[tuple[RunLines, dict]], layers: list[str]) -> None:
        """Metric legends below each plot (colours for a run alone, line styles when runs are compared) and
        the compared runs' colours in the bottom row; rebuilt only when what they list changes."""
        present: dict[str, Metric] = {}
        for _, arrays in runs:
            present.update({m.field: m for m in metrics_of(arrays, layers)})
        compare = bool(self.compared)
        names = ([self.main_name or "live run"] if self._main_in_legend else []) + \
            [str(info.get("name") or rid) + f" ({rid})" for rid, info in self.overlays.items()]
        sig = (compare, tuple(present), tuple(names))
        if sig == self._legend_sig:
            return
        self._legend_sig = sig
        for legend in [*self.legends.values(), self.run_legend]:
            legend.clear()
        for m in present.values():
            color = NEUTRAL if compare else m.color
            style = m.style if compare or m.plot != "sigma" else Qt.SolidLine
            self.legends[m.plot].addItem(sample(color, style, m.symbol), printable(m.label))
        if compare:
            for i, (lines, name) in enumerate(zip([self.main] * self._main_in_legend + self.compared, names)):
                self.run_legend.addItem(sample(lines.color), printable(name))

    # ---------------------------------------------------------------- export
    def export(self, path: str) -> None:
        """PNG or SVG of the plots; the dialog asked before replacing, the engine's output rule
        still refuses a project, its lock or a read-only file (MfdvError)."""
        mfdv.check_output(path, what="a plot image", overwrite=True, example="curves.png")
        self.refresh()
        item = self.graphics.scene()
        if path.lower().endswith(".svg"):
            exp = pg.exporters.SVGExporter(item)
        else:
            exp = pg.exporters.ImageExporter(item)
        exp.export(path)
        if not os.path.isfile(path):  # QImage.save fails quietly (a folder, no permission, a full disk)
            raise OSError(errno.EIO, "nothing was written there", path)

    @Slot()
    def _export_png_dialog(self) -> None:
        self._export_dialog("curves.png", "PNG image (*.png)")

    @Slot()
    def _export_svg_dialog(self) -> None:
        self._export_dialog("curves.svg", "SVG drawing (*.svg)")

    def _export_dialog(self, name: str, filt: str) -> None:
        """A folder, no permission or a full disk: said under the plots, never raised in the slot."""
        path = self.exports.ask(self, "Export plots", name, filt)
        if not path:
            return
        try:
            self.export(path)
        except OSError as e:
            self.status.setText(printable(f"could not write {path}: {e.strerror or e}"))
        except mfdv.MfdvError as e:
            self.status.setText(printable(f"not written: {e}"))
