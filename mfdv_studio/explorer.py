"""The project explorer: a tree model of the project (runs → their robustness rows and stored
results), filled from the reader's :class:`~mfdv_studio.reads.Snapshot`, and its view.

Like silx's HDF5 tree model, but over what the project *means* rather than its
groups: a top-level row per run (name, status, clean accuracy), below it one
row per robustness row and per stored result. Two levels only, so an index's
``internalId`` says where it is: 0 for a run, ``i + 1`` for a child of run ``i``.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from PySide6.QtCore import QAbstractItemModel, QItemSelectionModel, QModelIndex, QObject, QPoint, Qt, Signal, Slot
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QMenu, QTreeView

from mfdv_engine.safetext import printable  # run names, messages and row fields come from the project file

from .reads import RunEntry, Snapshot

HEADERS = ["run", "status", "clean acc"]
STATUS_COLORS = {"running": "#1f77b4", "finished": "#2ca02c", "interrupted": "#ff7f0e", "failed": "#d62728"}
RUN_ID_ROLE = Qt.UserRole        # every index: its run's id
KEY_ROLE = Qt.UserRole + 1       # a robustness row's key; a stored result's name
RESULT_ROLE = Qt.UserRole + 2    # True for a stored result's row


def _pct(v: Any) -> str:
    return "" if v is None else f"{v:.2%}"


def _children(e: RunEntry) -> list[dict[str, Any]]:
    """The child rows under a run: (cells, tooltip, key) per robustness row, then per stored result."""
    out = []
    for r in e.rows:
        eps = r.get("eps")
        out.append({"cells": (f"{r.get('attack', '?')} · {r.get('gradient', '')}",
                              "" if eps is None else f"ε={float(eps):.4g}", _pct(r.get("robust_acc"))),
                     "tip": r.get("protocol") or r["key"], "key": r["key"], "result": False})
    for name, meta in e.results:
        items = meta.get("items") or []
        passed = f"{sum(bool(i.get('passed')) for i in items)}/{len(items)} pass" if items else ""
        out.append({"cells": (name, "stored result", passed), "tip": f"double-click to show the stored {name}",
                    "key": name, "result": True})
    return out


class ProjectTreeModel(QAbstractItemModel):
    """Runs and, below each, its rows and results; read-only."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._entries: list[RunEntry] = []
        self._kids: list[list[dict[str, Any]]] = []
        self._live: str | None = None

    # ---------------------------------------------------------------- filling
    def set_snapshot(self, snap: Snapshot) -> None:
        """Show ``snap``; the same runs as before update in place (selection and expansion stay)."""
        entries = list(snap.entries)
        if [e.info.run_id for e in entries] != [e.info.run_id for e in self._entries]:
            self.beginResetModel()
            self._entries, self._kids = entries, [_children(e) for e in entries]
            self.endResetModel()
            return
        for i, e in enumerate(entries):
            kids = _children(e)
            if kids != self._kids[i]:
                self._replace_children(i, kids)
            self._entries[i] = e
        self._changed_runs()

    def _replace_children(self, i: int, kids: list[dict[str, Any]]) -> None:
        parent = self.index(i, 0)
        if self._kids[i]:
            self.beginRemoveRows(parent, 0, len(self._kids[i]) - 1)
            self._kids[i] = []
            self.endRemoveRows()
        if kids:
            self.beginInsertRows(parent, 0, len(kids) - 1)
            self._kids[i] = kids
            self.endInsertRows()

    def set_live(self, run_id: str | None) -> None:
        """The run training now (shown as running whatever the last snapshot said)."""
        self._live = run_id
        self._changed_runs()

    def set_status(self, run_id: str, status: str, final: dict | None = None) -> None:
        """A finished job's word on its run, shown at once (the next snapshot agrees)."""
        for i, e in enumerate(self._entries):
            if e.info.run_id == run_id:  # a new record: the snapshot itself stays as read
                info = replace(e.info, status=status, final=dict(final) if final else e.info.final)
                self._entries[i] = replace(e, info=info)
        self._changed_runs()

    def _changed_runs(self) -> None:
        if self._entries:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._entries) - 1, len(HEADERS) - 1))

    def entry(self, run_id: str) -> RunEntry | None:
        return next((e for e in self._entries if e.info.run_id == run_id), None)

    # ---------------------------------------------------------------- QAbstractItemModel
    def index(self, row: int, column: int, parent: QModelIndex = QModelIndex()) -> QModelIndex:
        if not self.hasIndex(row, column, parent):
            return QModelIndex()
        return self.createIndex(row, column, 0 if not parent.isValid() else parent.row() + 1)

    def parent(self, index: QModelIndex | None = None):  # noqa: D102 (also QObject.parent() without arguments)
        if index is None:
            return QObject.parent(self)
        if not index.isValid() or index.internalId() == 0:
            return QModelIndex()
        return self.createIndex(int(index.internalId()) - 1, 0, 0)

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802 (Qt)
        if not parent.isValid():
            return len(self._entries)
        if parent.internalId() == 0 and parent.column() == 0:
            return len(self._kids[parent.row()])
        return 0

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802 (Qt)
        return len(HEADERS)

    def headerData(self, section: int, orientation, role=Qt.DisplayRole):  # noqa: N802 (Qt)
        if orientation == Qt.Horizontal and role == Qt.DisplayRole and 0 <= section < len(HEADERS):
            return HEADERS[section]
        return None

    def flags(self, index: QModelIndex):
        return Qt.ItemIsEnabled | Qt.ItemIsSelectable if index.isValid() else Qt.NoItemFlags

    def data(self, index: QModelIndex, role=Qt.DisplayRole):
        if not index.isValid():
            return None
        run = int(index.internalId()) - 1
        if run < 0:
            return self._run_data(self._entries[index.row()], index.column(), role)
        kid = self._kids[run][index.row()]
        if role == Qt.DisplayRole:
            return printable(kid["cells"][index.column()])
        if role == Qt.ToolTipRole:
            return printable(kid["tip"], multiline=True)
        return {RUN_ID_ROLE: self._entries[run].info.run_id, KEY_ROLE: kid["key"], RESULT_ROLE: kid["result"]}.get(role)

    def _run_data(self, e: RunEntry, column: int, role: int):
        info = e.info
        status = "running" if info.run_id == self._live else info.status
        if role == Qt.DisplayRole:
            return printable((f"{info.name} ({info.run_id})", status, _pct(info.final.get("clean_acc")))[column])
        if role == Qt.ToolTipRole:
            tips = (info.message or info.status, e.error or info.message or status,
                    info.final.get("clean_acc_protocol", ""))
            return printable(tips[column], multiline=True)
        if role == Qt.ForegroundRole and column == 1:
            return QBrush(QColor(STATUS_COLORS.get(status, "#000")))
        return info.run_id if role == RUN_ID_ROLE else None


