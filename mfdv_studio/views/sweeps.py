"""The sweep plots of the robustness view: robust accuracy against ε, PGD steps and EOT samples.

Each point is a stored row; its 95% interval is an error bar. Series are split by run, gradient mode
(single-sample dashed with hollow markers, EOT solid), loss and ε; what every series of a plot shares
(ε, MC samples, n) is said once in its title, the rest in a legend below the plot. ε is shown as ε·255
(8-bit steps 0, 1, 2, 4, 8, … evenly spaced) or as the raw budget, as the user picks.
"""
from __future__ import annotations

import html
import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from mfdv_engine.defaults import eps_text
from mfdv_engine.safetext import printable  # run ids and row fields come from the project file

from .plotting import EPS255, PALETTE, TITLE_STYLE, label_axes, legend_row, scale_axes

LOSS_NAMES = {"ce": "CE loss", "cw": "C&W margin loss", "dlr": "DLR loss"}
#: log-axis ticks (in log10 units, as pyqtgraph wants them): 1, 10, 100, … labelled, then 2 and 5 of each decade;
#: pyqtgraph's own log ticks crowd a short range (1–100) with overlapping labels
LOG_TICKS = [[(math.log10(v), str(v)) for v in (1, 10, 100, 1000, 10000)],
             [(math.log10(m * v), str(m * v)) for v in (1, 10, 100, 1000) for m in (2, 5)]]
#: sweep kind → (plot title, x field of a row, x-axis label, log x)
SWEEP_PLOTS = {
    "eps": ("ε sweep · PGD-10", "eps", "ε, raw (inputs in [0, 1])", False),
    "steps": ("steps sweep · PGD", "steps", "PGD steps (count, log)", True),
    "eot": ("EOT sweep · PGD-10", "eot_samples", "EOT samples S (count, log)", True),
}
Y_LABEL = "robust accuracy (%) ± 95% CI"
#: the ε axis choices: combo text, and the x label of the ε·255 axis
EPS_AXES = {"auto": "ε axis: auto", "255": "ε axis: ε·255 (8-bit steps)", "raw": "ε axis: raw ε"}
EPS255_LABEL = "ε (×1/255), log₂ spacing"


def gradient_order(g: str) -> tuple:
    """Sort key of a gradient label: single-sample first, then EOT-S by S."""
    return (0, 0) if g == "single-sample" else (1, int(g.split("-")[-1]) if g.split("-")[-1].isdigit() else 0)


def eps_on_255(rows: list[dict]) -> bool:
    """Whether every ε of the ε sweep is a whole number of 8-bit steps (k/255): then ε·255 reads best
    (no ε sweep: no claim, the raw axis; an empty plot said ×1/255 beside MNIST's ε = 0.3)."""
    eps = [float(r.get("eps") or 0) for r in rows if r.get("params", {}).get("sweep") == "eps"]
    return bool(eps) and all(abs(e * 255 - round(e * 255)) < 1e-6 for e in eps)


