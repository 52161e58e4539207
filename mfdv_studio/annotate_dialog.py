"""A run's notes and tags, edited in a small dialog (the window stores them with a job: ``mfdv.annotate``)."""
from __future__ import annotations

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit, QPlainTextEdit

from mfdv_engine.errors import MfdvError
from mfdv_engine.safetext import printable  # a run's name, notes and tags come from the project file
from mfdv_engine.project.records import check_annotation


def split_tags(text: str) -> list[str]:
    """``"baseline, cifar"`` → ``["baseline", "cifar"]`` (blanks and repeats dropped)."""
    return list(dict.fromkeys(t.strip() for t in text.split(",") if t.strip()))


class AnnotateDialog(QDialog):
    """Tags (comma-separated) and notes of one run; OK only once the engine's rule accepts them."""

    def __init__(self, run_label: str, notes: str, tags: list[str], known_tags: list[str] = (), parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle(printable(f"Notes and tags of {run_label}"))
        self.resize(520, 360)
        self.tags_edit = QLineEdit(", ".join(printable(t) for t in tags))
        self.tags_edit.setPlaceholderText("e.g. baseline, cifar, lr-sweep")
        if known_tags:
            self.tags_edit.setToolTip(printable("tags in this project: " + ", ".join(known_tags), multiline=True))
        self.notes_edit = QPlainTextEdit(printable(notes, multiline=True))
        self.notes_edit.setPlaceholderText("what this run is for, what you saw, what to try next…")
        self.error = QLabel("")
        self.error.setTextFormat(Qt.PlainText)
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #b00020")
        self.buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Tags", self.tags_edit)
        form.addRow("Notes", self.notes_edit)
        form.addRow(self.error)
        form.addRow(self.buttons)
        self.tags_edit.textChanged.connect(self._check)
        self.notes_edit.textChanged.connect(self._check)
        self._check()

    def tags(self) -> list[str]:
        return split_tags(self.tags_edit.text())

    def notes(self) -> str:
        return self.notes_edit.toPlainText()

    @Slot()
    def _check(self) -> None:
        try:
            check_annotation(self.notes(), self.tags())
            self.error.setText("")
        except MfdvError as e:
            self.error.setText(printable(e))
        self.buttons.button(QDialogButtonBox.Ok).setEnabled(not self.error.text())
