"""Robustness tables (every number with its protocol), the checklist, and the sweep plots (:mod:`.sweeps`).

Sweep rows (``params.sweep``) are points of a curve: dozens per sweep would flood the main table, so
they go to the sweep plots and their own table under them ("Sweep rows"), never to the main table."""
from __future__ import annotations


from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt, Signal, Slot
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QHBoxLayout, QHeaderView, QLabel, QPushButton,
                               QSplitter, QTableView, QTabWidget, QVBoxLayout, QWidget)

import mfdv_engine as mfdv
from mfdv_engine.defaults import eps_text
from mfdv_engine.safetext import printable  # row fields, messages and run names come from the project file

from ..export_folder import ExportFolder
from .checklist import ChecklistPane
from .filterbox import FilterBox
from .rowtext import is_sweep, sorted_rows, suite_members, suite_of
from .sweeps import LOSS_NAMES, SweepPlots, gradient_order

COLUMNS = ["run", "attack", "ε", "steps", "gradient", "EOT", "MC", "n", "clean", "robust", "95% CI", "time (s)"]
SORT_ROLE = Qt.UserRole + 1
SUITE_TINT, MEMBER_TINT = QColor("#d6e4f5"), QColor("#eef3fa")   # a suite's row and its members' rows


class EvalTableModel(QAbstractTableModel):
    """Eval rows (dicts as stored in the project, plus ``run_name``); one line per row."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._rows: list[dict] = []
        self._members: dict[int, list[int]] = {}

    def set_rows(self, rows: list[dict]) -> None:
        self.beginResetModel()
        # single-sample and EOT rows of the same attack adjacent
        # (a suite's members right below the suite's row)
        self._rows = sorted_rows(rows)
        self._members = suite_members(self._rows)
        self.endResetModel()

    def members_of(self, i: int) -> list[int]:
        """The rows of the suite whose own row is row ``i`` (none for any other row)."""
        return self._members.get(i, [])

    def add_row(self, row: dict) -> None:
        rows = [r for r in self._rows if not (r.get("run_id") == row.get("run_id") and r.get("key") == row.get("key"))]
        self.set_rows(rows + [row])

    def rows(self) -> list[dict]:
        return list(self._rows)

    def row_dict(self, i: int) -> dict:
        return self._rows[i]

    # Qt API
    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.DisplayRole):
        if role == Qt.DisplayRole and orientation == Qt.Horizontal and 0 <= section < len(COLUMNS):
            return COLUMNS[section]
        if role == Qt.DisplayRole and orientation == Qt.Vertical:
            return str(section + 1)
        return None

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid() or not (0 <= index.row() < len(self._rows)) or not (0 <= index.column() < len(COLUMNS)):
            return None
        r = self._rows[index.row()]
        c = index.column()
        if role == Qt.DisplayRole:
            return printable(self._display(r, c))
        if role == SORT_ROLE:
            return self._sort_value(r, c)
        if role == Qt.ToolTipRole:
            msgs = "\n".join(map(str, r.get("messages", [])))
            suite, own = suite_of(r)
            member = f"\nmember of the {suite} suite (its worst case is the suite's row)" if suite and not own else ""
            return printable((r.get("protocol") or r.get("key", "")) + member + (f"\n{msgs}" if msgs else ""),
                             multiline=True)
        if role == Qt.TextAlignmentRole and c >= 5:
            return int(Qt.AlignRight | Qt.AlignVCenter)
        if role == Qt.ForegroundRole and c == 4 and r.get("gradient", "").startswith("EOT"):
            return QColor("#8a2be2")
        suite, own = suite_of(r)
        if role == Qt.BackgroundRole and suite:
            return SUITE_TINT if own else MEMBER_TINT
        if role == Qt.FontRole and own and c in (1, 4, 9, 10):  # (not the run column: it would widen the table)
            f = QFont()
            f.setBold(True)
            return f
        return None

    @staticmethod
    def _display(r: dict, c: int) -> str:
        if c == 0:
            name = r.get("run_name")
            return f"{name} ({r.get('run_id')})" if name else str(r.get("run_id", ""))
        if c == 1:
            sweep, loss = r.get("params", {}).get("sweep"), r.get("params", {}).get("loss")
            suite, own = suite_of(r)
            return (("↳ " if suite and not own else "") + r.get("attack", "")
                    + (f", {LOSS_NAMES.get(loss, loss)}" if loss and loss != "ce" else "")
                    + (f" [{sweep} sweep]" if sweep else "")
                    + (f" [suite of {len(r['params']['members'])}]" if own else ""))
        if c == 2:
            return eps_text(r.get("eps"), r.get("norm", "Linf"))
        if c == 3:
            return "" if r.get("steps") is None else str(r.get("steps"))
        if c == 4:
            return str(r.get("gradient", ""))
        if c == 5:
            return str(r.get("eot_samples", ""))
        if c == 6:
            return str(r.get("mc_samples", ""))
        if c == 7:
            return str(r.get("n", ""))
        if c == 8:
            return f"{r.get('clean_acc', 0):.2%}"
        if c == 9:
            return f"{r.get('robust_acc', 0):.2%}"
        if c == 10:
            return f"[{r.get('ci_low', 0):.1%}, {r.get('ci_high', 0):.1%}]"
        if c == 11:
            return f"{r.get('time_s', 0):.1f}"
        return ""

    @staticmethod
    def _sort_value(r: dict, c: int):
        if c == 4:
            return float(gradient_order(r.get("gradient", ""))[1])
        if c == 2:
            return float(r.get("eps") or 0)
        if c == 3:
            return float(r.get("steps") or 0)
        num = {5: "eot_samples", 6: "mc_samples", 7: "n", 8: "clean_acc", 9: "robust_acc", 10: "ci_low", 11: "time_s"}
        if c in num:
            return float(r.get(num[c]) or 0)
        return EvalTableModel._display(r, c)


class EvalProxy(QSortFilterProxyModel):
    """Filter on every column; sorting by a column keeps attack then gradient as tie-breakers."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)
        self.setFilterKeyColumn(-1)
        self.setFilterCaseSensitivity(Qt.CaseInsensitive)

    def filterAcceptsRow(self, row: int, parent) -> bool:  # noqa: N802 (Qt override)
        """A matching row, and a suite's own row while any of its members matches: a member
        is never shown without the suite it belongs to."""
        if super().filterAcceptsRow(row, parent):
            return True
        return any(super(EvalProxy, self).filterAcceptsRow(j, parent) for j in self.sourceModel().members_of(row))

    def lessThan(self, left, right) -> bool:
        a, b = left.data(SORT_ROLE), right.data(SORT_ROLE)
        if a != b:
            try:
                return a < b
            except TypeError:
                return str(a) < str(b)
        m = self.sourceModel()
        ra, rb = m.row_dict(left.row()), m.row_dict(right.row())
        ka = (ra.get("attack", ""), float(ra.get("eps") or 0), gradient_order(ra.get("gradient", "")))
        kb = (rb.get("attack", ""), float(rb.get("eps") or 0), gradient_order(rb.get("gradient", "")))
        return ka < kb


