"""Clean / perturbation / adversarial triplets of one robustness row."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, Qt, Signal, Slot
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (QComboBox, QDialog, QFrame, QGridLayout, QHBoxLayout, QLabel, QScrollArea,
                               QVBoxLayout, QWidget)

from mfdv_engine.defaults import eps_text
from mfdv_engine.safetext import printable  # run names, row keys and member names come from the project file

from .rowtext import row_label, sorted_rows
from .sweep_slider import SweepSlider
from .sweeps import LOSS_NAMES

THUMB = 84


def to_pixmap(img: np.ndarray, size: int) -> QPixmap:
    """(C, H, W) float in [0, 1] → pixmap (nearest-neighbour scaled)."""
    a = np.clip(np.asarray(img, dtype=np.float32), 0, 1)
    a = (a * 255).round().astype(np.uint8)
    if a.shape[0] == 1:
        g = np.ascontiguousarray(a[0])
        q = QImage(g.data, g.shape[1], g.shape[0], g.strides[0], QImage.Format_Grayscale8)
    else:
        rgb = np.ascontiguousarray(a[:3].transpose(1, 2, 0))
        q = QImage(rgb.data, rgb.shape[1], rgb.shape[0], rgb.strides[0], QImage.Format_RGB888)
    return QPixmap.fromImage(q.copy()).scaled(size, size, Qt.KeepAspectRatio, Qt.FastTransformation)


def triplets(g: dict, eps: float | None, members: list[dict] | None = None) -> tuple[list[dict], float]:
    """Per example: clean, amplified perturbation, adversarial (all in [0, 1]), labels; and the factor.

    The perturbation δ = adv − clean is shown as 0.5 + k·δ with one fixed k for
    the whole row, k = 0.5 / level, level = ε (or the largest |δ| when ε does not
    bound the perturbation), so ±ε maps to black/white. "success" is the row's
    own verdict where stored (every re-judging draw; for a suite, any member),
    else the first re-prediction; a suite's examples name the member (and its
    gradient mode) that broke them first, or say they held (``members``: the
    suite row's params).
    """
    clean = g["clean"].astype(np.float32) / 255.0
    adv = g["adv"].astype(np.float32)
    delta = adv - clean
    level = float(eps) if eps and 0 < float(eps) < 1 else float(np.abs(delta).max() or 1.0)
    k = 0.5 / max(level, 1e-6)
    out = []
    for i in range(len(clean)):
        y, cp, ap = int(g["label"][i]), int(g["clean_pred"][i]), int(g["adv_pred"][i])
        t = {"clean": clean[i], "pert": 0.5 + k * delta[i], "adv": adv[i], "label": y,
             "clean_pred": cp, "clean_conf": float(g["clean_conf"][i]), "adv_pred": ap,
             "adv_conf": float(g["adv_conf"][i]), "attacked": cp == y, "success": cp == y and ap != y, "by": "",
             "shown": ""}
        if "broken_by" in g and i < len(g["broken_by"]):
            b = int(g["broken_by"][i])
            t["success"] = b >= 0
            if b >= 0 and members and b < len(members):
                t["by"] = f"broken by {member_text(members[b])}"
            elif b == -1:
                t["by"] = "held: no member broke it"
                if members:  # the suite keeps the last member's adversarial for a survivor
                    t["shown"] = f"adversarial shown: {members[-1]['attack']}'s"
        elif "robust" in g and i < len(g["robust"]):
            t["success"] = int(g["robust"][i]) == 0
        # the prediction shown is the first re-judging draw's; the verdict counts every draw
        t["note"] = "right on this draw, wrong on a later one" if t["success"] and ap == y else ""
        out.append(t)
    return out, k


def member_text(m: dict) -> str:
    """A suite member as a cell names it: its attack and, where stored, its gradient mode."""
    return f"{m.get('attack', '?')} ({m['gradient']})" if m.get("gradient") else str(m.get("attack", "?"))


def protocol_text(row: dict) -> str:
    """The protocol of the row whose examples are shown, for the legend."""
    if not row:
        return ""
    steps = row.get("steps")
    loss = row.get("params", {}).get("loss")
    norm = row.get("norm", "Linf")
    parts = [str(row.get("attack", "?")), f"{norm} ε={eps_text(row.get('eps'), norm)}",
             f"{steps} step{'s' if steps != 1 else ''}" if steps else "",
             f"{LOSS_NAMES.get(loss, loss)}" if loss else "",
             f"gradients: {row.get('gradient', '?')}", f"EOT samples {row.get('eot_samples', '?')}",
             f"MC-{row.get('mc_samples', '?')}", f"n={row.get('n', '?')}", f"seed {row.get('seed', '?')}"]
    return "source row: " + " · ".join(p for p in parts if p)


class _Cell(QFrame):
    clicked = Signal(int)

    def __init__(self, i: int, t: dict, size: int) -> None:
        super().__init__()
        self.i = i
        self.setFrameShape(QFrame.StyledPanel)
        self.setCursor(Qt.PointingHandCursor)
        lay = QGridLayout(self)
        lay.setSpacing(2)
        lay.setContentsMargins(4, 4, 4, 4)
        for col, (key, pred, conf) in enumerate((("clean", t["clean_pred"], t["clean_conf"]), ("pert", None, None),
                                                  ("adv", t["adv_pred"], t["adv_conf"]))):
            img = QLabel()
            img.setPixmap(to_pixmap(t[key], size))
            lay.addWidget(img, 0, col, Qt.AlignCenter)
            text = "δ" if pred is None else f"true {t['label']} · pred {pred} ({conf:.0%})"
            lab = QLabel(text)
            lab.setStyleSheet("font-size: 9px")
            if key == "adv":  # grey: the clean prediction was already wrong, nothing was attacked
                colour = "#b00020" if t["success"] else "#145214" if t["attacked"] else "#777777"
                lab.setStyleSheet("font-size: 9px; color: %s" % colour)
            lay.addWidget(lab, 1, col, Qt.AlignCenter)
        for line, text in ((2, t["by"]), (3, t.get("note", ""))):
            if text:
                by = QLabel(printable(text))
                by.setTextFormat(Qt.PlainText)
                by.setWordWrap(True)  # a member's gradient mode can be long: wrap, not widen the cell
                by.setAlignment(Qt.AlignCenter)
                by.setStyleSheet("font-size: 9px")
                lay.addWidget(by, line, 0, 1, 3)
        if t.get("shown"):
            self.setToolTip(printable(t["shown"]))

    def mousePressEvent(self, e) -> None:
        self.clicked.emit(self.i)


class GalleryView(QWidget):
    selection_changed = Signal(str, str)   # run id, row key

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.run_box = QComboBox()
        self.key_box = QComboBox()
        self.key_box.setMinimumContentsLength(40)
        self.filter_box = QComboBox()
        self.filter_box.addItems(["all", "only successful attacks", "only failed attacks"])
        self.legend = QLabel("")
        self.legend.setTextFormat(Qt.PlainText)  # may show an error quoting a row key
        self.legend.setWordWrap(True)
        self.run_box.currentIndexChanged.connect(self._run_changed)
        self.key_box.currentIndexChanged.connect(self._key_changed)
        self.filter_box.currentIndexChanged.connect(self._rebuild)
        self.sweep = SweepSlider()   # hidden unless the row belongs to a sweep
        self.sweep.row_chosen.connect(self._sweep_chosen)
        top = QHBoxLayout()
        top.addWidget(QLabel("Run"))
        top.addWidget(self.run_box)
        top.addWidget(QLabel("Row"))
        top.addWidget(self.key_box, 1)
        top.addWidget(self.filter_box)
        self.grid_host = QWidget()
        self.grid = QGridLayout(self.grid_host)
        self.grid.setAlignment(Qt.AlignTop | Qt.AlignLeft)  # cells keep their size; a few do not stretch
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.grid_host)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.sweep)
        lay.addWidget(self.legend)
        lay.addWidget(scroll, 1)
        self.items: list[dict] = []
        self.shown: list[int] = []
        self._cells: list[_Cell] = []
        self._cols = 0
        self.factor = 1.0
        self._rows: dict[str, list[dict]] = {}
        self._loader = None
        self._current: tuple[str, str, dict] | None = None   # the row shown or being read
        self._wanted: tuple[str, str] | None = None           # a row to show once it is listed
        self.dialog: QDialog | None = None
        self._viewport = scroll.viewport()
        self._viewport.installEventFilter(self)   # re-flow the cells when the pane's width changes

    def set_source(self, loader, rows_by_run: dict[str, list[dict]], names: dict[str, str]) -> None:
        """``loader(run_id, key)``: the row's gallery arrays, or None when they come later
        through :meth:`show_gallery` (the studio reads them on its reader thread); rows per run."""
        self._loader = loader
        self._rows = rows_by_run
        cur = self.run_box.currentData()
        self.run_box.blockSignals(True)
        self.run_box.clear()
        for rid, rows in rows_by_run.items():
            if rows:
                self.run_box.addItem(printable(f"{names.get(rid, rid)} ({rid})"), rid)
        i = self.run_box.findData(cur)
        self.run_box.setCurrentIndex(max(i, 0))
        self.run_box.blockSignals(False)
        self._run_changed()
        if self._wanted is not None:
            self.select(*self._wanted)

    def select(self, run_id: str, key: str) -> None:
        """Show this row's examples; a row the gallery does not list yet is shown once it does."""
        i = self.run_box.findData(run_id)
        if i >= 0:
            self.run_box.setCurrentIndex(i)
            self._run_changed()
        j = self.key_box.findData(key) if i >= 0 else -1
        self._wanted = None if j >= 0 else (run_id, key)
        if j >= 0:
            self.key_box.setCurrentIndex(j)

    @Slot()
    def _run_changed(self) -> None:
        rid = self.run_box.currentData()
        cur = self.key_box.currentData()
        self.key_box.blockSignals(True)
        self.key_box.clear()
        for r in sorted_rows(self._rows.get(rid, [])):   # as the robustness table lists them, readable
            self.key_box.addItem(printable(row_label(r)), r["key"])
            self.key_box.setItemData(self.key_box.count() - 1, printable(r.get("protocol") or r["key"], multiline=True),
                                     Qt.ToolTipRole)
        j = self.key_box.findData(cur)
        self.key_box.setCurrentIndex(max(j, 0))
        self.key_box.blockSignals(False)
        self._key_changed()

    @Slot()
    def _key_changed(self) -> None:
        rid, key = self.run_box.currentData(), self.key_box.currentData()
        row = next((r for r in self._rows.get(rid, []) if r["key"] == key), {})
        self.sweep.set_row(self._rows.get(rid, []), row)
        if (rid, key, row) == self._current:
            return  # the same row as stored before: what is shown (or on its way) stays
        self._current = (rid, key, row)
        self.items = []
        if rid and key and self._loader is not None:
            try:
                g = self._loader(rid, key)
            except Exception as e:  # noqa: BLE001 — shown in place
                self.legend.setText(printable(e))
                g = None
            if g is not None:
                self.show_gallery(rid, key, g)
                return
            self.legend.setText(printable(f"reading the examples of {row_label(row) if row else key}…"))
        self._rebuild()

    @Slot(str)
    def _sweep_chosen(self, key: str) -> None:
        """The slider moved: show that row as if it were chosen in the row box."""
        j = self.key_box.findData(key)
        if j >= 0:
            self.key_box.setCurrentIndex(j)

    def show_gallery(self, run_id: str, key: str, g: dict) -> None:
        """The arrays of a row; dropped when another row was chosen meanwhile."""
        if self._current is None or self._current[:2] != (run_id, key):
            return
        row = self._current[2]
        if np.asarray(g["clean"]).ndim != 4:
            self.items = []
            self.legend.setText("this run's inputs are not images; see the decision-boundary view instead")
        else:
            self.items, self.factor = triplets(g, row.get("eps"), row.get("params", {}).get("members"))
            source = protocol_text(row)
            self.legend.setText(
                (printable(source) + "\n" if source else "") +
                f"{len(self.items)} examples · columns: clean | perturbation δ shown as 0.5 + {self.factor:.3g}·δ "
                f"(×{self.factor:.3g}, ±{0.5 / self.factor:.3g} → black/white) | adversarial · "
                "red label = attack succeeded, grey = clean prediction wrong (not attacked) · "
                "click to enlarge")
        self.selection_changed.emit(run_id, key)
        self._rebuild()

    def show_error(self, run_id: str, key: str, sentence: str) -> None:
        """Why a row's examples could not be read, in place of them."""
        if self._current is not None and self._current[:2] == (run_id, key):
            self.legend.setText(printable(sentence))

    @Slot()
    def _rebuild(self) -> None:
        while self.grid.count():
            w = self.grid.takeAt(0).widget()
            if w is not None:
                w.hide()
                w.setParent(None)
                w.deleteLater()
        mode = self.filter_box.currentIndex()
        self.shown = [i for i, t in enumerate(self.items)
                      if mode == 0 or (mode == 1 and t["success"]) or (mode == 2 and not t["success"])]
        self._cells = []
        for i in self.shown:
            cell = _Cell(i, self.items[i], THUMB)
            cell.clicked.connect(self.enlarge)
            self._cells.append(cell)
        self._place()

    def _place(self) -> None:
        """As many columns as the pane's width holds (at least one): no cell is cut off at the side."""
        self._cols = self._columns_fit()
        for cell in self._cells:
            self.grid.removeWidget(cell)
        for n, cell in enumerate(self._cells):
            self.grid.addWidget(cell, n // self._cols, n % self._cols)

    def _columns_fit(self) -> int:
        if not self._cells:
            return 0
        step = max(c.sizeHint().width() for c in self._cells) + self.grid.horizontalSpacing()
        margins = self.grid.contentsMargins()
        return max(1, (self._viewport.width() - margins.left() - margins.right()) // max(step, 1))

    def eventFilter(self, obj, e) -> bool:
        """The pane was resized: re-flow the cells when a column more or less fits."""
        if obj is self._viewport and e.type() == QEvent.Resize and self._columns_fit() != self._cols:
            self._place()
        return False

    @Slot(int)
    def enlarge(self, i: int) -> None:
        t = self.items[i]
        d = QDialog(self)
        d.setWindowTitle(f"example {i}: true {t['label']}")
        lay = QHBoxLayout(d)
        for key, cap in (("clean", f"clean: true {t['label']} · pred {t['clean_pred']} ({t['clean_conf']:.0%})"),
                         ("pert", f"perturbation ×{self.factor:.3g}"),
                         ("adv", f"adversarial: pred {t['adv_pred']} ({t['adv_conf']:.0%})"
                                 + "".join(f" · {t[k]}" for k in ("by", "note", "shown") if t.get(k)))):
            box = QVBoxLayout()
            img = QLabel()
            img.setPixmap(to_pixmap(t[key], 320))
            box.addWidget(img)
            caption = QLabel(printable(cap))
            caption.setTextFormat(Qt.PlainText)
            caption.setWordWrap(True)
            box.addWidget(caption)
            lay.addLayout(box)
        self.dialog = d
        d.open()