class ProjectExplorer(QTreeView):
    """The tree, its context menu, and which runs are selected (kept across snapshots)."""

    runs_selected = Signal(list)            # run ids
    resume_requested = Signal(str)
    attack_requested = Signal(list)
    duplicate_requested = Signal(str)
    delete_requested = Signal(str)
    row_activated = Signal(str, str)        # run id, robustness row key
    result_activated = Signal(str, str)     # run id, stored result name

    def __init__(self, model: ProjectTreeModel, parent=None) -> None:
        super().__init__(parent)
        self.setModel(model)
        self.tree = model
        self._kept: list[str] = []
        self.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.setContextMenuPolicy(Qt.CustomContextMenu)
        self.customContextMenuRequested.connect(self._menu)
        self.doubleClicked.connect(self._activated)
        # status and accuracy as wide as their words: the run's name gets the rest of the panel
        self.header().setStretchLastSection(False)
        self.header().setSectionResizeMode(1, QHeaderView.ResizeToContents)
        self.header().setSectionResizeMode(2, QHeaderView.ResizeToContents)
        self.selectionModel().selectionChanged.connect(self._selection_changed)
        model.modelAboutToBeReset.connect(self._keep_selection)
        model.modelReset.connect(self._restore_selection)

    def selected_runs(self) -> list[str]:
        """Selected runs (a selected child stands for its run), in the explorer's order."""
        out: list[str] = []
        for idx in self.selectionModel().selectedRows(0):
            rid = idx.data(RUN_ID_ROLE)
            if rid not in out:
                out.append(rid)
        return out

    def select_runs(self, run_ids: list[str]) -> None:
        """Select these runs (their rows) and no other, as clicks would."""
        sm = self.selectionModel()
        sm.clearSelection()
        for i in range(self.tree.rowCount()):
            idx = self.tree.index(i, 0)
            if idx.data(RUN_ID_ROLE) in run_ids:
                sm.select(idx, QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows)
                self.scrollTo(idx)

    def select_run(self, run_id: str) -> None:
        self.select_runs([run_id])

    @Slot()
    def _keep_selection(self) -> None:
        self._kept = self.selected_runs()

    @Slot()
    def _restore_selection(self) -> None:
        flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
        for i in range(self.tree.rowCount()):
            idx = self.tree.index(i, 0)
            if idx.data(RUN_ID_ROLE) in self._kept:
                self.selectionModel().select(idx, flags)
        if self._kept and not self.selected_runs():  # the selected runs are gone (deleted): say so
            self.runs_selected.emit([])
        self.resizeColumnToContents(0)

    @Slot()
    def _selection_changed(self, *_) -> None:
        self.runs_selected.emit(self.selected_runs())

    @Slot(QModelIndex)
    def _activated(self, idx: QModelIndex) -> None:
        if idx.isValid() and idx.parent().isValid():
            signal = self.result_activated if idx.data(RESULT_ROLE) else self.row_activated
            signal.emit(idx.data(RUN_ID_ROLE), idx.data(KEY_ROLE))

    @Slot(QPoint)
    def _menu(self, pos: QPoint) -> None:
        idx = self.indexAt(pos)
        if not idx.isValid():
            return
        rid = idx.data(RUN_ID_ROLE)
        entry = self.tree.entry(rid)
        m = QMenu(self)
        a_res = m.addAction("Resume")
        a_res.setEnabled(entry is not None and entry.info.status in ("interrupted", "failed"))
        a_att = m.addAction("Attack…")
        a_dup = m.addAction("Duplicate config…")
        m.addSeparator()
        a_del = m.addAction("Delete")  # to the project's trash: Edit ▸ Undo restores it, so nothing asks first
        chosen = m.exec(self.viewport().mapToGlobal(pos))
        if chosen is a_res:
            self.resume_requested.emit(rid)
        elif chosen is a_att:
            self.attack_requested.emit([rid])
        elif chosen is a_dup:
            self.duplicate_requested.emit(rid)
        elif chosen is a_del:
            self.delete_requested.emit(rid)
