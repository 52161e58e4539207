"""The Compare tab: runs × attacks (both gradient modes and the worst case), and the runs' hyper-parameters.

The matrix and the tables are built by :mod:`mfdv_engine.evaluation.matrix` from the snapshot the
window already holds (a few hundred rows: no job needed). Every exported text is the engine's, so
the CSV written is exactly the table shown. A click on a cell shows its row's protocol and emits
``row_selected(run id, row key)``; a double click ``row_activated`` (its examples in the gallery).
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, Signal, Slot
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QPlainTextEdit,
                               QPushButton, QSplitter, QTableView, QVBoxLayout, QWidget)

import mfdv_engine as mfdv
from mfdv_engine.evaluation.matrix import WORST_COL, Matrix, build_hparams, build_matrix
from mfdv_engine.evaluation.matrix_export import to_csv, to_latex, to_markdown
from mfdv_engine.safetext import printable  # run names, attack names and row fields come from the project file
from mfdv_engine.project.store import RunInfo

from ..export_folder import ExportFolder

#: export format → (writer, file filter, default file name)
FORMATS = {"csv": (to_csv, "CSV (*.csv)", "robustness-matrix.csv"),
           "md": (to_markdown, "Markdown (*.md)", "robustness-matrix.md"),
           "tex": (to_latex, "LaTeX (*.tex)", "robustness-matrix.tex")}
NAME_WIDTH = 200   # a long run name is elided (its tooltip has it whole): the attack columns need the width


def value_colour(acc: float) -> QColor:
    """Red (0% robust) through yellow to green (100%), pale enough for black text."""
    return QColor.fromHsvF(max(0.0, min(1.0, acc)) / 3, 0.42, 0.98)


def header_label(text: str) -> str:
    """An attack column's label on two lines (attack, then gradient mode): the columns stay narrow."""
    return text.replace(" · ", "\n")


class MatrixModel(QAbstractTableModel):
    """The engine's :class:`Matrix`, its texts as they are exported."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.matrix = Matrix([], [])
        self._text: list[list[str]] = []

    def set_matrix(self, mat: Matrix) -> None:
        self.beginResetModel()
        self.matrix, self._text = mat, mat.text_rows()
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._text)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.matrix.header())

    def headerData(self, section, orientation, role=Qt.DisplayRole):
        head = self.matrix.header()
        if orientation == Qt.Horizontal and 0 <= section < len(head):
            if role == Qt.DisplayRole:
                return header_label(head[section])
            if role == Qt.ToolTipRole and section > WORST_COL:
                return next((n for n in self.matrix.notes if n.startswith(head[section] + ":")), head[section])
        return None

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid() or not (0 <= index.row() < len(self._text)):
            return None
        i, j = index.row(), index.column()
        if role == Qt.DisplayRole:
            return self._text[i][j]
        cell = self.matrix.cell_at(i, j)
        if role == Qt.TextAlignmentRole and j >= 2:
            return int(Qt.AlignRight | Qt.AlignVCenter)
        if role == Qt.BackgroundRole and cell is not None:
            return value_colour(cell.robust_acc)
        if role == Qt.ForegroundRole and cell is not None:
            return QColor("#111")   # on the pale scale, whatever the theme
        if role == Qt.FontRole and (j == WORST_COL or (cell is not None and cell.shared)):
            f = QFont()
            f.setBold(j == WORST_COL)
            f.setItalic(cell is not None and cell.shared)
            return f
        if role == Qt.ToolTipRole:
            return self.tooltip(i, j)
        return None

    def tooltip(self, i: int, j: int) -> str:
        run, cell = self.matrix.runs[i], self.matrix.cell_at(i, j)
        if cell is None:
            return printable(f"{run.name} ({run.run_id}), clean: {run.clean_protocol or 'as stored'}")
        if j == WORST_COL:
            _, k, measured, columns = self.matrix.worst[run.run_id]
            return printable(f"worst case: {self.matrix.columns[k].label} (over {measured} of the {columns} "
                             f"columns at its ε)\n{cell.protocol}", multiline=True)
        return cell.protocol


class TextTableModel(QAbstractTableModel):
    """A read-only table of texts (the hyper-parameter table)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.header: list[str] = []
        self.lines: list[list[str]] = []

    def set_table(self, header: list[str], lines: list[list[str]]) -> None:
        self.beginResetModel()
        self.header, self.lines = header, lines
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.lines)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.header)

    def headerData(self, section, orientation, role=Qt.DisplayRole):
        if role == Qt.DisplayRole and orientation == Qt.Horizontal and 0 <= section < len(self.header):
            return self.header[section]
        return None

    def data(self, index, role=Qt.DisplayRole):
        if index.isValid() and role in (Qt.DisplayRole, Qt.ToolTipRole) and 0 <= index.row() < len(self.lines):
            return self.lines[index.row()][index.column()]
        return None


def _table(model: QAbstractTableModel) -> QTableView:
    t = QTableView()
    t.setModel(model)
    t.setSelectionBehavior(QAbstractItemView.SelectItems)
    t.setSelectionMode(QAbstractItemView.SingleSelection)
    t.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
    t.verticalHeader().hide()
    return t


