"""The Project panel: a filter box and a "group by" choice over the project tree
(:mod:`.explorer_model`), the tree's context menu, and which runs are selected (kept across snapshots).

Selecting a group's row selects its runs. Delete (Edit ▸ Move selected runs to the trash) trashes the
selected runs while the tree has the focus; the context menu offers the same and Notes and tags….
"""
from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, QModelIndex, QPoint, Qt, Signal, Slot
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QAbstractItemView, QComboBox, QHBoxLayout, QHeaderView, QMenu, QTreeView, QVBoxLayout, QWidget

from .explorer_model import GROUP_ROLE, KEY_ROLE, RESULT_ROLE, RUN_ID_ROLE, ProjectTreeModel
from .runfilter import GROUPS
from .views.filterbox import FilterBox

__all__ = ["ExplorerPanel", "ProjectExplorer", "ProjectTreeModel", "RUN_ID_ROLE", "KEY_ROLE", "RESULT_ROLE"]

FILTER_HELP = ("Filter the runs (every term must hold):\n"
               "  word — in the name, id, status, tags, notes, data set, model or defense\n"
               "  tag:baseline or #baseline — runs with that tag\n"
               "  defense=mfdv  lambda1=0.1  dataset=mnist  train.lr=0.05 — a hyper-parameter (a dotted key or "
               "its last part)\n"
               "  epochs>5  defense!=none — compared, or negated\n"
               "Esc clears it.")


class ProjectExplorer(QTreeView):
    """The tree, its context menu, and which runs are selected (kept across snapshots)."""

    runs_selected = Signal(list)            # run ids
    resume_requested = Signal(str)
    attack_requested = Signal(list)
    duplicate_requested = Signal(str)
    delete_requested = Signal(str)
    annotate_requested = Signal(str)        # edit a run's notes and tags
    row_activated = Signal(str, str)        # run id, robustness row key
    result_activated = Signal(str, str)     # run id, stored result name

    def __init__(self, model: ProjectTreeModel, parent=None) -> None:
        super().__init__(parent)
        self.setModel(model)
        self.tree = model
        self._kept: list[str] = []
        self._next: list[str] = []   # runs to select once the next snapshot is shown (a restored run)
        self.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.setContextMenuPolicy(Qt.CustomContextMenu)
        self.customContextMenuRequested.connect(self._menu)
        self.doubleClicked.connect(self._activated)
        # status and accuracy as wide as their words: the run's name (and its tags, a second line) get the rest
        self.header().setStretchLastSection(False)
        self.header().setSectionResizeMode(1, QHeaderView.ResizeToContents)
        self.header().setSectionResizeMode(2, QHeaderView.ResizeToContents)
        self.selectionModel().selectionChanged.connect(self._selection_changed)
        model.modelAboutToBeReset.connect(self._keep_selection)
        model.modelReset.connect(self._restore_selection)

    def selected_runs(self) -> list[str]:
        """Selected runs (a selected child stands for its run, a group for its runs), in the explorer's order."""
        out: list[str] = []
        for idx in self.selectionModel().selectedRows(0):
            group = idx.data(GROUP_ROLE)
            for rid in group if group is not None else [idx.data(RUN_ID_ROLE)]:
                if rid is not None and rid not in out:
                    out.append(rid)
        return out

    def select_runs(self, run_ids: list[str]) -> None:
        """Select these runs (their rows) and no other, as clicks would."""
        sm = self.selectionModel()
        sm.clearSelection()
        for idx in self.tree.run_indexes():
            if idx.data(RUN_ID_ROLE) in run_ids:
                sm.select(idx, QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows)
                self.scrollTo(idx)

    def select_run(self, run_id: str) -> None:
        self.select_runs([run_id])

    def select_after_refresh(self, run_ids: list[str]) -> None:
        """Select these runs when the next snapshot arrives (they are not in the tree yet)."""
        self._next = list(run_ids)

    @Slot()
    def _keep_selection(self) -> None:
        self._kept, self._next = self._next or self.selected_runs(), []

    @Slot()
    def _restore_selection(self) -> None:
        flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
        for idx in self.tree.run_indexes():
            if idx.data(RUN_ID_ROLE) in self._kept:
                self.selectionModel().select(idx, flags)
        if self.tree.group_by != "none":
            self.expandToDepth(0)   # a group's runs in view
        if self._kept and not self.selected_runs():  # the selected runs are gone (deleted, filtered out): say so
            self.runs_selected.emit([])
        self.resizeColumnToContents(0)

    @Slot()
    def _selection_changed(self, *_) -> None:
        self.runs_selected.emit(self.selected_runs())

    @Slot(QModelIndex)
    def _activated(self, idx: QModelIndex) -> None:
        if idx.isValid() and idx.parent().isValid() and idx.data(KEY_ROLE) is not None:
            signal = self.result_activated if idx.data(RESULT_ROLE) else self.row_activated
            signal.emit(idx.data(RUN_ID_ROLE), idx.data(KEY_ROLE))

    @Slot(QPoint)
    def _menu(self, pos: QPoint) -> None:
        idx = self.indexAt(pos)
        rid = idx.data(RUN_ID_ROLE) if idx.isValid() else None
        if rid is None:   # (a group's row)
            return
        entry = self.tree.entry(rid)
        m = QMenu(self)
        a_res = m.addAction("Resume")
        a_res.setEnabled(entry is not None and entry.info.status in ("interrupted", "failed"))
        a_att = m.addAction("Attack…")
        a_dup = m.addAction("Duplicate config…")
        a_note = m.addAction("Notes and tags…")
        m.addSeparator()
        a_del = m.addAction("Delete")  # to the project's trash: Edit ▸ Undo restores it, so nothing asks first
        a_del.setShortcut(QKeySequence(Qt.Key_Delete))   # (the key itself is Edit ▸ Move selected runs to the trash)
        chosen = m.exec(self.viewport().mapToGlobal(pos))
        signals = {a_res: (self.resume_requested, rid), a_att: (self.attack_requested, [rid]),
                   a_dup: (self.duplicate_requested, rid), a_note: (self.annotate_requested, rid),
                   a_del: (self.delete_requested, rid)}
        if chosen in signals:
            signal, arg = signals[chosen]
            signal.emit(arg)


class ExplorerPanel(QWidget):
    """The dock's contents: the filter box and the group-by choice above the tree (``explorer``)."""

    def __init__(self, explorer: ProjectExplorer, parent=None) -> None:
        super().__init__(parent)
        self.explorer = explorer
        self.filter = FilterBox("filter: word, tag:x, defense=mfdv, lambda1=0.1")
        self.filter.setToolTip(FILTER_HELP)
        self.group = QComboBox()
        for key, text in GROUPS.items():
            self.group.addItem(text, key)
        self.group.setToolTip("group the runs by their tags, defense, backbone or data set")
        self.filter.textChanged.connect(self._changed)
        self.group.currentIndexChanged.connect(self._changed)
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.filter, 1)
        top.addWidget(self.group)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addLayout(top)
        lay.addWidget(explorer, 1)

    @Slot()
    def _changed(self, *_) -> None:
        self.explorer.tree.set_view(self.filter.text().strip(), self.group.currentData())