class SweepPlots(QWidget):
    """One plot per sweep kind (``plots[kind]``), its legend in its own row below it (never over the data),
    and the choice of ε axis above them."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.eps_axis = QComboBox()
        for key, text in EPS_AXES.items():
            self.eps_axis.addItem(text, key)
        self.eps_axis.setToolTip("auto: ε·255 when every ε is k/255 (8-bit images), else the raw budget")
        self.eps_axis.currentIndexChanged.connect(self._redraw)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("w")
        self.plots: dict[str, pg.PlotItem] = {}
        for col, (kind, (title, _, xlabel, logx)) in enumerate(SWEEP_PLOTS.items()):
            p = self.graphics.addPlot(row=0, col=col, axisItems=scale_axes())
            p.setTitle(title, **TITLE_STYLE)
            label_axes(p, Y_LABEL, xlabel)
            p.setLogMode(x=logx)
            if logx:
                p.getAxis("bottom").setTicks(LOG_TICKS)
            p.showGrid(x=True, y=True, alpha=0.2)
            p.setYRange(0, 100)
            p.legend = legend_row(self.graphics.ci, 1, col, columns=1)  # plot(name=...) files its curves here
            self.plots[kind] = p
        self.graphics.ci.layout.setRowStretchFactor(0, 1)
        self._rows: list[dict] = []
        top = QHBoxLayout()
        top.addStretch(1)
        top.addWidget(QLabel("ε shown as"))
        top.addWidget(self.eps_axis)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(top)
        lay.addWidget(self.graphics, 1)

    def eps_scale(self) -> bool:
        """Whether the ε plot shows ε·255 (the user's choice, or auto)."""
        mode = self.eps_axis.currentData()
        return mode == "255" or (mode == "auto" and eps_on_255(self._rows))

    @Slot()
    def _redraw(self) -> None:
        self.set_rows(self._rows)

    def set_rows(self, rows: list[dict]) -> None:
        """Redraw every sweep plot from the table's rows (dicts as stored in the project)."""
        self._rows = list(rows)
        on255 = self.eps_scale()
        p_eps = self.plots["eps"]
        p_eps.getAxis("bottom").set_scale(EPS255 if on255 else None)
        label_axes(p_eps, Y_LABEL, EPS255_LABEL if on255 else SWEEP_PLOTS["eps"][2])
        for kind, plot in self.plots.items():
            plot.clear()
            series = sweep_series(rows, kind)
            common, labels = series_labels([fields for fields, _, _ in series])
            # the shared protocol, said once
            # (two lines: three plots share the pane, and one line ran past the third's edge at 1280 px)
            plot.setTitle(html.escape(SWEEP_PLOTS[kind][0]) + "<br>" + html.escape(printable(" · ".join(common))),
                          **TITLE_STYLE)
            families: dict[tuple, int] = {}  # single-sample and EOT of one run, loss and ε share a colour
            for label, (_, family, rs) in zip(labels, series):
                color = PALETTE[families.setdefault(family, len(families)) % len(PALETTE)]
                _plot_series(plot, kind, color, printable(label), rs, on255)


def sweep_series(rows: list[dict], kind: str) -> list[tuple[dict, tuple, list[dict]]]:
    """(protocol fields, family, rows sorted along x) for each series of the ``kind`` sweep: one per run,
    gradient mode (except in the EOT sweep, whose x *is* the gradient samples), loss and, off the ε sweep,
    ε. A family (run, loss, ε) holds a single-sample series and its EOT twin."""
    xkey = SWEEP_PLOTS[kind][1]
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        params = r.get("params", {})
        if params.get("sweep") != kind:
            continue
        grad = "" if kind == "eot" else str(r.get("gradient", ""))
        eps = None if kind == "eps" else float(r.get("eps") or 0)
        groups.setdefault((str(r.get("run_id", "")), params.get("loss", "ce"), eps or 0.0, grad), []).append(r)
    out = []
    for (rid, loss, eps, grad), rs in sorted(groups.items(), key=lambda kv: kv[0][:3] + (gradient_order(kv[0][3]),)):
        rs = sorted(rs, key=lambda r: float(r.get(xkey) or 0))
        fields = {"series": f"{rid} {grad}".strip(), "loss": LOSS_NAMES.get(loss, str(loss)),
                  "eps": f"ε={eps_text(eps, rs[0].get('norm', 'Linf'))}" if kind != "eps" else "",
                  "mc": f"MC-{rs[0].get('mc_samples')}",
                  "n": "n=" + "/".join(str(n) for n in sorted({r.get("n") for r in rs}))}
        out.append((fields, (rid, loss, eps), rs))
    return out


def series_labels(fields: list[dict]) -> tuple[list[str], list[str]]:
    """(parts every series shares, one legend label per series). ε, MC samples and n go to the title when
    all series agree on them; run, gradient mode and loss always stay in the legend."""
    common = [k for k in ("eps", "mc", "n") if fields and len({f[k] for f in fields}) == 1]
    title = [fields[0][k] for k in common if fields[0][k]]
    labels = [", ".join(v for k, v in f.items() if v and k not in common) for f in fields]
    return title, labels


def _plot_series(plot: pg.PlotItem, kind: str, color: str, label: str, rs: list[dict], on255: bool) -> None:
    """Robust accuracy (%) against the swept value with each point's 95% interval as an error bar;
    EOT series solid, single-sample dashed. ``on255``: ε drawn at its ε·255 axis position."""
    _, xkey, _, logx = SWEEP_PLOTS[kind]
    x = np.array([float(r.get(xkey) or 0) for r in rs])
    if kind == "eps" and on255:
        x = EPS255.fwd(255 * x)
    y = 100 * np.array([float(r["robust_acc"]) for r in rs])
    lo = 100 * np.array([float(r.get("ci_low", r["robust_acc"])) for r in rs])
    hi = 100 * np.array([float(r.get("ci_high", r["robust_acc"])) for r in rs])
    eot = kind == "eot" or str(rs[0].get("gradient", "")).startswith("EOT")
    plot.plot(x, y, pen=pg.mkPen(color, width=2, style=Qt.SolidLine if eot else Qt.DashLine), symbol="o",
              symbolBrush=color if eot else "w", symbolPen=pg.mkPen(color, width=1.5), symbolSize=7, name=label)
    # ErrorBarItem ignores the plot's log mode: give it log10 x on the log plots
    span = float(x.max() - x.min()) if len(x) else 0.0
    bx, beam = (np.log10(x), 0.05) if logx else (x, 0.015 * span if span > 0 else 0.01)
    plot.addItem(pg.ErrorBarItem(x=bx, y=y, top=hi - y, bottom=y - lo, beam=beam, pen=pg.mkPen(color, width=1.5)))
