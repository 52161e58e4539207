"""The obfuscated-gradient checklist: PASS/FLAG per check, each title and its evidence in a tooltip,
and the selected check read in full in a detail pane beside the list (a column elides long text)."""
from __future__ import annotations

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QHeaderView, QPlainTextEdit, QSplitter, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from mfdv_engine.safetext import printable  # titles and evidence come from the project file

DETAIL_ROLE = Qt.UserRole
HINT = "select a check to read its title and evidence in full"


def detail_text(item: dict) -> str:
    """What the detail pane says about one check: verdict, title, evidence and its numbers."""
    lines = [f"{'PASS' if item.get('passed') else 'FLAG'}: {item.get('title', '')}", "", str(item.get("evidence", ""))]
    numbers = item.get("numbers") or {}
    if numbers:
        lines += ["", "numbers (accuracies as percentages, counts as counts):"] + [
            f"  {k}: {_number(v)}" for k, v in numbers.items()]
    return "\n".join(lines)


def _number(v) -> str:
    """A stored accuracy (a fraction, float) as a percentage as the table shows it; a count as is."""
    return f"{v:.1%}" if isinstance(v, float) else str(v)


class ChecklistPane(QWidget):
    """``tree`` lists the checks; ``detail`` shows the selected one."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["", "check", "evidence"])
        self.tree.setRootIsDecorated(False)
        self.tree.setWordWrap(True)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeToContents)
        self.tree.header().setSectionResizeMode(1, QHeaderView.Interactive)
        self.tree.setColumnWidth(1, 330)
        self.tree.currentItemChanged.connect(self._show_detail)
        self.detail = QPlainTextEdit()
        self.detail.setReadOnly(True)
        self.detail.setPlaceholderText(HINT)
        split = QSplitter(Qt.Horizontal)
        split.addWidget(self.tree)
        split.addWidget(self.detail)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split)

    def clear(self) -> None:
        self.tree.clear()
        self.detail.clear()

    def set_items(self, run_label: str, items: list[dict]) -> None:
        self.clear()
        head = QTreeWidgetItem(["", printable(f"checklist of {run_label}"), ""])
        self.tree.addTopLevelItem(head)
        for it in items:
            passed = bool(it.get("passed"))
            w = QTreeWidgetItem(["PASS" if passed else "FLAG", printable(it.get("title", "")),
                                 printable(it.get("evidence", ""))])
            w.setBackground(0, QColor("#c8f0c8" if passed else "#ffd59e"))
            w.setForeground(0, QColor("#145214" if passed else "#8a4b00"))
            text = printable(detail_text(it), multiline=True)
            for col in range(3):
                w.setToolTip(col, text)
            w.setData(0, DETAIL_ROLE, text)
            self.tree.addTopLevelItem(w)

    @Slot(QTreeWidgetItem, QTreeWidgetItem)
    def _show_detail(self, cur: QTreeWidgetItem | None, _prev=None) -> None:
        text = cur.data(0, DETAIL_ROLE) if cur is not None else None
        self.detail.setPlainText(text or "")
