"""The project explorer's tree model: runs → their robustness rows and stored results, filled from the
reader's :class:`~mfdv_studio.reads.Snapshot`, filtered and optionally grouped (:mod:`.runfilter`).

Like silx's HDF5 tree model, but over what the project *means* rather than its groups: a row per
run (name and its tags, status, clean accuracy), below it one row per robustness row and per stored result;
with a "group by", the runs sit under a row per group. An index's ``internalId`` says where it is:
0 at the top (a run, or a group), ``1 + g`` for a run in group ``g``, ``CHILD + r`` for a child of
the ``r``-th listed run.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QObject, Qt
from PySide6.QtGui import QBrush, QColor, QFont

from mfdv_engine.defaults import eps_text
from mfdv_engine.safetext import printable  # run names, messages and row fields come from the project file

from .reads import RunEntry, Snapshot
from .runfilter import group_of, matches

HEADERS = ["run", "status", "clean acc"]
STATUS_COLORS = {"running": "#1f77b4", "finished": "#2ca02c", "interrupted": "#ff7f0e", "failed": "#d62728"}
RUN_ID_ROLE = Qt.UserRole        # a run's and its children's index: the run's id (a group's: None)
KEY_ROLE = Qt.UserRole + 1       # a robustness row's key; a stored result's name
RESULT_ROLE = Qt.UserRole + 2    # True for a stored result's row
GROUP_ROLE = Qt.UserRole + 3     # a group's index: the run ids under it
CHILD = 1 << 30


def _short(text: str, most: int = 40) -> str:
    """A tags cell no wider than ``most`` characters (the tooltip lists them all)."""
    return text if len(text) <= most else text[:most - 1] + "…"


def _pct(v: Any) -> str:
    return "" if v is None else f"{v:.2%}"


def _children(e: RunEntry) -> list[dict[str, Any]]:
    """The child rows under a run: (cells, tooltip, key) per robustness row, then per stored result."""
    out = []
    for r in e.rows:
        eps = r.get("eps")
        out.append({"cells": (f"{r.get('attack', '?')} · {r.get('gradient', '')}",
                              "" if eps is None else f"ε={eps_text(eps, r.get('norm', 'Linf'))}",
                              _pct(r.get("robust_acc"))),
                    "tip": r.get("protocol") or r["key"], "key": r["key"], "result": False})
    for name, meta in e.results:
        items = meta.get("items") or []
        passed = f"{sum(bool(i.get('passed')) for i in items)}/{len(items)} pass" if items else ""
        out.append({"cells": (name, "stored result", passed), "tip": f"double-click to show the stored {name}",
                    "key": name, "result": True})
    return out


class ProjectTreeModel(QAbstractItemModel):
    """Runs (grouped or not) and, below each, its rows and results; read-only."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._all: list[RunEntry] = []                 # every run of the snapshot
        self._entries: list[RunEntry] = []             # the runs listed (filtered, in group order)
        self._kids: list[list[dict[str, Any]]] = []
        self._groups: list[tuple[str, list[int]]] | None = None   # (label, listed run positions)
        self._live: str | None = None
        self.query, self.group_by = "", "none"

    # ---------------------------------------------------------------- filling
    def set_snapshot(self, snap: Snapshot) -> None:
        """Show ``snap``; the same runs listed the same way as before update in place (selection and
        expansion stay)."""
        self._all = list(snap.entries)
        entries, groups = self._layout()
        if [e.info.run_id for e in entries] != [e.info.run_id for e in self._entries] or \
                [(g, len(m)) for g, m in groups or []] != [(g, len(m)) for g, m in self._groups or []] or \
                (groups is None) != (self._groups is None):
            self._reset(entries, groups)
            return
        for i, e in enumerate(entries):
            kids = _children(e)
            if kids != self._kids[i]:
                self._replace_children(i, kids)
            self._entries[i] = e
        self._changed_runs()

    def set_view(self, query: str, group_by: str) -> None:
        """Filter the runs (:func:`~.runfilter.matches`) and group them (``none``, ``tag``, ``defense``, …)."""
        self.query, self.group_by = query, group_by
        self._reset(*self._layout())

    def _layout(self) -> tuple[list[RunEntry], list[tuple[str, list[int]]] | None]:
        shown = [e for e in self._all if matches(e.info, self.query)]
        if self.group_by == "none":
            return shown, None
        labels: dict[str, list[RunEntry]] = {}
        for e in shown:
            labels.setdefault(group_of(e.info, self.group_by) or "", []).append(e)
        entries, groups = [], []
        for label in sorted(labels, key=str.lower):
            groups.append((label, list(range(len(entries), len(entries) + len(labels[label])))))
            entries += labels[label]
        return entries, groups

    def _reset(self, entries: list[RunEntry], groups) -> None:
        self.beginResetModel()
        self._entries, self._groups = entries, groups
        self._kids = [_children(e) for e in entries]
        self.endResetModel()

    def _replace_children(self, r: int, kids: list[dict[str, Any]]) -> None:
        parent = self.run_index(r)
        if self._kids[r]:
            self.beginRemoveRows(parent, 0, len(self._kids[r]) - 1)
            self._kids[r] = []
            self.endRemoveRows()
        if kids:
            self.beginInsertRows(parent, 0, len(kids) - 1)
            self._kids[r] = kids
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
        for r in range(len(self._entries)):
            self.dataChanged.emit(self.run_index(r, 0), self.run_index(r, len(HEADERS) - 1))

    def entry(self, run_id: str) -> RunEntry | None:
        return next((e for e in self._entries + self._all if e.info.run_id == run_id), None)

    def tags(self) -> list[str]:
        """Every tag of the project's runs (listed or not), sorted."""
        return sorted({t for e in self._all for t in e.info.tags}, key=str.lower)

    # ---------------------------------------------------------------- where a run sits
    def run_index(self, r: int, column: int = 0) -> QModelIndex:
        """The index of the ``r``-th listed run."""
        if self._groups is None:
            return self.createIndex(r, column, 0)
        for g, (_, members) in enumerate(self._groups):
            if r in members:
                return self.createIndex(members.index(r), column, 1 + g)
        return QModelIndex()

    def run_indexes(self) -> list[QModelIndex]:
        return [self.run_index(r) for r in range(len(self._entries))]

    def _run_of(self, index: QModelIndex) -> int | None:
        """The listed run position an index stands for (None: a group, or a child)."""
        iid = int(index.internalId())
        if iid == 0:
            return None if self._groups is not None else index.row()
        if iid < CHILD:
            return self._groups[iid - 1][1][index.row()]
        return None

    # ---------------------------------------------------------------- QAbstractItemModel
    def index(self, row: int, column: int, parent: QModelIndex = QModelIndex()) -> QModelIndex:
        if not self.hasIndex(row, column, parent):
            return QModelIndex()
        if not parent.isValid():
            return self.createIndex(row, column, 0)
        if parent.internalId() == 0 and self._groups is not None:
            return self.createIndex(row, column, 1 + parent.row())
        return self.createIndex(row, column, CHILD + self._run_of(parent))

    def parent(self, index: QModelIndex | None = None):  # noqa: D102 (also QObject.parent() without arguments)
        if index is None:
            return QObject.parent(self)
        if not index.isValid() or index.internalId() == 0:
            return QModelIndex()
        iid = int(index.internalId())
        if iid < CHILD:
            return self.createIndex(iid - 1, 0, 0)
        return self.run_index(iid - CHILD)

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802 (Qt)
        if not parent.isValid():
            return len(self._entries) if self._groups is None else len(self._groups)
        if parent.column() != 0 or parent.internalId() >= CHILD:
            return 0
        if parent.internalId() == 0 and self._groups is not None:
            return len(self._groups[parent.row()][1])
        return len(self._kids[self._run_of(parent)])

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
        iid = int(index.internalId())
        if iid >= CHILD:
            return self._child_data(iid - CHILD, index, role)
        r = self._run_of(index)
        if r is None:
            return self._group_data(*self._groups[index.row()], index.column(), role)
        return self._run_data(self._entries[r], index.column(), role)

    def _child_data(self, r: int, index: QModelIndex, role: int):
        kid = self._kids[r][index.row()]
        if role == Qt.DisplayRole:
            return printable(kid["cells"][index.column()])
        if role == Qt.ToolTipRole:
            return printable(kid["tip"], multiline=True)
        return {RUN_ID_ROLE: self._entries[r].info.run_id, KEY_ROLE: kid["key"], RESULT_ROLE: kid["result"]}.get(role)

    def _group_data(self, label: str, members: list[int], column: int, role: int):
        if role == Qt.DisplayRole and column == 0:
            return printable(f"{label} ({len(members)} run{'s' if len(members) != 1 else ''})")
        if role == Qt.FontRole:
            f = QFont()
            f.setBold(True)
            return f
        if role == GROUP_ROLE:
            return [self._entries[m].info.run_id for m in members]
        return None

    def _run_data(self, e: RunEntry, column: int, role: int):
        info = e.info
        status = "running" if info.run_id == self._live else info.status
        if role == Qt.DisplayRole:   # the tags on a second line: they take no width from status and accuracy
            tags = f"\ntags: {_short(', '.join(info.tags))}" if info.tags and column == 0 else ""
            return printable((f"{info.name} ({info.run_id})", status, _pct(info.final.get("clean_acc")))[column]) + \
                printable(tags, multiline=True)
        if role == Qt.ToolTipRole:
            notes = (f"\ntags: {', '.join(info.tags)}" if info.tags else "") + (f"\n\nnotes: {info.notes}" if info.notes else "")
            tips = ((info.message or info.status) + notes, e.error or info.message or status,
                    info.final.get("clean_acc_protocol", ""))
            return printable(tips[column], multiline=True)
        if role == Qt.ForegroundRole and column == 1:
            return QBrush(QColor(STATUS_COLORS.get(status, "#000")))
        return info.run_id if role == RUN_ID_ROLE else None