class CompareView(QWidget):
    row_selected = Signal(str, str)    # a cell clicked: run id, row key
    row_activated = Signal(str, str)   # a cell double-clicked: show its examples

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.exports = ExportFolder()   # where its save dialog opens (the window shares its own)
        self.infos: list[RunInfo] = []
        self.selected: list[str] = []
        self.model = MatrixModel(self)
        self.table = _table(self.model)
        self.table.horizontalHeader().setDefaultAlignment(Qt.AlignCenter)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.Interactive)
        self.table.setTextElideMode(Qt.ElideMiddle)
        self.table.setWordWrap(False)
        self.table.clicked.connect(self._clicked)
        self.table.doubleClicked.connect(self._double_clicked)
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        self.details.setPlaceholderText("click a cell to read its protocol")
        self.hparams_model = TextTableModel(self)
        self.hparams = _table(self.hparams_model)
        self.hparams_title = QLabel()
        split = QSplitter(Qt.Vertical)
        for w in (self._matrix_pane(), self.details, self._hparams_pane()):
            split.addWidget(w)
        split.setSizes([330, 150, 200])
        lay = QVBoxLayout(self)
        lay.addWidget(split)

    def _matrix_pane(self) -> QWidget:
        top = QHBoxLayout()
        title = QLabel("Robust accuracy ± 95% CI of every run under every attack, in both gradient modes")
        title.setWordWrap(True)
        top.addWidget(title, 1)
        self.buttons = {}
        for fmt, text in (("csv", "Export CSV…"), ("md", "Markdown…"), ("tex", "LaTeX…")):
            b = self.buttons[fmt] = QPushButton(text)
            b.clicked.connect(lambda _=False, f=fmt: self._export_dialog(f))
            top.addWidget(b)
        w = QWidget()
        lay = QVBoxLayout(w)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(top)
        lay.addWidget(self.table, 1)
        return w

    def _hparams_pane(self) -> QWidget:
        w = QWidget()
        lay = QVBoxLayout(w)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.hparams_title)
        lay.addWidget(self.hparams, 1)
        return w

    def attach(self, win) -> None:
        """Wire this tab into the main window: a clicked cell's row to the gallery (in the background),
        a double-clicked one to the gallery tab, the explorer's selection to the hyper-parameter table."""
        self.row_selected.connect(win.gallery.select)
        self.row_activated.connect(win.show_row_examples)
        win.explorer.runs_selected.connect(self.set_selected)

    # ---------------------------------------------------------------- data
    def set_snapshot(self, infos: list[RunInfo], rows: list[dict]) -> None:
        """Rebuild the matrix and the hyper-parameter table from the window's snapshot."""
        self.infos = list(infos)
        self.model.set_matrix(build_matrix(self.infos, rows))
        self.table.resizeColumnsToContents()
        self.table.setColumnWidth(0, min(self.table.columnWidth(0), NAME_WIDTH))
        self.details.setPlainText(self._notes_text())
        self._update_hparams()

    @Slot(list)
    def set_selected(self, run_ids: list[str]) -> None:
        """The explorer's selection: the hyper-parameter table shows these runs (all when none)."""
        self.selected = list(run_ids)
        self._update_hparams()

    def _update_hparams(self) -> None:
        chosen = [i for i in self.infos if i.run_id in self.selected] or self.infos
        self.hparams_model.set_table(*build_hparams(chosen))
        which = "the selected runs" if len(chosen) < len(self.infos) or self.selected else "all runs"
        self.hparams_title.setText(f"Hyper-parameters that differ between {which} ({len(chosen)}), "
                                   "then their final metrics")

    def _notes_text(self) -> str:
        return "Protocol of the table:\n" + "\n".join(f"• {n}" for n in self.model.matrix.notes)

    def contents(self) -> tuple[list[str], list[list[str]]]:
        """Header (one line per label) and cells exactly as the table shows them."""
        m = self.model
        header = [m.headerData(c, Qt.Horizontal).replace("\n", " · ") for c in range(m.columnCount())]
        return header, [[m.index(r, c).data() for c in range(m.columnCount())] for r in range(m.rowCount())]

    # ---------------------------------------------------------------- slots
    @Slot(QModelIndex)
    def _clicked(self, idx: QModelIndex) -> None:
        if not idx.isValid():
            return
        self.details.setPlainText(f"{self.model.tooltip(idx.row(), idx.column())}\n\n{self._notes_text()}")
        cell = self.model.matrix.cell_at(idx.row(), idx.column())
        if cell is not None:
            self.row_selected.emit(cell.run_id, cell.key)

    @Slot(QModelIndex)
    def _double_clicked(self, idx: QModelIndex) -> None:
        cell = self.model.matrix.cell_at(idx.row(), idx.column()) if idx.isValid() else None
        if cell is not None:
            self.row_activated.emit(cell.run_id, cell.key)

    def export(self, path: str | Path, fmt: str) -> str:
        """Write the matrix as ``fmt`` (csv, md, tex) to ``path``; returns the text written."""
        text = FORMATS[fmt][0](self.model.matrix)
        # the file dialog asked before replacing; the engine's rule still refuses a project or its lock
        mfdv.write_output(path, lambda f: f.write(text), what="the comparison", overwrite=True,
                          example=FORMATS[fmt][2])
        return text

    def _export_dialog(self, fmt: str) -> None:
        _, filt, name = FORMATS[fmt]
        path = self.exports.ask(self, "Export the comparison", name, filt)
        if not path:
            return
        try:
            self.export(path, fmt)
        except OSError as e:   # a folder, no permission, a full disk: said in place, never raised in a slot
            self.details.setPlainText(printable(f"could not write {path}: {e.strerror or e}"))
        except mfdv.MfdvError as e:  # a project, its lock, a read-only file: the engine's sentence
            self.details.setPlainText(printable(f"not written: {e}"))
        else:
            self.details.setPlainText(printable(f"wrote {path}\n\n{self._notes_text()}", multiline=True))
