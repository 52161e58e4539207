"""The sweep plots of the robustness view: robust accuracy against ε, PGD steps and EOT samples.

Each point is a stored row; its 95% interval is an error bar. Series are split by run, gradient mode
(single-sample dashed with hollow markers, EOT solid), loss and ε; what every series of a plot shares
(ε, MC samples, n) is said once in its title, the rest in a legend below the plot.
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QSizePolicy

from mfdv_engine.safetext import printable  # run ids and row fields come from the project file

LOSS_NAMES = {"ce": "CE loss", "cw": "C&W margin loss", "dlr": "DLR loss"}
#: log-axis ticks (in log10 units, as pyqtgraph wants them): 1, 10, 100, … labelled, then 2 and 5 of each decade;
#: pyqtgraph's own log ticks crowd a short range (1–100) with overlapping labels
LOG_TICKS = [[(math.log10(v), str(v)) for v in (1, 10, 100, 1000, 10000)],
             [(math.log10(m * v), str(m * v)) for v in (1, 10, 100, 1000) for m in (2, 5)]]
#: small titles: a title's width is a minimum width of its column, and three plots share the pane
TITLE_STYLE = {"size": "9pt", "color": "#444"}
#: series colours that read on white (matplotlib's tab10)
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
#: sweep kind → (plot title, x field of a row, x-axis label, log x)
SWEEP_PLOTS = {
    "eps": ("ε sweep · PGD-10", "eps", "ε, L∞ budget (inputs in [0, 1])", False),
    "steps": ("steps sweep · PGD", "steps", "PGD steps (log scale)", True),
    "eot": ("EOT sweep · PGD-10", "eot_samples", "EOT samples S (log; S = 1: single-sample)", True),
}


def eps_text(eps, norm: str = "Linf") -> str:
    """ε as the table shows it: k/255 where it is one, else 4 significant digits."""
    if eps is None:
        return ""
    k = float(eps) * 255
    if norm == "Linf" and eps > 0 and abs(k - round(k)) < 1e-6:
        return f"{int(round(k))}/255"
    return f"{float(eps):.4g}"


def gradient_order(g: str) -> tuple:
    """Sort key of a gradient label: single-sample first, then EOT-S by S."""
    return (0, 0) if g == "single-sample" else (1, int(g.split("-")[-1]) if g.split("-")[-1].isdigit() else 0)


class SweepPlots(pg.GraphicsLayoutWidget):
    """One plot per sweep kind (``plots[kind]``), its legend in its own row below it (never over the data)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setBackground("w")
        self.plots: dict[str, pg.PlotItem] = {}
        for col, (kind, (title, _, xlabel, logx)) in enumerate(SWEEP_PLOTS.items()):
            p = self.addPlot(row=0, col=col)
            p.setTitle(title, **TITLE_STYLE)
            p.setLabel("bottom", xlabel)
            p.setLabel("left", "robust acc. (%) ± 95% CI")
            p.getAxis("bottom").enableAutoSIPrefix(False)  # ε in plain numbers, not "(x0.001)"
            p.setLogMode(x=logx)
            if logx:
                p.getAxis("bottom").setTicks(LOG_TICKS)
            p.showGrid(x=True, y=True, alpha=0.2)
            p.setYRange(0, 100)
            # plot(name=...) files its curves in p.legend
            p.legend = pg.LegendItem(labelTextSize="8pt", labelTextColor="#333", verSpacing=-4)
            p.legend.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Fixed)
            self.addItem(p.legend, row=1, col=col)
            self.plots[kind] = p
        self.ci.layout.setRowStretchFactor(0, 1)
        self.ci.layout.setRowStretchFactor(1, 0)

    def set_rows(self, rows: list[dict]) -> None:
        """Redraw every sweep plot from the table's rows (dicts as stored in the project)."""
        for kind, plot in self.plots.items():
            plot.clear()
            series = sweep_series(rows, kind)
            common, labels = series_labels([fields for fields, _, _ in series])
            # the shared protocol, said once
            plot.setTitle(printable(" · ".join([SWEEP_PLOTS[kind][0]] + common)), **TITLE_STYLE)
            families: dict[tuple, int] = {}  # single-sample and EOT of one run, loss and ε share a colour
            for label, (_, family, rs) in zip(labels, series):
                color = PALETTE[families.setdefault(family, len(families)) % len(PALETTE)]
                _plot_series(plot, kind, color, printable(label), rs)


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


def _plot_series(plot: pg.PlotItem, kind: str, color: str, label: str, rs: list[dict]) -> None:
    """Robust accuracy (%) against the swept value with each point's 95% interval as an error bar;
    EOT series solid, single-sample dashed."""
    _, xkey, _, logx = SWEEP_PLOTS[kind]
    x = np.array([float(r.get(xkey) or 0) for r in rs])
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