def table_contents(view_model) -> tuple[list[str], list[list[str]]]:
    """Header and cells exactly as the (filtered, sorted) view shows them."""
    header = [str(view_model.headerData(c, Qt.Horizontal, Qt.DisplayRole)) for c in range(view_model.columnCount())]
    cells = [[str(view_model.index(r, c).data(Qt.DisplayRole) or "") for c in range(view_model.columnCount())]
             for r in range(view_model.rowCount())]
    return header, cells


def shown_rows(view_model) -> list[dict]:
    """The stored row dicts behind the (filtered, sorted) view, in its order."""
    src = view_model.sourceModel()
    return [src.row_dict(view_model.mapToSource(view_model.index(r, 0)).row()) for r in range(view_model.rowCount())]


def write_table_csv(view_model, path: str, infos: dict | None = None) -> int:
    """The rows the view shows, in its order, as the engine's tidy CSV (numbers and protocol columns,
    formula-safe): the same columns as `mfdv export --csv`. The file dialog asked before replacing;
    the engine's output rule still refuses a project, its lock or a read-only file (MfdvError)."""
    return mfdv.export_rows(shown_rows(view_model), path, infos=infos, overwrite=True)


class RobustnessView(QWidget):
    attack_requested = Signal()
    checklist_requested = Signal()
    sweep_requested = Signal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.exports = ExportFolder()   # where its save dialog opens (the window shares its own)
        self.infos: dict = {}   # run id → RunInfo of the rows shown (set_rows), for the CSV export
        self.model = EvalTableModel(self)
        self.proxy = EvalProxy(self)
        self.proxy.setSourceModel(self.model)
        self.filter = FilterBox()   # Esc clears it
        self.filter.setPlaceholderText("filter rows (attack, run, gradient…)")
        self.filter.textChanged.connect(self.proxy.setFilterFixedString)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(-1, Qt.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setAlternatingRowColors(True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        # a long gradient or suite name is elided (its tooltip has the whole protocol), so that the
        # clean, robust and CI columns stay in view at 1280×800
        self.table.horizontalHeader().setMaximumSectionSize(150)
        # the run column takes the width left over (its name wrapped while "time (s)" stood wide)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.Stretch)
        self.table.verticalHeader().hide()  # row numbers say nothing; the width goes to the robust column
        self.protocol = QLabel("select a row to read its full protocol")
        self.protocol.setWordWrap(True)
        self.protocol.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.protocol.setTextFormat(Qt.PlainText)  # row fields from the file: never rich text
        self.table.selectionModel().currentRowChanged.connect(self._show_protocol)

        top = self._build_toolbar()

        self.checklist_pane = ChecklistPane()   # the checks, and the selected one in full beside them
        self.checklist = self.checklist_pane.tree

        self.sweeps = SweepPlots()
        self.p_eps, self.p_steps, self.p_eot = (self.sweeps.plots[k] for k in ("eps", "steps", "eot"))
        self.sweep_model = EvalTableModel(self)   # the sweeps' points, each with its protocol
        self.sweep_table = QTableView()
        self.sweep_table.setModel(self.sweep_model)
        self.sweep_table.setAlternatingRowColors(True)
        self.sweep_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.sweep_table.verticalHeader().hide()
        # the sweeps and the checklist share the lower pane as tabs: the three sweep plots need its full width
        self.lower = QTabWidget()
        self.lower.addTab(self.sweeps, "Sweeps")
        self.lower.addTab(self.sweep_table, "Sweep rows")
        self.lower.addTab(self.checklist_pane, "Checklist")
        upper = QWidget()
        ul = QVBoxLayout(upper)
        ul.setContentsMargins(0, 0, 0, 0)
        ul.addLayout(top)
        ul.addWidget(self.table, 1)
        ul.addWidget(self.protocol)
        split = QSplitter(Qt.Vertical)
        split.addWidget(upper)
        split.addWidget(self.lower)
        split.setSizes([360, 340])
        lay = QVBoxLayout(self)
        lay.addWidget(split)

    def _build_toolbar(self) -> QHBoxLayout:
        """Filter, actions, the sweep buttons with their loss choice, CSV export."""
        b_attack = QPushButton("New attack evaluation…")
        b_attack.clicked.connect(self.attack_requested)
        b_check = QPushButton("Run checklist")
        b_check.clicked.connect(self.checklist_requested)
        b_eps = QPushButton("ε sweep")
        b_eps.clicked.connect(self._eps_sweep)
        b_steps = QPushButton("steps sweep")
        b_steps.clicked.connect(self._steps_sweep)
        b_eot = QPushButton("EOT sweep")
        b_eot.clicked.connect(self._eot_sweep)
        self.sweep_loss = QComboBox()
        self.sweep_loss.setToolTip("PGD loss of the next sweep; by default CE for ε (the paper's Figure 3), "
                                   "the C&W margin for steps and EOT")
        for text, loss in (("sweep loss: default", None), ("sweep loss: CE", "ce"), ("sweep loss: C&W margin", "cw")):
            self.sweep_loss.addItem(text, loss)
        b_csv = QPushButton("Export CSV…")
        b_csv.clicked.connect(self._export_dialog)
        top = QHBoxLayout()
        top.addWidget(self.filter, 1)
        for b in (b_attack, b_check, b_eps, b_steps, b_eot, self.sweep_loss, b_csv):
            top.addWidget(b)
        return top

    # ---------------------------------------------------------------- data
    def set_rows(self, rows: list[dict], infos: dict | None = None) -> None:
        """The main table takes every row but the sweeps' points; those go to the plots and the sweep rows.
        ``infos`` (run id → RunInfo) give the CSV export its data set, model and defense columns."""
        self.infos = dict(infos or {})
        self.model.set_rows([r for r in rows if not is_sweep(r)])
        self.sweep_model.set_rows([r for r in rows if is_sweep(r)])
        self.update_sweeps()

    def add_row(self, row: dict) -> None:
        if not is_sweep(row):
            self.model.add_row(row)
            return
        self.sweep_model.add_row(row)
        self.update_sweeps()
        if self.lower.currentWidget() is self.checklist_pane:
            self.lower.setCurrentWidget(self.sweeps)  # a sweep is running: show its plot fill in

    def set_checklist(self, run_label: str, items: list[dict]) -> None:
        self.lower.setCurrentWidget(self.checklist_pane)
        self.checklist_pane.set_items(run_label, items)

    def update_sweeps(self) -> None:
        self.sweeps.set_rows(self.sweep_model.rows())

    # ---------------------------------------------------------------- slots
    @Slot(QModelIndex, QModelIndex)
    def _show_protocol(self, cur, prev) -> None:
        if not cur.isValid():
            return
        r = self.model.row_dict(self.proxy.mapToSource(cur).row())
        text = r.get("protocol") or r.get("key", "")
        p = r.get("params", {})
        params = ", ".join(f"{k}={v}" for k, v in sorted(p.items()) if k != "members")
        msgs = " | ".join(map(str, r.get("messages", [])))
        if "members" in p:  # a suite: its members in one line each would crowd out the table
            parts = [f"{m['attack']} ({m['gradient']}) {m.get('robust_acc', 0):.2%} · {m.get('broke_first', '?')}"
                     for m in p["members"]]
            text += "\nmembers (robust acc. · examples it broke first): " + "; ".join(parts)
        self.protocol.setText(printable(f"{text}\nparams: {params}" + (f"\nmessages: {msgs}" if msgs else ""),
                                        multiline=True))

    @Slot()
    def _eps_sweep(self) -> None:
        self.sweep_requested.emit("eps")

    @Slot()
    def _steps_sweep(self) -> None:
        self.sweep_requested.emit("steps")

    @Slot()
    def _eot_sweep(self) -> None:
        self.sweep_requested.emit("eot")

    def sweep_loss_choice(self) -> str | None:
        """The loss picked for the next sweep: "ce", "cw", or None for the sweep's default."""
        return self.sweep_loss.currentData()

    def export_csv(self, path: str) -> int:
        return write_table_csv(self.proxy, path, self.infos)

    @Slot()
    def _export_dialog(self) -> None:
        path = self.exports.ask(self, "Export the table as shown", "robustness.csv", "CSV (*.csv)")
        if not path:
            return
        try:
            n = self.export_csv(path)
        except OSError as e:  # a folder, no permission, a full disk: said here, never raised in the slot
            self.protocol.setText(printable(f"could not write {path}: {e.strerror or e}"))
        except mfdv.MfdvError as e:
            self.protocol.setText(printable(f"not written: {e}"))
        else:
            self.protocol.setText(printable(f"wrote {n} row(s) to {path}"))
